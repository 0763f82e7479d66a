"""Proof of the path: every selected ICE pair of a participant ends at the impairment relay.

Impaired results are only reported when this holds (and, in a measurement window, when the run's datagrams were
counted by the relay too: `lk_notebook.lab.window`).
"""

from __future__ import annotations

from typing import Any

from ..errors import LabError
from ..session import Session
from .relay import ImpairmentRelay

__all__ = ["PathError", "check_path"]


class PathError(LabError):
    """Traffic does not cross the impairment relay, so impaired results would be false."""


async def check_path(session: Session, relay: ImpairmentRelay) -> str:
    """Prove from the SDK's RTC stats that every selected ICE pair of `session` ends at the relay.

    Returns a description of the path. Raises PathError when a transport's selected pair bypasses it.
    """
    try:
        stats = await session.room.get_rtc_stats()
    except RuntimeError as exc:
        raise PathError(f"cannot read RTC stats of {session.identity!r} to check the path: {exc}") from exc
    host, port = relay.address
    checked = []
    for group in (stats.publisher_stats, stats.subscriber_stats):
        # Each stat is a oneof; its member holds `rtc` (the id) and a same-named body, e.g. s.transport.transport.
        by_id: dict[str, Any] = {}
        for s in group:
            kind = s.WhichOneof("stats")
            if kind is not None:
                member = getattr(s, kind)
                by_id[member.rtc.id] = (kind, member)
        for kind, member in list(by_id.values()):
            if kind != "transport":
                continue
            pair_id = member.transport.selected_candidate_pair_id
            if not pair_id:
                continue
            pair = by_id.get(pair_id)
            if pair is None or pair[0] != "candidate_pair":
                continue
            remote = by_id.get(pair[1].candidate_pair.remote_candidate_id)
            if remote is None or remote[0] != "remote_candidate":
                continue
            cand = remote[1].candidate
            where = f"{cand.address}:{cand.port}/{cand.protocol}"
            if (cand.address, cand.port, cand.protocol) != (host, port, "udp"):
                raise PathError(
                    f"traffic of {session.identity!r} bypasses the relay: its selected ICE pair ends at {where}, "
                    f"the relay listens on {host}:{port}/udp. Impaired results would be false, so none are reported. "
                    f"Use a server started with LocalServer(relay=True) and the relay on its relay_layout."
                )
            checked.append(where)
    if not checked:
        raise PathError(f"no selected ICE pair in the RTC stats of {session.identity!r}; cannot prove the path")
    return f"relay {host}:{port} ({len(checked)} transports)"
