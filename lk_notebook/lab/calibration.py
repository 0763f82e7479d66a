"""Was a run limited by the path, or by the lab's own client? Evidence taken during every run, and the verdict.

The lab's sender and receiver are Python coroutines on one event loop: every publish and every arrival costs that
one thread. When the thread is saturated, messages wait in the process (not on the network) and the sender cannot
offer what was asked, so what looks like LiveKit's knee is the instrument's. Three measurements tell:

- `send_ratio`: achieved / requested send rate. Below 0.9 while the sender was not held back by the path (its
  reliable in-flight bound), the client could not offer the load.
- `loop_cpu`: CPU seconds of the event-loop thread per wall second. Near 1 the Python thread is the bottleneck.
- `wire_ratio` (with the relay): probe-bearing datagrams that left the sender per datagram due. Below 0.98 the
  sender's SDK accepted messages and dropped them before the wire (data tracks, at high rates or on a busy host).
- `loop_lag_p99_ms` (the verdict uses p90): how late the loop wakes a 20 ms timer; an arrival waits about as
  long before it is counted, so a lag that is large against the latency measured makes that latency the client's.
- the receiving side (`receiver_loop_lag_p99_ms`, `receiver_cpu`): the receivers' event loop and their process's
  CPU. Every delivery costs the receiving process an FFI event and a callback on its loop; with many receivers in
  one process (fan-out) the deliveries queue there while the sender is at ease. In-process runs share one loop and
  process (so the receivers' evidence is the process's); on Dask it is the receiving worker's.
- `host_udp_drops`: UDP datagrams the kernel discarded at a full socket receive buffer on this host during the run
  (Linux's /proc/net/snmp Udp RcvbufErrors). Sender, relay, server and receiver all read UDP here; a process
  that did not read in time (a starved thread on a busy host) loses datagrams that no network lost.

Example::

    monitor = ClientMonitor().start()
    ...                                     # the run
    evidence = await monitor.stop()
    bound, reason = classify(evidence, send_ratio=0.12, held_fraction=0.0)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import psutil

from .rows import Bound
from .stats import LatencyHistogram

__all__ = [
    "ClientEvidence", "ClientMonitor", "classify", "drops_by_owner", "sending_reasons", "udp_receive_drops",
    "udp_socket_drops",
]  # fmt: skip

LAG_TICK = 0.02
"""The lag probe's timer (s): 50 wake-ups a second, so that the probe itself costs the loop nothing measurable
(bench/lab_vs_raw.py), yet sees any stall long enough to matter (LOOP_LAG_MAX_MS)."""
SEND_RATIO_MIN = 0.9
"""Below this share of the requested rate the sender fell behind (pacing alone loses < 1 %: measured 0.99+ at
100-400/s on an idle loop)."""
WIRE_RATIO_MIN = 0.98
"""Below this, the SDK dropped accepted messages before the wire (measured: data tracks at 800 frames/s put 71 %
on the wire, at 100 frames/s on the loaded machine 96 %). Up-leg bundling of two small messages in one datagram
lowers the ratio without any drop, by at most 0.4 % (13 datagrams for 3,200 frames): 2 % is 5x that."""
LOOP_CPU_MAX = 0.8
"""Event-loop thread busier than this: the Python thread, not the path, sets the pace (asyncio needs idle time
to wake timers on schedule; measured ~0.9-1.0 at the single-process ceiling, < 0.3 at 100/s)."""
LOOP_LAG_MAX_MS = 50.0
"""A p90 wake-up lag above this is the receiver's queue, not the network: 10x the ~5 ms loopback latency."""
RECEIVER_LAG_SHARE = 0.5
"""A receiving loop whose p99 lag exceeds LOOP_LAG_MAX_MS and is at least this share of a p50 latency that exceeds
it too: arrivals queued behind the receivers' own loop for a large part of what the row reports as latency.
(bench/fanout.py at 10/s, loaded 2-core host: lag p99 10-24 ms against p50 15-22 ms at 20 receivers, 191-583 ms
against 210-456 ms at 49.)"""
RECEIVER_CPU_MAX = 0.9
"""CPU seconds per wall second of the receiving process (its SDK threads and its loop) above which the receivers
are the limit: each delivery crosses the FFI into the one Python thread, so near one core they queue in the
process, not on the network. bench/fanout.py, 200 B at 10/s, load ~1: 0.07 at 1 receiver, 0.32-0.36 at 20 (p50
14-17 ms), 1.17-1.19 at 49 (p50 63-73 ms, p99 131-216 ms) with the loop's lag p99 only 13-14 ms and the sender at
103 % of its rate: only this evidence says the 49 receivers were the limit. (On a busy host, 0.44-0.71 at 49,
with the loop lagging 191-583 ms.) Its blind spot: on a host with no idle CPU (`host_cpu` near 1) a process gets its
share, not what it needs, so a saturated receiving process can read below this (20 receivers x 150/s beside a
CPU-bound process: 0.86-1.18). A lower bound there was tried and withdrawn: the in-process lab's CPU is also the
sender's and the relay's, and one receiver at 50/s read 0.66 on a full host (notebook A1 in CI)."""


@dataclass(frozen=True, slots=True)
class ClientEvidence:
    """What the client process did during one run."""

    wall_s: float
    loop_cpu: float
    process_cpu: float
    host_cpu: float
    loop_lag_p99_ms: float
    loop_lag_p90_ms: float = 0.0
    """What the verdict uses: a loop late on one tick in ten is a queue, one late tick (p99 of a short run is
    about its maximum) is a hiccup of the shared host."""
    host_udp_drops: int | None = None
    """Datagrams the kernel dropped at full UDP receive buffers on this host (all processes); None where unknown
    (not Linux). Read after the run's drain by `ClientMonitor.with_host_drops`, so late arrivals count too."""
    udp_drops_where: str = ""
    """Whose sockets dropped them, from the per-socket counters: e.g. "livekit-server 640, relay 0, other 31"
    ("other": the SDK's own sockets, or any other process; sockets closed during the run are not in it)."""


_SNMP = Path("/proc/net/snmp")
_UDP_TABLE = Path("/proc/net/udp")

Address = tuple[str, int]
"""A socket's local (IPv4 address, port)."""


def udp_socket_drops() -> dict[Address, int]:
    """Receive-buffer drops per open IPv4 UDP socket of this host, by local address; empty where unknown."""
    out: dict[Address, int] = {}
    try:
        lines = _UDP_TABLE.read_text().splitlines()[1:]
    except OSError:
        return out
    for line in lines:
        fields = line.split()
        try:
            ip_hex, port_hex = fields[1].split(":")
            address = (socket.inet_ntoa(struct.pack("<I", int(ip_hex, 16))), int(port_hex, 16))
            out[address] = out.get(address, 0) + int(fields[-1])
        except (ValueError, IndexError, struct.error):
            continue
    return out


def drops_by_owner(before: Mapping[Address, int], after: Mapping[Address, int], owners: Mapping[Address, str]) -> str:
    """'owner n, ...' for the drops between two `udp_socket_drops()` readings; unnamed sockets are "other"."""
    totals = {name: 0 for name in sorted(set(owners.values()))}
    totals["other"] = 0
    for address, count in after.items():
        added = count - before.get(address, 0)
        if added > 0:
            name = owners.get(address, "other")
            totals[name] = totals.get(name, 0) + added
    return ", ".join(f"{name} {n}" for name, n in sorted(totals.items(), key=lambda kv: (-kv[1], kv[0])))


def udp_receive_drops() -> int | None:
    """The host's count of UDP datagrams dropped at a full receive buffer since boot; None where unknown."""
    try:
        header, values = (line.split() for line in _SNMP.read_text().splitlines() if line.startswith("Udp:"))
        return int(values[header.index("RcvbufErrors")])
    except (OSError, ValueError):
        return None


class ClientMonitor:
    """Samples the event loop's wake-up lag and the CPU of this thread, this process and the host."""

    def __init__(self) -> None:
        self.lag = LatencyHistogram()
        self._task: asyncio.Task[None] | None = None
        self._t0 = self._thread0 = self._proc0 = 0.0
        self._host0: tuple[float, float] = (0.0, 0.0)
        self._evidence: ClientEvidence | None = None
        self._drops0: int | None = None
        self._sockets0: dict[Address, int] = {}

    @staticmethod
    def _host() -> tuple[float, float]:
        t = psutil.cpu_times()
        idle = t.idle + getattr(t, "iowait", 0.0)
        return sum(t) - idle, sum(t)

    def start(self) -> ClientMonitor:
        """Call from the event loop's thread (thread_time is per thread)."""
        self._t0, self._thread0, self._proc0 = time.monotonic(), time.thread_time(), time.process_time()
        self._host0 = self._host()
        self._drops0 = udp_receive_drops()
        self._sockets0 = udp_socket_drops()
        self._task = asyncio.get_running_loop().create_task(self._probe(), name="lab:client monitor")
        return self

    async def _probe(self) -> None:
        while True:
            due = time.monotonic_ns() + int(LAG_TICK * 1e9)
            await asyncio.sleep(LAG_TICK)
            self.lag.record(max(0, time.monotonic_ns() - due))

    async def stop(self) -> ClientEvidence:
        """The evidence from `start()` to the first `stop()` (later calls return the same)."""
        if self._evidence is not None:
            return self._evidence
        wall = max(1e-9, time.monotonic() - self._t0)
        loop_cpu = (time.thread_time() - self._thread0) / wall
        process_cpu = (time.process_time() - self._proc0) / wall
        busy, total = self._host()
        host = (busy - self._host0[0]) / max(1e-9, total - self._host0[1])
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        lag = self.lag.percentile(99) if self.lag.count else 0.0
        lag90 = self.lag.percentile(90) if self.lag.count else 0.0
        self._evidence = ClientEvidence(wall, loop_cpu, process_cpu, host, lag, lag90)
        return self._evidence

    def with_host_drops(self, evidence: ClientEvidence, owners: Mapping[Address, str] | None = None) -> ClientEvidence:
        """`evidence` with the kernel's UDP receive drops from `start()` to now (call it after the drain), and
        whose sockets they were at: `owners` names local addresses (the relay's, livekit-server's)."""
        now = udp_receive_drops()
        if now is None or self._drops0 is None:
            return evidence
        dropped = now - self._drops0
        where = drops_by_owner(self._sockets0, udp_socket_drops(), owners or {}) if dropped else ""
        return dataclasses.replace(evidence, host_udp_drops=dropped, udp_drops_where=where)


def classify(
    evidence: ClientEvidence,
    *,
    send_ratio: float | None,
    held_fraction: float,
    wire_ratio: float | None = None,
    lossy_path: bool = False,
    latency_p50_ms: float = math.nan,
) -> tuple[Bound, str]:
    """("client", why) when the evidence says the lab's process limited the run, else ("path", why).

    `wire_ratio`: probe datagrams the relay saw leave the sender per datagram due (None without the relay). On a
    path with loss (`lossy_path`) a shortfall is SCTP's congestion control discarding queued lossy messages (the
    path's doing: it happens above the Mathis ceiling); on a clean path it is the SDK's own limit.
    `latency_p50_ms`: the run's median latency, against which the receivers' loop lag is weighed (NaN: not weighed)."""
    reasons = []
    short = wire_ratio is not None and wire_ratio < WIRE_RATIO_MIN
    if short and not lossy_path:
        reasons.append(f"the sender's SDK put only {wire_ratio:.0%} of the accepted messages on the wire")
    if send_ratio is not None and send_ratio < SEND_RATIO_MIN and held_fraction < 0.5:
        reasons.append(f"the sender offered {send_ratio:.0%} of the requested rate without being held by the path")
    if evidence.loop_cpu >= LOOP_CPU_MAX:
        reasons.append(f"the event-loop thread was busy {evidence.loop_cpu:.0%} of the time")
    if evidence.loop_lag_p90_ms > LOOP_LAG_MAX_MS:
        reasons.append(f"arrivals waited {evidence.loop_lag_p90_ms:.0f} ms or more (p90) for the event loop")
    lag = evidence.loop_lag_p99_ms
    # both large: the typical delivery waited, not one (a late tick of a shared host leaves the p50 small)
    if min(lag, latency_p50_ms) > LOOP_LAG_MAX_MS and lag >= RECEIVER_LAG_SHARE * latency_p50_ms:
        reasons.append(
            f"the receivers' event loop woke up to {lag:.0f} ms late (p99) against a p50 latency of "
            f"{latency_p50_ms:.0f} ms: deliveries queued in the receiving process"
        )
    if evidence.process_cpu >= RECEIVER_CPU_MAX:
        reasons.append(
            f"the receiving process used {evidence.process_cpu:.2f} CPU seconds per second (SDK threads and loop)"
        )
    if evidence.host_udp_drops:
        where = f": {evidence.udp_drops_where}" if evidence.udp_drops_where else ""
        reasons.append(
            f"the kernel dropped {evidence.host_udp_drops} UDP datagrams at full receive buffers on this host"
            f"{where} (a process here did not read its socket in time; no network lost them)"
        )
    if reasons:
        return "client", "; ".join(reasons)
    why = f"loop busy {evidence.loop_cpu:.0%}, lag p90 {evidence.loop_lag_p90_ms:.1f} ms"
    if short:
        why = f"congestion control on the lossy path let {wire_ratio:.0%} of the messages' datagrams out, " + why
    if send_ratio is not None:
        why = f"sent {send_ratio:.0%} of the requested rate, " + why
    return "path", why


def sending_reasons(evidence: ClientEvidence, *, send_ratio: float | None) -> list[str]:
    """Why a process that ran senders for receivers elsewhere (a Dask worker) set the pace; empty: it did not.

    `classify` weighs the process the receivers ran in; when the senders ran in another one, a saturated sending
    loop caps the deliveries just as well, and only that process's own evidence shows it."""
    reasons = []
    if send_ratio is not None and send_ratio < SEND_RATIO_MIN:
        reasons.append(f"offered {send_ratio:.0%} of the requested rate")
    if evidence.loop_cpu >= LOOP_CPU_MAX:
        reasons.append(f"its event-loop thread was busy {evidence.loop_cpu:.0%} of the time")
    if evidence.loop_lag_p90_ms > LOOP_LAG_MAX_MS:
        reasons.append(f"its event loop woke {evidence.loop_lag_p90_ms:.0f} ms or more late (p90)")
    if evidence.process_cpu >= RECEIVER_CPU_MAX:  # the SDK's threads too: each publish crosses the FFI
        reasons.append(f"its process used {evidence.process_cpu:.2f} CPU seconds per second (SDK threads and loop)")
    return reasons
