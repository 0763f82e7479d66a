"""The lab's senders: paced or as-fast-as-possible probe publishing over data messages and data tracks.

Both pace on an absolute schedule (a late wake-up does not push every later probe back) and count what they did in
a `SendCounters`, which the run turns into its row.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from livekit import rtc
from livekit.rtc.participant import PublishDataError

from ..errors import LabError
from ..session import Session
from .probe import ProbeCodec
from .rig import TOPIC
from .stats import ReceiverStats

__all__ = ["DEFAULT_WINDOW", "SEQUENTIAL_RATE", "SendCounters", "send_data", "send_track"]

DEFAULT_WINDOW = 4
"""Publish calls in flight at once when sending as fast as possible. Every pending call subscribes to all FFI
events, so each costs O(n) per event (and the receiver's events count too when both run in one process): measured
on 2 cores, 4 in flight beat 1 by ~20 % and 16 lose to 4."""
SEQUENTIAL_RATE = 400.0
"""Paced runs up to this rate await one publish at a time: concurrent publish_data calls are handed to SCTP in
no guaranteed order by the SDK (measured: a few reordered reliable messages per thousand under load)."""


@dataclass(slots=True)
class SendCounters:
    """What a sender did during one run."""

    sent: int = 0
    errors: int = 0
    backpressure: int = 0
    """Data-track frames the SDK refused as too fast (retried)."""
    blocked: int = 0
    """Times the reliable sender found its in-flight bound full."""
    held_s: float = 0.0
    """Seconds spent waiting on the in-flight bound (the path, not the client, set the pace then)."""
    first_error: str = ""
    drained: bool = True


async def _wait_turn(start: float, seq: int, rate: float | None, deadline: float) -> bool:
    """Sleep until probe `seq` is due on an absolute schedule at `rate` from `start`; False once the run's
    `deadline` is reached. `rate` None: no pacing."""
    now = time.monotonic()
    if rate is None:
        return now < deadline
    due = start + seq / rate
    if due >= deadline:
        return False
    if due > now:
        await asyncio.sleep(due - now)
    return True


async def send_data(
    session: Session,
    codec: ProbeCodec,
    *,
    reliable: bool,
    rate: float | None,
    deadline: float,
    limit: int,
    window: int,
    counters: SendCounters,
    stats: ReceiverStats,
    max_in_flight: int | None,
) -> None:
    """`window` workers, each awaiting one publish at a time; paced on an absolute schedule when `rate` is set;
    with `max_in_flight`, never more than that many probes sent and not yet received."""
    publish = session.room.local_participant.publish_data
    start = time.monotonic()
    next_seq = 0

    async def worker() -> None:
        nonlocal next_seq
        while True:
            seq = next_seq
            if seq >= limit:
                return
            next_seq += 1
            if not await _wait_turn(start, seq, rate, deadline):
                return
            if max_in_flight is not None and counters.sent - stats.seq.unique >= max_in_flight:
                held = time.monotonic()
                while counters.sent - stats.seq.unique >= max_in_flight:
                    counters.blocked += 1
                    await asyncio.sleep(0.002)
                counters.held_s += time.monotonic() - held
                if time.monotonic() >= deadline:
                    return
            try:
                await publish(codec.encode(seq), reliable=reliable, topic=TOPIC)
            except PublishDataError as exc:
                counters.errors += 1
                counters.first_error = counters.first_error or str(exc)
                continue
            counters.sent += 1

    n = 1 if rate is not None and rate <= SEQUENTIAL_RATE else window
    await asyncio.gather(*(worker() for _ in range(n)))
    if counters.sent == 0 and counters.errors:
        raise LabError(f"the SDK refused every probe: {counters.first_error}")


async def send_track(
    track: rtc.LocalDataTrack,
    codec: ProbeCodec,
    *,
    rate: float | None,
    deadline: float,
    limit: int,
    counters: SendCounters,
) -> None:
    """try_push is synchronous; pace it, and back off briefly when the SDK says frames come too fast."""
    start = time.monotonic()
    seq = 0
    while seq < limit:
        if not await _wait_turn(start, seq, rate, deadline):
            return
        try:
            track.try_push(rtc.DataTrackFrame(payload=codec.encode(seq)))
        except rtc.PushFrameError as exc:
            # The SDK's queue is full: it is the in-flight window. Retry the same sequence number shortly.
            counters.backpressure += 1
            counters.first_error = counters.first_error or exc.message
            if not track.is_published():
                raise LabError(f"the data track was unpublished while sending: {exc.message}") from exc
            await asyncio.sleep(0.001)
            continue
        counters.sent += 1
        seq += 1
        if rate is None and seq % 32 == 0:
            await asyncio.sleep(0)  # let the loop deliver what arrives while we push
