"""When do the others see you arrive and leave? Join and leave visibility, data-only vs track publisher.

livekit-server (v1.13.5, `pkg/rtc/room.go`) sends the joins and leaves of participants that publish no media
track in a batch on a timer (`subscriberUpdateInterval`, 3 s), while a participant that publishes a track is
announced with its track at once. This measures it: a fresh participant joins the rig's room (data-only, or
publishing a silent audio track right after joining), the rig's receiver watches its RoomState, and the lab times

- `join_visible_ms`: from the joiner's `join()` returning to the receiver seeing it in the room;
- `leave_visible_ms`: from the joiner's `leave()` starting to the receiver seeing it gone;
- `data_before_visible`: whether a reliable message the joiner sent right after joining reached the receiver
  before the join did (a message from someone not yet in the room: "message or state?");
- `data_sender`: who the receiver was told sent it. The Python SDK names a message's sender from the room's
  participant list, so a message from a participant not yet announced comes with no participant: None (the
  server API and hidden participants look the same; see `Message.sender`).

Data-only joins are phase-aligned with the server's batch (each starts right after one went out), so each waits
nearly a whole interval; a join at a random moment waits half of one on average.

Example::

    async with Lab() as lab:
        frame = await measure_presence(lab, repeats=3)
    frame.groupby("kind")[["join_visible_ms", "leave_visible_ms"]].mean()
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from typing import TYPE_CHECKING

from livekit import rtc

from ..errors import LabError
from ..events import DataKind
from .rig import HasRig, Rig, rig_of
from .rows import PresenceRow, frame_of_rows

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["PRESENCE_KINDS", "measure_presence"]

PRESENCE_KINDS = ("data_only", "publisher")
_TOPIC = "lk_notebook.lab.presence"


async def _publish_silent_track(room: rtc.Room) -> None:
    source = rtc.AudioSource(48_000, 1)
    track = rtc.LocalAudioTrack.create_audio_track("lab-presence", source)
    options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
    await room.local_participant.publish_track(track, options)


async def _one(rig: Rig, kind: str, identity: str, timeout: float) -> PresenceRow:
    observer = rig.receiver
    assert observer is not None
    seen: dict[str, int] = {}
    leaving = False
    data_at = 0
    data_from: str | None = None

    def on_change(_: object) -> None:
        present = observer.state.get(identity) is not None
        now = time.monotonic_ns()
        if present and "join" not in seen:
            seen["join"] = now
        elif not present and leaving and "leave" not in seen:
            seen["leave"] = now

    def on_data(payload: bytes, who: str | None, k: DataKind, at: float) -> None:
        nonlocal data_at, data_from
        # Matched by payload: before the join is announced the SDK cannot name the sender (see data_sender)
        if payload == identity.encode() and not data_at:
            data_at, data_from = time.monotonic_ns(), who

    unsubscribe = observer.state.subscribe(on_change)
    remove = observer.add_raw_handler(_TOPIC, on_data)
    try:
        session = await rig.join(identity)
        joined = time.monotonic_ns()
        on_change(None)  # already there (a state event that ran before join() returned)
        if kind == "publisher":
            await _publish_silent_track(session.room)
        await session.room.local_participant.publish_data(identity.encode(), reliable=True, topic=_TOPIC)
        if not await observer.wait_for(lambda s: s.get(identity) is not None, timeout=timeout):
            raise LabError(f"the receiver never saw {identity!r} join within {timeout:g} s")
        await asyncio.sleep(0.2)  # let the message (if still behind the join) arrive
        leaving = True
        left = time.monotonic_ns()
        await rig.leave(session)
        if not await observer.wait_for(lambda s: s.get(identity) is None, timeout=timeout):
            raise LabError(f"the receiver still saw {identity!r} {timeout:g} s after it left")
        on_change(None)
    finally:
        unsubscribe()
        remove()
    return {
        "kind": kind,
        "identity": identity,
        "join_visible_ms": (seen["join"] - joined) / 1e6,
        "leave_visible_ms": (seen["leave"] - left) / 1e6 if "leave" in seen else math.nan,
        "data_arrived": bool(data_at),
        "data_before_visible": bool(data_at) and data_at < seen["join"],
        "data_sender": data_from,
    }


async def _align_to_batch(rig: Rig, identity: str, timeout: float) -> None:
    """Return just after the server sent a batch of joins: a data-only participant is seen exactly then.

    Each later data-only join in `measure_presence` also starts right after a batch (the previous data-only
    participant's leave, then a publisher's quick join and leave), so every data-only join waits for nearly a whole
    interval: the measurement shows the interval, not a random phase of it (a join at a random moment waits half
    an interval on average)."""
    observer = rig.receiver
    assert observer is not None
    session = await rig.join(identity)
    try:
        if not await observer.wait_for(lambda s: s.get(identity) is not None, timeout=timeout):
            raise LabError(f"the receiver never saw {identity!r} join within {timeout:g} s")
    finally:
        await rig.leave(session)


async def measure_presence(
    lab: Rig | HasRig, *, kinds: tuple[str, ...] = PRESENCE_KINDS, repeats: int = 3, timeout: float = 10.0
) -> pd.DataFrame:
    """Join and leave visibility per kind of participant; one `PresenceRow` per join (see the module docstring).
    `lab` is a Lab or a Rig."""
    rig = rig_of(lab)
    unknown = [k for k in kinds if k not in PRESENCE_KINDS]
    if unknown:
        raise LabError(f"unknown participant kind(s) {unknown}: use some of {', '.join(PRESENCE_KINDS)}")
    if repeats < 1:
        raise LabError(f"repeats must be >= 1, got {repeats}")
    await rig.start()
    tag = secrets.token_hex(3)
    if "data_only" in kinds:
        await _align_to_batch(rig, f"lab-presence-align-{tag}", timeout)
    rows: list[PresenceRow] = []
    for i in range(repeats):
        for kind in kinds:  # interleaved, so that load and the server's timer phase hit both kinds alike
            rows.append(await _one(rig, kind, f"lab-presence-{kind}-{tag}-{i}", timeout))
    return frame_of_rows(rows)
