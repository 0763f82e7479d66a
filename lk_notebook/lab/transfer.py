"""Runs of the whole-payload modes: text streams, byte streams, RPC calls and hand-chunked packets of `size` bytes at
`rate` per second, measured into the same `ResultRow` as the packet modes.

One "message" here is one whole stream, one RPC call, or one payload sent as reliable data packets of STREAM_CHUNK
bytes each (`packet_chunks`: what an app would do without streams, the byte streams' baseline). Streams and chunks:
latency is from the first send to the receiver's last byte (one process, one monotonic clock: exact); throughput
counts payload bytes.
RPC: latency is the round trip of `perform_rpc` (the `clock` column says so); the receiver answers "ok". Streams
and RPC ride the reliable data channel, so nothing is lost short of a failure (`send_errors`); impairment shows as
time. Sends are sequential: each stream is handed over whole before the next starts, as an app sending files would.

Example::

    rig = await Rig(server=LocalServer(relay=True)).start()
    spec = RunSpec(Mode.BYTE_STREAM, size=1_000_000, rate=None, duration=5, count=None, impairment=NO_IMPAIRMENT)
    result = await TransferRun(rig, spec).execute()
"""

from __future__ import annotations

import asyncio
import math
import os
import struct
import time
from dataclasses import dataclass

from livekit.rtc.participant import PublishDataError

from ..errors import LkNotebookError, PublishError
from ..events import StreamRecord, StreamState
from .calibration import ClientEvidence
from .columns import delivery_columns, evidence_columns, latency_columns, settings_columns
from .pacing import SendCounters
from .packets import RunResult
from .probe import Mode, ProbeClock, new_run_id
from .rig import Rig
from .rows import NO_SERVER_LOG, RelayColumns, ResultRow, WorkerColumns
from .spec import RunSpec
from .stats import ReceiverStats
from .theory import datagrams_per_message

__all__ = [
    "CHUNK_TOPIC",
    "RPC_METHOD",
    "STREAM_CHUNK",
    "STREAM_TOPIC",
    "TRANSFER_MAX_BYTES",
    "ChunkAssembler",
    "TransferRun",
]

STREAM_TOPIC = "lk_notebook.lab.stream"
RPC_METHOD = "lk_notebook.lab.rpc"
STREAM_CHUNK = 15_000
"""Bytes per stream chunk packet (the SDK's chunk size), for the datagram counts; and per packet_chunks packet."""
CHUNK_TOPIC = "lk_notebook.lab.chunks"
_CHUNK_HEADER = struct.Struct("!QII")
"""A packet_chunks packet: run id, payload sequence number, chunk index (16 bytes; a stream chunk's header is
about as large), then up to STREAM_CHUNK payload bytes."""
TRANSFER_MAX_BYTES = 10 * 1024 * 1024
"""Largest stream or RPC payload a lab run sends (the issue's 10 KB to 10 MB range)."""
RPC_ROUND_TRIP = "monotonic round trip (RPC: one process, exact)"
DRAIN_STALL_S = 20.0
"""After the last send, a run waits for its payloads as long as something arrives, and gives up after this many
seconds with nothing (plus 4x the impairment's delay)."""


class ChunkAssembler:
    """Counts packet_chunks packets of one run: a payload is complete when all `size` of its bytes have arrived.

    Pure: packets of other runs, and runts shorter than a header, are ignored (`foreign` counts them).
    """

    def __init__(self, run_id: int, size: int) -> None:
        self.run_id, self.size = run_id, size
        self.bytes: dict[int, int] = {}
        self.foreign = 0

    def add(self, packet: bytes) -> int | None:
        """Take one packet; return its payload's sequence number when this packet completed it."""
        if len(packet) < _CHUNK_HEADER.size:
            self.foreign += 1
            return None
        run, seq, _ = _CHUNK_HEADER.unpack_from(packet)
        if run != self.run_id:
            self.foreign += 1
            return None
        before = self.bytes.get(seq, 0)
        self.bytes[seq] = now = before + len(packet) - _CHUNK_HEADER.size
        return seq if before < self.size <= now else None


@dataclass(slots=True)
class _Pending:
    seq: int
    started_ns: int


# Streams and RPC rows carry no relay counters: their chunks' datagrams are not told apart from other traffic.
_NO_RELAY_COUNTS: RelayColumns = {}
_IN_PROCESS: WorkerColumns = {}
"""No Dask worker: the run is in this process."""


class TransferRun:
    """One measurement of a stream or RPC mode on a started rig (parameters validated by the Lab)."""

    def __init__(self, rig: Rig, spec: RunSpec) -> None:
        self.rig, self.spec = rig, spec
        self.mode, self.size, self.rate, self.impairment = spec.mode, spec.size, spec.rate, spec.impairment
        self.bin_width = spec.bin_width
        self.run_id = new_run_id()
        self.counters = SendCounters()
        self._arrivals = 0
        """Stream updates and chunks received for this run: the drain waits while this grows."""

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
            self._arrivals += 1  # started, progressed or finished: the transfer is moving
            if record.state is StreamState.FINISHED:
                p = pending.pop(record.attributes.get("seq", ""), None)
                if p is not None:
                    now = time.monotonic_ns()
                    stats.record(record.received, p.seq, now - p.started_ns, now)

        assembler = ChunkAssembler(self.run_id, self.size)

        def on_chunk(data: bytes, _sender: str | None, _kind: object, _arrival: float) -> None:
            self._arrivals += 1
            seq = assembler.add(data)
            if seq is not None:
                p = pending.pop(str(seq), None)
                if p is not None:
                    now = time.monotonic_ns()
                    stats.record(self.size, p.seq, now - p.started_ns, now)

        if self.mode is Mode.RPC and RPC_METHOD not in receiver.router.rpc_methods:
            receiver.register_rpc_method(RPC_METHOD, lambda call: "ok")
        sender.rpc_payload_limit = max(sender.rpc_payload_limit, TRANSFER_MAX_BYTES)
        payload = os.urandom(self.size)
        text = payload.hex()[: self.size]
        c = self.counters
        async with rig.window(self.impairment, drain=lambda: self._drain(pending)) as w:
            w.callback(receiver.on_stream(on_stream))
            w.callback(receiver.add_raw_handler(CHUNK_TOPIC, on_chunk))
            limit, deadline = self.spec.limit(), self.spec.deadline()
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
            send_end = await w.end_sending(c.sent)
        row = self._row(stats, t0, send_end, w.evidence)
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
        elif self.mode is Mode.PACKET_CHUNKS:
            # The SDK's own publish_data, one awaited call per chunk, as an app chunking by hand would send.
            publish = sender.room.local_participant.publish_data
            for index, start in enumerate(range(0, self.size, STREAM_CHUNK)):
                chunk = _CHUNK_HEADER.pack(self.run_id, seq, index) + payload[start : start + STREAM_CHUNK]
                try:
                    await publish(chunk, reliable=True, topic=CHUNK_TOPIC)
                except PublishDataError as exc:
                    raise PublishError(f"chunk {index} of payload {seq} was refused: {exc}") from exc
        else:
            timeout = 30.0 + 4 * (self.impairment.delay_ms + 3 * self.impairment.jitter_ms) / 1000
            await sender.perform_rpc(receiver_id, RPC_METHOD, text, timeout=timeout)
            now = time.monotonic_ns()
            stats.record(self.size, seq, now - began, now)

    async def _drain(self, pending: dict[str, _Pending]) -> None:
        """Streams or chunked payloads still arriving after the last send: wait while they make progress, and
        give up (late ones count as lost, `drained` False) after DRAIN_STALL_S with nothing arriving. A fixed
        bound would cut off a large payload that is still moving: a 10 MB transfer under 2 % loss and 20 ms takes
        ~47 s, most of it after the last send returned. RPC calls are complete when they return."""
        imp = self.impairment
        stall = DRAIN_STALL_S + 4 * (imp.delay_ms + 3 * imp.jitter_ms) / 1000
        seen, quiet_since = self._arrivals, time.monotonic()
        while pending and self.mode is not Mode.RPC:
            if self._arrivals != seen:
                seen, quiet_since = self._arrivals, time.monotonic()
            elif time.monotonic() - quiet_since > stall:
                self.counters.drained = False
                return
            await asyncio.sleep(0.02)

    def _row(self, stats: ReceiverStats, t0: int, send_end: int, evidence: ClientEvidence) -> ResultRow:
        mode, size, rate, c = self.mode, self.size, self.rate, self.counters
        send_s = max(1e-9, (send_end - t0) / 1e9)
        chunks = max(1, math.ceil(size / STREAM_CHUNK))
        per_chunk, _ = datagrams_per_message(min(size, STREAM_CHUNK), Mode.RELIABLE, identity=self.rig.sender_identity)
        # streams add a header and a trailer packet; RPC and hand-made chunks do not
        up = chunks * per_chunk + (2 if mode in (Mode.TEXT_STREAM, Mode.BYTE_STREAM) else 0)
        return {
            **settings_columns(self.run_id, mode, size, rate, send_s, self.impairment),
            **delivery_columns(
                stats,
                sent=c.sent,
                due=c.sent,
                errors=c.errors,
                backpressure=0,
                drained=c.drained,
                t0=t0,
                send_end=send_end,
            ),
            **latency_columns(stats.latency, clock=RPC_ROUND_TRIP if mode is Mode.RPC else ProbeClock.MONOTONIC.value),
            "datagrams_up": up,
            "datagrams_down": up,
            "legs": 2 if self.rig.relay is not None else 0,
            "expected_loss": 0.0,
            "path": self.rig.path,
            **evidence_columns(
                evidence,
                send_ratio=c.sent / send_s / rate if rate is not None else None,
                held_by_path_s=0.0,
                send_s=send_s,
                latency_p50_ms=stats.latency.percentile(50),
            ),
            "senders": 1,
            "receivers": 1,
            **_NO_RELAY_COUNTS,
            **NO_SERVER_LOG,
            **_IN_PROCESS,
        }
