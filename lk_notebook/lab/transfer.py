"""Runs of the stream and RPC modes: text streams, byte streams and RPC calls of `size` bytes at `rate` per second,
measured into the same `ResultRow` as the packet modes.

One "message" here is one whole stream or one RPC call. Streams: latency is from the `send_*` call to the receiving
session's record of the finished stream (one process, one monotonic clock: exact); throughput counts payload bytes.
RPC: latency is the round trip of `perform_rpc` (the `clock` column says so); the receiver answers "ok". Streams
and RPC ride the reliable data channel, so nothing is lost short of a failure (`send_errors`); impairment shows as
time. Sends are sequential: each stream is handed over whole before the next starts, as an app sending files would.

Example::

    rig = await Rig(server=LocalServer(relay=True)).start()
    result = await TransferRun(rig, mode=Mode.BYTE_STREAM, size=1_000_000, rate=None, duration=5, count=None,
                               impairment=NO_IMPAIRMENT, bin_width=0.1).execute()
"""

from __future__ import annotations

import asyncio
import math
import os
import time
from dataclasses import dataclass

from ..errors import LkNotebookError
from ..events import StreamRecord, StreamState
from .calibration import ClientMonitor, classify
from .probe import Mode, ProbeClock, new_run_id
from .relay import Impairment
from .rig import Rig
from .rows import ResultRow
from .run import RunResult
from .sending import SendCounters
from .stats import ReceiverStats
from .theory import datagrams_per_message

__all__ = ["RPC_METHOD", "STREAM_CHUNK", "STREAM_TOPIC", "TRANSFER_MAX_BYTES", "TransferRun"]

STREAM_TOPIC = "lk_notebook.lab.stream"
RPC_METHOD = "lk_notebook.lab.rpc"
STREAM_CHUNK = 15_000
"""Bytes per stream chunk packet (the SDK's chunk size), for the datagram counts."""
TRANSFER_MAX_BYTES = 10 * 1024 * 1024
"""Largest stream or RPC payload a lab run sends (the issue's 10 KB to 10 MB range)."""
RPC_ROUND_TRIP = "monotonic round trip (RPC: one process, exact)"


@dataclass(slots=True)
class _Pending:
    seq: int
    started_ns: int


class TransferRun:
    """One measurement of a stream or RPC mode on a started rig (parameters validated by the Lab)."""

    def __init__(
        self,
        rig: Rig,
        *,
        mode: Mode,
        size: int,
        rate: float | None,
        duration: float | None,
        count: int | None,
        impairment: Impairment,
        bin_width: float,
    ) -> None:
        self.rig, self.mode, self.size, self.rate = rig, mode, size, rate
        self.duration, self.count, self.impairment, self.bin_width = duration, count, impairment, bin_width
        self.run_id = new_run_id()
        self.counters = SendCounters()

    async def execute(self) -> RunResult:
        rig = self.rig
        assert rig.sender is not None and rig.receiver is not None
        sender, receiver = rig.sender, rig.receiver
        t0 = time.monotonic_ns()
        stats = ReceiverStats(t0_ns=t0, bin_width=self.bin_width)
        tag = f"{self.run_id:016x}"
        pending: dict[str, _Pending] = {}

        def on_stream(record: StreamRecord) -> None:
            if record.sent or record.topic != STREAM_TOPIC or record.attributes.get("run") != tag:
                return
            if record.state is StreamState.FINISHED:
                p = pending.pop(record.attributes.get("seq", ""), None)
                if p is not None:
                    now = time.monotonic_ns()
                    stats.record(record.received, p.seq, now - p.started_ns, now)

        unsubscribe = receiver.on_stream(on_stream)
        if self.mode is Mode.RPC and RPC_METHOD not in receiver.router.rpc_methods:
            receiver.register_rpc_method(RPC_METHOD, lambda call: "ok")
        sender.rpc_payload_limit = max(sender.rpc_payload_limit, TRANSFER_MAX_BYTES)
        relay = rig.relay
        await rig.check_paths()
        if relay is not None:
            relay.set_impairment(self.impairment)
        payload = os.urandom(self.size)
        text = payload.hex()[: self.size]
        monitor = ClientMonitor().start()
        c = self.counters
        try:
            limit = self.count if self.count is not None else 2**62
            deadline = time.monotonic() + self.duration if self.duration is not None else math.inf
            start = time.monotonic()
            while c.sent < limit and time.monotonic() < deadline:
                if self.rate is not None:
                    delay = start + c.sent / self.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
                        if time.monotonic() >= deadline:
                            break
                seq = c.sent
                began = time.monotonic_ns()
                pending[str(seq)] = _Pending(seq, began)
                c.sent += 1
                try:
                    await self._send_one(seq, tag, payload, text, stats, began)
                except (LkNotebookError, asyncio.TimeoutError) as exc:
                    pending.pop(str(seq), None)
                    c.errors += 1
                    c.first_error = c.first_error or str(exc)
            send_end = time.monotonic_ns()
            evidence = await monitor.stop()
            await self._drain(pending)
            evidence = monitor.with_host_drops(evidence)  # drops while draining count too
        finally:
            await monitor.stop()
            unsubscribe()
            if relay is not None:
                relay.clear()
        row = self._row(stats, t0, send_end, evidence)
        series = stats.bins.series(until=(send_end - t0) / 1e9)
        return RunResult(row=row, series=series, bin_width=self.bin_width, stats=stats)

    async def _send_one(self, seq: int, tag: str, payload: bytes, text: str, stats: ReceiverStats, began: int) -> None:
        sender, receiver_id = self.rig.sender, self.rig.receiver_identity
        assert sender is not None
        attrs = {"run": tag, "seq": str(seq)}
        if self.mode is Mode.BYTE_STREAM:
            await sender.send_bytes(payload, topic=STREAM_TOPIC, name=f"{seq}.bin", attributes=attrs)
        elif self.mode is Mode.TEXT_STREAM:
            await sender.send_text(text, topic=STREAM_TOPIC, attributes=attrs)
        else:
            timeout = 30.0 + 4 * (self.impairment.delay_ms + 3 * self.impairment.jitter_ms) / 1000
            await sender.perform_rpc(receiver_id, RPC_METHOD, text, timeout=timeout)
            now = time.monotonic_ns()
            stats.record(self.size, seq, now - began, now)

    async def _drain(self, pending: dict[str, _Pending]) -> None:
        """Streams still arriving after the last send: wait for them (bounded; late ones count as lost)."""
        imp = self.impairment
        hard_limit = time.monotonic() + 20.0 + 4 * (imp.delay_ms + 3 * imp.jitter_ms) / 1000
        while pending and self.mode is not Mode.RPC:
            if time.monotonic() > hard_limit:
                self.counters.drained = False
                return
            await asyncio.sleep(0.02)

    def _row(self, stats: ReceiverStats, t0: int, send_end: int, evidence: object) -> ResultRow:
        from .calibration import ClientEvidence

        assert isinstance(evidence, ClientEvidence)
        mode, size, rate, imp, c = self.mode, self.size, self.rate, self.impairment, self.counters
        unique, sent = stats.seq.unique, c.sent
        send_s = max(1e-9, (send_end - t0) / 1e9)
        span = max(1e-9, ((stats.last_ns or send_end) - t0) / 1e9)
        lat = stats.latency
        chunks = max(1, math.ceil(size / STREAM_CHUNK))
        per_chunk, _ = datagrams_per_message(min(size, STREAM_CHUNK), Mode.RELIABLE, identity=self.rig.sender_identity)
        up = chunks * per_chunk + (0 if mode is Mode.RPC else 2)  # streams add a header and a trailer packet
        offered = sent / send_s
        send_ratio = offered / rate if rate is not None else None
        bound, reason = classify(evidence, send_ratio=send_ratio, held_fraction=0.0)
        return {
            "run_id": f"{self.run_id:016x}",
            "mode": mode.value,
            "size": size,
            "rate": float(rate) if rate is not None else None,
            "duration_s": round(send_s, 4),
            "impairment": imp.label(),
            "loss_setting": imp.loss,
            "delay_setting": imp.delay_ms,
            "jitter_setting": imp.jitter_ms,
            "bandwidth_kbps_setting": imp.rate_kbps,
            "sent": sent,
            "send_errors": c.errors,
            "backpressure": 0,
            "received": unique,
            "lost": max(0, sent - unique),
            "drained": c.drained,
            "loss_rate": (max(0, sent - unique) / sent) if sent else math.nan,
            "duplicates": stats.seq.duplicates,
            "out_of_order": stats.seq.out_of_order,
            "too_old": stats.seq.too_old,
            "offered_msgs_s": offered,
            "throughput_msgs_s": unique / span,
            "throughput_bytes_s": stats.bytes / span,
            "latency_p50_ms": lat.percentile(50),
            "latency_p95_ms": lat.percentile(95),
            "latency_p99_ms": lat.percentile(99),
            "latency_max_ms": lat.max_ns / 1e6 if lat.count else math.nan,
            "latency_mean_ms": lat.mean(),
            "clock": RPC_ROUND_TRIP if mode is Mode.RPC else ProbeClock.MONOTONIC.value,
            "datagrams_up": up,
            "datagrams_down": up,
            "legs": 2 if self.rig.relay is not None else 0,
            "expected_loss": 0.0,
            "path": self.rig.path,
            "bound": bound,
            "bound_reason": reason,
            "send_ratio": send_ratio,
            "held_by_path_s": 0.0,
            "loop_lag_p99_ms": evidence.loop_lag_p99_ms,
            "loop_cpu": round(evidence.loop_cpu, 4),
            "process_cpu": round(evidence.process_cpu, 4),
            "host_cpu": round(evidence.host_cpu, 4),
            "host_udp_drops": evidence.host_udp_drops,
            "senders": 1,
            "receivers": 1,
        }
