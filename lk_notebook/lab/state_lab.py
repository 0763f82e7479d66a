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
from typing import TYPE_CHECKING

from ..errors import LabError
from ..events import DataKind
from .placement import no_relay_advice
from .propagation import CHANNELS, PROPAGATION_TOPIC, STATE_KEY, change_latency, check_channels
from .relay import Impairment
from .rows import StateRow, frame_of_rows
from .stats import LatencyHistogram

if TYPE_CHECKING:
    import pandas as pd

    from .rig import HasRig, Rig

__all__ = ["STATE_CHANNELS", "measure_state"]

STATE_CHANNELS = CHANNELS


async def measure_state(
    lab: Rig | HasRig,
    *,
    channels: tuple[str, ...] = STATE_CHANNELS,
    repeats: int = 10,
    impairment: Impairment | None = None,
    timeout: float = 10.0,
    presence: int = 0,
) -> pd.DataFrame:
    """Propagation latency per channel (p50/p95/max ms over `repeats` changes) and whether each reaches a
    participant who joins afterwards. One row per channel (`StateRow`); `lab` is a Lab or a Rig. The changes go
    round by round, each channel once per round, so the channels are measured under the same load.

    `presence` > 0 adds rows `join:data_only`, `join:publisher`, `leave:data_only`, `leave:publisher` (kind
    "presence"): how long others take to see a participant arrive or leave, over `presence` joins of each kind
    (`lk_notebook.lab.presence`; a data-only participant waits for the server's 3 s batch)."""
    from .rig import rig_of

    rig = rig_of(lab)
    check_channels(channels)
    if repeats < 1:
        raise LabError(f"repeats must be >= 1, got {repeats}")
    if impairment is not None and impairment.active and not rig.relay_available:
        raise LabError(no_relay_advice())
    await rig.start()
    sender = rig.sender
    assert sender is not None
    tag = secrets.token_hex(3)
    last: dict[str, str] = {}
    hists = {c: LatencyHistogram() for c in channels}
    async with rig.window(impairment) as w:
        # Round by round, every channel once per round: a busy moment of the host then slows all channels alike,
        # where channel after channel let it fall on one (notebook 05 and the tests compare their p50s).
        for i in range(repeats):
            for channel in channels:
                value = f"{tag}-{i}"
                ns = await change_latency(rig, sender.admin, channel, value, timeout=timeout)
                if ns is not None:
                    hists[channel].record(ns)
                last[channel] = value
        # only data messages cross the relay (attributes and metadata travel over the signal WebSocket)
        w.sent = repeats if "data" in channels else 0
    late = await _late_joiner(rig, sender.identity, last)
    label = (impairment or Impairment()).label()
    rows = [_row(c, "message" if c == "data" else "state", repeats, hists[c], late.get(c, False), label)
            for c in channels]  # fmt: skip
    if presence > 0:
        rows.extend(await _presence_rows(rig, presence, timeout))
    return frame_of_rows(rows)


def _row(channel: str, kind: str, changes: int, h: LatencyHistogram, late: bool, impairment: str) -> StateRow:
    return {
        "channel": channel,
        "kind": kind,
        "changes": changes,
        "timeouts": changes - h.count,
        "latency_p50_ms": h.percentile(50),
        "latency_p95_ms": h.percentile(95),
        "latency_max_ms": h.max_ns / 1e6 if h.count else math.nan,
        "reaches_late_joiner": late,
        "impairment": impairment,
    }


async def _presence_rows(rig: Rig, repeats: int, timeout: float) -> list[StateRow]:
    from .presence import PRESENCE_KINDS, measure_presence

    joins = await measure_presence(rig, repeats=repeats, timeout=timeout)
    rows: list[StateRow] = []
    for event in ("join", "leave"):
        for kind in PRESENCE_KINDS:
            h = LatencyHistogram()
            for ms in joins[joins["kind"] == kind][f"{event}_visible_ms"]:
                if ms == ms:  # not NaN
                    h.record(int(ms * 1e6))
            rows.append(_row(f"{event}:{kind}", "presence", repeats, h, False, "none"))
    return rows


async def _late_joiner(rig: Rig, sender: str, last: dict[str, str]) -> dict[str, bool]:
    """Join a third participant now; which channels' last values does it have (data: did any message arrive)?"""
    got_data = False
    late = await rig.join(f"lab-late-{secrets.token_hex(3)}")
    try:

        def on_data(payload: bytes, who: str | None, kind: DataKind, at: float) -> None:
            nonlocal got_data
            got_data = True

        late.add_raw_handler(PROPAGATION_TOPIC, on_data)
        await asyncio.sleep(0.5)  # anything buffered for a joiner would have arrived by now
        p = late.state.get(sender)
        out = {
            "attributes": p is not None and p.attributes.get(STATE_KEY) == last.get("attributes"),
            "metadata": p is not None and p.metadata == last.get("metadata"),
            "room_metadata": late.state.room_metadata == last.get("room_metadata"),
            "data": got_data,
        }
        return {k: v for k, v in out.items() if k in last}
    finally:
        await rig.leave(late)
