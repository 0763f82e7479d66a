"""The packet run kind (lossy, reliable, data track) on a rig: the probe codec, the receiver's statistics, the send
counters, the clock, the row.

A `Run` borrows a started `Rig`: in the rig's measurement window (`Rig.window`: path checks, impairment, relay
counters, client evidence, the relay proof) it installs its `Recorder` as the rig's sink, sends, drains, and builds
the `ResultRow`. Nothing of it outlives the run, so the next run (or another
kind of run on the same rig) starts clean.

Example::

    rig = await Rig(server=LocalServer(relay=True)).start()
    spec = RunSpec(Mode.LOSSY, size=200, rate=500, duration=2, count=None, impairment=NO_IMPAIRMENT)
    result = await Run(rig, spec).execute()
    result.row["loss_rate"], result.row["bound"]
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypedDict

from livekit import rtc

from ..errors import LabError
from .calibration import ClientEvidence
from .columns import delivery_columns, evidence_columns, latency_columns, settings_columns
from .droplog import DATA_DATAGRAM_BYTES, DOWN, UP, DropLog, lost_deliveries
from .pacing import DEFAULT_WINDOW, SendCounters, send_data, send_track
from .probe import CLOCK_ID, HEADER_SIZE, Mode, ProbeClock, ProbeCodec, new_run_id, unpack_fast
from .relay import RelayStats
from .rig import TOPIC, Rig
from .rows import NO_SERVER_LOG, SERIES_COLUMNS, RelayColumns, ResultRow, SeriesRow, WorkerColumns
from .serverlog import count_data_track_drops
from .spec import RunSpec
from .stats import ReceiverStats
from .theory import datagrams_per_message, expected_loss, expected_loss_legs, smallest_fragment

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["MAX_IN_FLIGHT_BYTES", "LiveSample", "Recorder", "Run", "RunResult"]

log = logging.getLogger("lk_notebook.lab")

_IN_PROCESS: WorkerColumns = {}
"""No Dask worker: the run is in this process (`lk_notebook.lab.dask_lab` fills these columns)."""

WIRE_OVERHEAD = 57
"""Bytes a datagram adds to an SCTP packet's user data: SCTP common + DATA chunk headers (28) and DTLS (~29)."""
COUNTABLE_FRAGMENT = 183
"""The relay's data counts are per message only when every fragment of it makes a datagram of >= 240 B (user
bytes >= 183): 40 B clear of the 200 B line. A 1200 B probe's last fragment (146 B, a ~203 B datagram) is not:
measured, the relay counted 1.11 datagrams per message for its 2."""
MAX_IN_FLIGHT_BYTES = 128 * 1024
"""Reliable probe bytes sent but not yet received, at most (and at most 512 probes, at least 4).

publish_data returns once SCTP has the message, so without an end-to-end bound a sender faster than the path
(under loss SCTP's congestion window shrinks to a few packets) piles up seconds of backlog that outlives the run
and congests the next one. The receiver is in this process, so the lab knows what is in flight; lossy probes are
not bounded this way (a lost one never arrives)."""


@dataclass(frozen=True, slots=True)
class LiveSample:
    """Progress of a running measurement, for live plots (taken a few times a second)."""

    mode: str
    """Mode of the run."""
    t: float
    """Seconds since the run started."""
    sent: int
    """Probes handed to the SDK so far."""
    received: int
    """Distinct probes received so far."""
    msgs_s: float
    """Goodput over the last sample interval, messages/s."""
    bytes_s: float
    """Goodput over the last sample interval, bytes/s."""


@dataclass(slots=True)
class RunResult:
    """One measurement: a tidy row, the goodput time series, and the latency histogram behind the percentiles."""

    row: ResultRow
    """Mode, size, rate, impairment settings, counts, loss, throughput, latency percentiles, theory, bound."""
    series: list[tuple[float, int, int]]
    """(seconds since start, messages, bytes) per time bin of `bin_width` seconds."""
    bin_width: float
    stats: ReceiverStats = field(repr=False)
    """The receiver's statistics (histogram, sequence window) for CDF plots (merged over receivers in fan-out)."""
    per_receiver: list[PeerStats] = field(default_factory=list)
    """With several receivers: one entry per receiver (and with several senders, per sender at the receivers)."""

    def series_frame(self) -> pd.DataFrame:
        import pandas as pd

        row, width = self.row, self.bin_width
        rows: list[SeriesRow] = [
            {"t": t, "msgs": n, "bytes": b, "msgs_s": n / width, "bytes_s": b / width, "run_id": row["run_id"],
             "mode": row["mode"], "size": row["size"], "rate": row["rate"], "impairment": row["impairment"]}
            for t, n, b in self.series
        ]  # fmt: skip
        frame: pd.DataFrame = pd.DataFrame(rows, columns=list(SERIES_COLUMNS))
        return frame


class PeerStats(TypedDict):
    """Delivery to one receiver (fan-out) or from one sender (fan-in)."""

    identity: str
    role: str
    """"receiver" or "sender"."""
    sent: int
    received: int
    loss_rate: float
    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float


class Recorder:
    """The receive side of one run: probes of `run_id` go into `stats`; latency on the shared monotonic clock
    when the sender is this process, else on wall clocks (and `clock` says so)."""

    __slots__ = ("clock", "host_clock", "run_id", "stats", "wall_correction_ns")

    def __init__(
        self, run_id: int, stats: ReceiverStats, *, host_clock: bool = False, wall_correction_ns: int = 0
    ) -> None:
        self.run_id = run_id
        self.stats = stats
        self.clock = ProbeClock.MONOTONIC
        self.host_clock = host_clock
        """The sender is another process on this host: its monotonic stamps are on this host's one clock."""
        self.wall_correction_ns = wall_correction_ns
        """Sender's wall-clock offset minus this receiver's (both measured against one coordinator): added to
        wall-clock latencies so that they are on one clock (`lk_notebook.lab.clocks`)."""

    def __call__(self, payload: bytes, now: int) -> bool:
        head = unpack_fast(payload)
        if head is None or head[0] != self.run_id:
            return False
        _, clock_id, seq, mono, wall = head
        if clock_id == CLOCK_ID or self.host_clock:
            latency = now - mono
        else:
            self.clock = ProbeClock.WALL
            latency = time.time_ns() - wall + self.wall_correction_ns
        self.stats.record(len(payload), seq, latency, now)
        return True


class Run:
    """One measurement of `mode` x `size` x `rate` under `impairment` on a started rig (parameters validated)."""

    def __init__(
        self,
        rig: Rig,
        spec: RunSpec,
        *,
        window: int = DEFAULT_WINDOW,
        max_in_flight: int | None = None,
        on_sample: Callable[[LiveSample], None] | None = None,
        sample_interval: float = 0.25,
    ) -> None:
        self.rig, self.spec = rig, spec
        self.mode, self.size, self.rate, self.impairment = spec.mode, spec.size, spec.rate, spec.impairment
        self.bin_width, self.window, self.max_in_flight = spec.bin_width, window, max_in_flight
        self.on_sample, self.sample_interval = on_sample, sample_interval
        self.run_id = new_run_id()
        self.counters = SendCounters()
        self.n_senders = 1
        self.n_receivers = 1

    async def execute(self) -> RunResult:
        rig, m = self.rig, self.mode
        assert rig.sender is not None
        track = await rig.prepare_data_track() if m is Mode.DATA_TRACK else None
        await self._warm_up(track)
        codec = ProbeCodec(run_id=self.run_id, mode=m, size=self.size)
        counters = self.counters
        async with rig.window(self.impairment, drain=lambda: self._drain(stats)) as w:
            t0 = time.monotonic_ns()
            stats = ReceiverStats(t0_ns=t0, bin_width=self.bin_width)
            recorder = Recorder(self.run_id, stats)
            w.receive([recorder])
            if self.on_sample is not None:
                w.callback(rig.tasks.spawn(self._sample(stats, t0, self.on_sample), name="live samples").cancel)
            limit, deadline = self.spec.limit(), self.spec.deadline()
            if track is not None:
                await send_track(track, codec, rate=self.rate, deadline=deadline, limit=limit, counters=counters)
            else:
                bound = None
                if m is Mode.RELIABLE:
                    bound = self.max_in_flight or max(4, min(512, MAX_IN_FLIGHT_BYTES // self.size))
                await send_data(rig.sender, codec, reliable=m is Mode.RELIABLE, rate=self.rate, deadline=deadline,
                                limit=limit, window=self.window, counters=counters, stats=stats,
                                max_in_flight=bound)  # fmt: skip
            send_end = await w.end_sending(counters.sent)
        row = self._row(stats, recorder.clock, t0, send_end, w.evidence, w.before, w.after, w.drops)
        if track is not None and w.server_logs is not None and row["datagrams_up"] == 1:
            # one packet per frame, so a logged packet is a frame; read once the log has caught up
            text = await w.server_logs.settled()
            row["server_dropped_frames"] = count_data_track_drops(text, rig.room_name, rig.receiver_identity)
        series = stats.bins.series(until=(send_end - t0) / 1e9)
        return RunResult(row=row, series=series, bin_width=self.bin_width, stats=stats)

    async def _warm_up(self, track: rtc.LocalDataTrack | None) -> None:
        """Send throwaway probes until one arrives: the subscription (data track) or channel is then open."""
        rig, mode = self.rig, self.mode
        assert rig.sender is not None
        run_id = new_run_id()
        codec = ProbeCodec(run_id=run_id, mode=mode, size=HEADER_SIZE)
        recorder = Recorder(run_id, ReceiverStats(t0_ns=time.monotonic_ns()))
        rig.sink = recorder
        try:
            # reliable is ordered: its warm-up waits behind whatever an earlier run left queued
            limit = 30.0 if mode is Mode.RELIABLE else 10.0
            deadline = time.monotonic() + limit
            seq = 0
            while recorder.stats.received == 0:
                if time.monotonic() > deadline:
                    raise LabError(
                        f"no {mode.value} probe reached the receiver within {limit:g} s; is the server healthy?"
                    )
                payload = codec.encode(seq)
                seq += 1
                if track is not None:
                    with contextlib.suppress(rtc.PushFrameError):
                        track.try_push(rtc.DataTrackFrame(payload=payload))
                else:
                    await rig.sender.room.local_participant.publish_data(
                        payload, reliable=mode is Mode.RELIABLE, topic=TOPIC
                    )
                await asyncio.sleep(0.05)
        finally:
            rig.sink = None

    async def _drain(self, stats: ReceiverStats) -> None:
        """Wait for the last probes: until all arrived, or nothing new arrives for a while (lossy)."""
        imp, mode, counters = self.impairment, self.mode, self.counters
        one_way = 2 * (imp.delay_ms + 3 * imp.jitter_ms) / 1000.0
        idle_limit = max(0.5, 3 * one_way + 0.3)
        hard_limit = time.monotonic() + (20.0 if mode is Mode.RELIABLE else 5.0) + 2 * one_way
        last_count, last_change = -1, time.monotonic()
        while stats.seq.unique < counters.sent:
            now = time.monotonic()
            if stats.seq.unique != last_count:
                last_count, last_change = stats.seq.unique, now
            elif mode is not Mode.RELIABLE and now - last_change > idle_limit:
                return
            if now > hard_limit:
                counters.drained = False
                if mode is Mode.RELIABLE:
                    log.warning("reliable run ended with %d of %d probes delivered", stats.seq.unique, counters.sent)
                return
            await asyncio.sleep(0.02)

    async def _sample(self, stats: ReceiverStats, t0: int, on_sample: Callable[[LiveSample], None]) -> None:
        last_t, last_n, last_b = 0.0, 0, 0
        while True:
            await asyncio.sleep(self.sample_interval)
            t = (time.monotonic_ns() - t0) / 1e9
            n, b = stats.seq.unique, stats.bytes
            dt = max(1e-9, t - last_t)
            on_sample(LiveSample(self.mode.value, t, self.counters.sent, n, (n - last_n) / dt, (b - last_b) / dt))
            last_t, last_n, last_b = t, n, b

    def _row(
        self,
        stats: ReceiverStats,
        clock: ProbeClock,
        t0: int,
        send_end: int,
        evidence: ClientEvidence,
        before: RelayStats | None,
        after: RelayStats | None,
        drops: DropLog | None = None,
    ) -> ResultRow:
        mode, size, rate, imp, c = self.mode, self.size, self.rate, self.impairment, self.counters
        sent = c.sent
        send_s = max(1e-9, (send_end - t0) / 1e9)
        up, down = datagrams_per_message(size, mode, topic=TOPIC, identity=self.rig.sender_identity)
        legs = (1 if imp.loss_direction else 2) if self.rig.relay is not None else 0
        if imp.loss_direction and legs:
            p_up = imp.loss if imp.loss_direction == "up" else 0.0
            p_down = imp.loss if imp.loss_direction == "down" else 0.0
            expected = expected_loss_legs(p_up, p_down, size, mode)
        else:
            expected = expected_loss(imp.loss, size, mode, legs=legs)
        send_ratio = sent / send_s / (rate * self.n_senders) if rate is not None else None
        wire_ratio = None
        last = smallest_fragment(size, mode, topic=TOPIC, identity=self.rig.sender_identity)
        if before is not None and after is not None and sent and last >= COUNTABLE_FRAGMENT:
            if up == 1:
                # SCTP bundles small messages at high rates (4 x 200 B probes fit one packet): count by size
                wire = last + WIRE_OVERHEAD
                carried = after.messages_at_least(0, DATA_DATAGRAM_BYTES, message_bytes=wire) - (
                    before.messages_at_least(0, DATA_DATAGRAM_BYTES, message_bytes=wire)
                )
            else:
                datagrams = after.datagrams_at_least(0, DATA_DATAGRAM_BYTES) - before.datagrams_at_least(
                    0, DATA_DATAGRAM_BYTES
                )
                carried = round(datagrams / up)
            wire_ratio = carried / sent
        row: ResultRow = {
            **settings_columns(self.run_id, mode, size, rate, send_s, imp),
            **delivery_columns(
                stats,
                sent=sent,
                due=sent * self.n_receivers,  # deliveries due: every receiver gets every message
                errors=c.errors,
                backpressure=c.backpressure + c.blocked,
                drained=c.drained if mode is Mode.RELIABLE else True,
                t0=t0,
                send_end=send_end,
            ),
            **latency_columns(stats.latency, clock=clock.value),
            "datagrams_up": up,
            "datagrams_down": down,
            "legs": legs,
            "expected_loss": expected,
            "path": self.rig.path,
            **evidence_columns(
                evidence,
                send_ratio=send_ratio,
                held_by_path_s=c.held_s,
                send_s=send_s,
                wire_ratio=wire_ratio,
                lossy_path=imp.loss > 0,
                latency_p50_ms=stats.latency.percentile(50),
            ),
            "senders": self.n_senders,
            "receivers": self.n_receivers,
            **relay_columns(before, after, size=size, mode=mode, wire_ratio=wire_ratio),
            **NO_SERVER_LOG,  # set by execute() for a data track on a local server
            **_IN_PROCESS,
        }
        if up == 1 and drops is not None and not drops.truncated and wire_ratio is not None:
            row["relay_split_datagrams_up"] = drops.split_datagrams(UP)
        if mode is Mode.LOSSY and drops is not None and not drops.truncated:
            row["relay_lost_deliveries"] = lost_deliveries(drops, k=(up, down), receivers=self.n_receivers)
            row["relay_messages_up"] = drops.messages(UP, k=up)
            row["relay_messages_down"] = drops.messages(DOWN, k=down)
        return row


def relay_columns(
    before: RelayStats | None, after: RelayStats | None, *, size: int, mode: Mode, wire_ratio: float | None
) -> RelayColumns:
    """The relay's counters over the run, and the theory from the loss the legs really had (none without relay)."""
    if before is None or after is None:
        return {}
    row: RelayColumns = {}
    received = [after.received[i] - before.received[i] for i in (0, 1)]
    dropped = [after.dropped[i] - before.dropped[i] for i in (0, 1)]
    row["relay_datagrams_up"], row["relay_datagrams_down"] = received
    row["relay_dropped_up"], row["relay_dropped_down"] = dropped
    data = [after.datagrams_at_least(i, DATA_DATAGRAM_BYTES) - before.datagrams_at_least(i, DATA_DATAGRAM_BYTES)
            for i in (0, 1)]  # fmt: skip
    data_dropped = [
        after.dropped_at_least(i, DATA_DATAGRAM_BYTES) - before.dropped_at_least(i, DATA_DATAGRAM_BYTES) for i in (0, 1)
    ]
    row["relay_data_datagrams_up"], row["relay_data_datagrams_down"] = data
    row["wire_ratio"] = wire_ratio if wire_ratio is not None else math.nan
    row["relay_data_dropped_up"], row["relay_data_dropped_down"] = data_dropped
    p_up = data_dropped[0] / data[0] if data[0] else 0.0
    p_down = data_dropped[1] / data[1] if data[1] else 0.0
    row["leg_loss_up"], row["leg_loss_down"] = p_up, p_down
    row["expected_loss_measured"] = expected_loss_legs(p_up, p_down, size, mode)
    return row
