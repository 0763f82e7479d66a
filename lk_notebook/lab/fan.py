"""Fan-out (one sender, N receivers) and fan-in (N senders, one receiver) runs: rooms as deployments see them.

Each sender stamps its probes with its own run id, so every receiver keeps one `Recorder` per sender; every
message is due at every receiver. The row counts deliveries (`received` of `sent` x receivers), the latency
percentiles are over all deliveries, and `RunResult.per_receiver` holds one `PeerStats` per receiver (and per
sender with several senders): the spread of loss and latency across the room.

Example::

    async with Lab() as lab:
        r = await lab.run(mode="reliable", size=200, rate=20, duration=2, receivers=20)
    r.row["loss_rate"], r.row["latency_p99_ms"], [p["latency_p99_ms"] for p in r.per_receiver]

All senders and receivers are in this one process, on one event loop: with many receivers the client limit
comes fast (every delivery costs the loop), and rows say so (`bound`).
"""

from __future__ import annotations

import asyncio
import math
import time

from ..errors import LabError
from .pacing import SendCounters, send_data
from .packets import MAX_IN_FLIGHT_BYTES, PeerStats, Recorder, Run, RunResult
from .probe import HEADER_SIZE, Mode, ProbeCodec, new_run_id
from .rig import TOPIC, Rig, Sink
from .spec import RunSpec
from .stats import ReceiverStats

__all__ = ["MAX_PARTICIPANTS", "FanRun", "merge_stats", "peer_stats"]

MAX_PARTICIPANTS = 50
"""Senders + receivers the lab joins at most (each is a WebRTC connection in this process)."""


def _dispatch(recorders: list[Recorder]) -> Sink:
    by_run = {r.run_id: r for r in recorders}

    def sink(payload: bytes, now: int) -> bool:
        rec = by_run.get(int.from_bytes(payload[8:16], "big")) if len(payload) >= HEADER_SIZE else None
        return rec(payload, now) if rec is not None else False

    return sink


class FanRun(Run):
    """A Run with `senders` senders and `receivers` receivers (data-channel modes)."""

    def __init__(
        self, rig: Rig, spec: RunSpec, *, window: int, max_in_flight: int | None, senders: int, receivers: int
    ) -> None:
        super().__init__(rig, spec, window=window, max_in_flight=max_in_flight)
        if self.mode is Mode.DATA_TRACK:
            raise LabError("fan-out and fan-in runs measure data messages; use mode lossy or reliable")
        if senders < 1 or receivers < 1 or senders + receivers > MAX_PARTICIPANTS:
            raise LabError(
                f"senders ({senders}) and receivers ({receivers}) must be >= 1 and at most {MAX_PARTICIPANTS} together"
            )
        self.n_senders, self.n_receivers = senders, receivers

    async def execute(self) -> RunResult:
        rig, m = self.rig, self.mode
        await rig.ensure(senders=self.n_senders, receivers=self.n_receivers)
        senders, receivers = rig.senders[: self.n_senders], rig.receivers[: self.n_receivers]
        await self._warm_up_all()
        run_ids = [self.run_id] + [new_run_id() for _ in senders[1:]]
        per_sender = [SendCounters() for _ in senders]
        async with rig.window(self.impairment, drain=lambda: self._drain_all(grid, per_sender)) as w:
            t0 = time.monotonic_ns()
            grid = [
                [Recorder(rid, ReceiverStats(t0_ns=t0, bin_width=self.bin_width)) for rid in run_ids] for _ in receivers
            ]
            w.receive([recs[0] if len(recs) == 1 else _dispatch(recs) for recs in grid])
            limit, deadline = self.spec.limit(), self.spec.deadline()
            bound = None
            if m is Mode.RELIABLE:
                bound = self.max_in_flight or max(4, min(512, MAX_IN_FLIGHT_BYTES // self.size))
            await asyncio.gather(*(
                send_data(s, ProbeCodec(run_id=rid, mode=m, size=self.size), reliable=m is Mode.RELIABLE,
                          rate=self.rate, deadline=deadline, limit=limit, window=self.window, counters=c,
                          stats=grid[0][j].stats, max_in_flight=bound)
                for j, (s, rid, c) in enumerate(zip(senders, run_ids, per_sender, strict=True))
            ))  # fmt: skip
            send_end = await w.end_sending(sum(c.sent for c in per_sender))
        total = self.counters
        total.sent = sum(c.sent for c in per_sender)
        total.errors = sum(c.errors for c in per_sender)
        total.blocked = sum(c.blocked for c in per_sender)
        total.held_s = max(c.held_s for c in per_sender)
        total.drained = all(c.drained for c in per_sender)
        merged = merge_stats(t0, self.bin_width, [rec.stats for recs in grid for rec in recs])
        row = self._row(merged, grid[0][0].clock, t0, send_end, w.evidence, w.before, w.after, w.drops)
        peers = [peer_stats(r.identity, "receiver", total.sent, [rec.stats for rec in grid[i]])
                 for i, r in enumerate(receivers)]  # fmt: skip
        if len(senders) > 1:
            peers += [peer_stats(s.identity, "sender", per_sender[j].sent * len(receivers),
                                 [recs[j].stats for recs in grid])
                      for j, s in enumerate(senders)]  # fmt: skip
        series = merged.bins.series(until=(send_end - t0) / 1e9)
        return RunResult(row=row, series=series, bin_width=self.bin_width, stats=merged, per_receiver=peers)

    async def _warm_up_all(self) -> None:
        """Every sender's probes reach every receiver once before the run (channels open, subscriptions live)."""
        rig = self.rig
        for sender in rig.senders[: self.n_senders]:
            run_id = new_run_id()
            codec = ProbeCodec(run_id=run_id, mode=self.mode, size=HEADER_SIZE)
            recs = [Recorder(run_id, ReceiverStats(t0_ns=time.monotonic_ns())) for _ in range(self.n_receivers)]
            for i, rec in enumerate(recs):
                rig.sinks[i] = rec
            try:
                deadline = time.monotonic() + 30.0
                seq = 0
                while any(rec.stats.received == 0 for rec in recs):
                    if time.monotonic() > deadline:
                        raise LabError(
                            f"{self.mode.value} probes from {sender.identity!r} did not reach every receiver"
                        )
                    await sender.room.local_participant.publish_data(
                        codec.encode(seq), reliable=self.mode is Mode.RELIABLE, topic=TOPIC
                    )
                    seq += 1
                    await asyncio.sleep(0.05)
            finally:
                for i in range(self.n_receivers):
                    rig.sinks[i] = None

    async def _drain_all(self, grid: list[list[Recorder]], per_sender: list[SendCounters]) -> None:
        """Until every receiver has every sender's probes, or (lossy) nothing new arrives for a while."""
        imp = self.impairment
        one_way = 2 * (imp.delay_ms + 3 * imp.jitter_ms) / 1000.0
        idle_limit = max(0.5, 3 * one_way + 0.3)
        hard_limit = time.monotonic() + (20.0 if self.mode is Mode.RELIABLE else 5.0) + 2 * one_way
        due = sum(c.sent for c in per_sender) * len(grid)
        last, last_change = -1, time.monotonic()
        while (got := sum(rec.stats.seq.unique for recs in grid for rec in recs)) < due:
            now = time.monotonic()
            if got != last:
                last, last_change = got, now
            elif self.mode is not Mode.RELIABLE and now - last_change > idle_limit:
                return
            if now > hard_limit:
                for c in per_sender:
                    c.drained = False
                return
            await asyncio.sleep(0.02)


def merge_stats(t0: int, bin_width: float, parts: list[ReceiverStats]) -> ReceiverStats:
    """One ReceiverStats adding up `parts` (counts, bytes, latency histogram, goodput bins)."""
    out = ReceiverStats(t0_ns=t0, bin_width=bin_width)
    seq = out.seq
    for p in parts:
        out.latency.merge(p.latency)
        seq.unique += p.seq.unique
        seq.duplicates += p.seq.duplicates
        seq.out_of_order += p.seq.out_of_order
        seq.too_old += p.seq.too_old
        out.received += p.received
        out.bytes += p.bytes
        out.last_ns = max(out.last_ns, p.last_ns)
        for t, n, b in p.bins.series():
            for _ in range(n):
                out.bins.add(t + bin_width / 2, b // n if n else 0)
    return out


def peer_stats(identity: str, role: str, due: int, parts: list[ReceiverStats]) -> PeerStats:
    """Delivery to (or from) one peer, adding up its receivers' `parts` against `due` messages."""
    lat = ReceiverStats(t0_ns=0).latency
    for p in parts:
        lat.merge(p.latency)
    got = sum(p.seq.unique for p in parts)
    return {
        "identity": identity,
        "role": role,
        "sent": due,
        "received": got,
        "loss_rate": max(0, due - got) / due if due else math.nan,
        "latency_p50_ms": lat.percentile(50),
        "latency_p95_ms": lat.percentile(95),
        "latency_p99_ms": lat.percentile(99),
    }
