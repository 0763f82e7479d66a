"""Message or state? How long a change takes to reach another participant, per channel, and who sees it later.

Channels measured, each `repeats` times, sender -> receiver in the lab's room:

- `attributes`: the sender's participant attributes (`set_attributes`), seen in the receiver's RoomState;
- `metadata`: the sender's participant metadata (`set_metadata`);
- `room_metadata`: the room's metadata through the server API (`UpdateRoomMetadata`);
- `data`: a reliable data message.

Then a late joiner enters the room: state channels reach it (it sees the last value on join), messages do not.

Example::

    async with Lab() as lab:
        frame = await measure_state(lab, repeats=20)
    frame[["channel", "latency_p50_ms", "latency_p95_ms", "reaches_late_joiner"]]
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import LabError
from ..events import DataKind
from ..session import Session
from .relay import Impairment
from .stats import LatencyHistogram

if TYPE_CHECKING:
    import pandas as pd

    from .rig import Rig

__all__ = ["STATE_CHANNELS", "measure_state"]

STATE_CHANNELS = ("attributes", "metadata", "room_metadata", "data")
_TOPIC = "lk_notebook.lab.state"
_KEY = "lk_lab_seq"


async def measure_state(
    lab: Rig,
    *,
    channels: tuple[str, ...] = STATE_CHANNELS,
    repeats: int = 10,
    impairment: Impairment | None = None,
    timeout: float = 10.0,
    presence: int = 0,
) -> pd.DataFrame:
    """Propagation latency per channel (p50/p95/max ms over `repeats` changes) and whether each reaches a
    participant who joins afterwards. One row per channel.

    `presence` > 0 adds rows `join:data_only`, `join:publisher`, `leave:data_only`, `leave:publisher` (kind
    "presence"): how long others take to see a participant arrive or leave, over `presence` joins of each kind
    (`lk_notebook.lab.presence`; a data-only participant waits for the server's 3 s batch)."""
    import pandas as pd

    unknown = [c for c in channels if c not in STATE_CHANNELS]
    if unknown:
        raise LabError(f"unknown state channel(s) {unknown}: use some of {', '.join(STATE_CHANNELS)}")
    if repeats < 1:
        raise LabError(f"repeats must be >= 1, got {repeats}")
    if impairment is not None and impairment.active and not lab.relay_available:
        raise LabError(
            "impairment needs the lab's relay in front of a local server; this lab runs against a remote server. "
            "Drop the impairment, or use a lab on a LocalServer(relay=True)."
        )
    await lab.start()
    sender, receiver = lab.sender, lab.receiver
    assert sender is not None and receiver is not None
    tag = secrets.token_hex(3)
    last: dict[str, str] = {}
    hists = {c: LatencyHistogram() for c in channels}
    timeouts = dict.fromkeys(channels, 0)
    if lab.relay is not None and impairment is not None:
        lab.relay.set_impairment(impairment)
    try:
        for channel in channels:
            for i in range(repeats):
                value = f"{tag}-{i}"
                ns = await _one(channel, value, sender, receiver, lab.room_name, timeout)
                if ns is None:
                    timeouts[channel] += 1
                else:
                    hists[channel].record(ns)
                last[channel] = value
    finally:
        if lab.relay is not None:
            lab.relay.clear()
    late = await _late_joiner(lab, sender.identity, last)
    rows: list[dict[str, Any]] = []
    for c in channels:
        h = hists[c]
        rows.append(
            {
                "channel": c,
                "kind": "message" if c == "data" else "state",
                "changes": repeats,
                "timeouts": timeouts[c],
                "latency_p50_ms": h.percentile(50),
                "latency_p95_ms": h.percentile(95),
                "latency_max_ms": h.max_ns / 1e6 if h.count else math.nan,
                "reaches_late_joiner": late.get(c, False),
                "impairment": (impairment or Impairment()).label(),
            }
        )
    if presence > 0:
        rows.extend(await _presence_rows(lab, presence, timeout))
    frame: pd.DataFrame = pd.DataFrame(rows)
    return frame


async def _presence_rows(lab: Rig, repeats: int, timeout: float) -> list[dict[str, Any]]:
    from .presence import PRESENCE_KINDS, measure_presence

    joins = await measure_presence(lab, repeats=repeats, timeout=timeout)
    rows: list[dict[str, Any]] = []
    for event in ("join", "leave"):
        for kind in PRESENCE_KINDS:
            h = LatencyHistogram()
            for ms in joins[joins["kind"] == kind][f"{event}_visible_ms"]:
                if ms == ms:  # not NaN
                    h.record(int(ms * 1e6))
            rows.append({"channel": f"{event}:{kind}", "kind": "presence", "changes": repeats,
                         "timeouts": repeats - h.count, "latency_p50_ms": h.percentile(50),
                         "latency_p95_ms": h.percentile(95), "latency_max_ms": h.max_ns / 1e6 if h.count else math.nan,
                         "reaches_late_joiner": False, "impairment": "none"})  # fmt: skip
    return rows


async def _one(channel: str, value: str, sender: Session, receiver: Session, room: str, timeout: float) -> int | None:
    """Nanoseconds from the call to the receiver seeing `value` on `channel` (None on timeout)."""
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()
    ident = sender.identity

    def arrived(ok: bool) -> None:
        if ok and not seen.done():
            seen.set_result(time.monotonic_ns())

    remove: Callable[[], None]
    if channel == "data":

        def on_data(payload: bytes, who: str, kind: DataKind, at: float) -> None:
            arrived(who == ident and payload == value.encode())

        remove = receiver.add_raw_handler(_TOPIC, on_data)
    else:

        def on_change(_: object) -> None:
            state = receiver.state
            p = state.get(ident)
            if channel == "attributes":
                arrived(p is not None and p.attributes.get(_KEY) == value)
            elif channel == "metadata":
                arrived(p is not None and p.metadata == value)
            else:
                arrived(state.room_metadata == value)

        remove = receiver.state.subscribe(on_change)
    try:
        t0 = time.monotonic_ns()
        if channel == "attributes":
            await sender.set_attributes({_KEY: value}, confirm=False)
        elif channel == "metadata":
            await sender.set_metadata(value, confirm=False)
        elif channel == "room_metadata":
            await sender.admin.update_room_metadata(room, value)
        else:
            await sender.room.local_participant.publish_data(value.encode(), reliable=True, topic=_TOPIC)
        try:
            t1 = await asyncio.wait_for(seen, timeout)
        except asyncio.TimeoutError:
            return None
        return t1 - t0
    finally:
        remove()


async def _late_joiner(lab: Rig, sender: str, last: dict[str, str]) -> dict[str, bool]:
    """Join a third participant now; which channels' last values does it have (data: did any message arrive)?"""
    got_data = False
    late = await lab.join(f"lab-late-{secrets.token_hex(3)}")
    try:

        def on_data(payload: bytes, who: str, kind: DataKind, at: float) -> None:
            nonlocal got_data
            got_data = True

        late.add_raw_handler(_TOPIC, on_data)
        await asyncio.sleep(0.5)  # anything buffered for a joiner would have arrived by now
        p = late.state.get(sender)
        out = {
            "attributes": p is not None and p.attributes.get(_KEY) == last.get("attributes"),
            "metadata": p is not None and p.metadata == last.get("metadata"),
            "room_metadata": late.state.room_metadata == last.get("room_metadata"),
            "data": got_data,
        }
        return {k: v for k, v in out.items() if k in last}
    finally:
        await lab.leave(late)
