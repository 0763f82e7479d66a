"""The multi-process engine: worker processes, each owning its own rooms (a sender and a receiver), run at once.

One Python process tops out where its event loop and the SDK's FFI round trips do (bench/instrument.py measures
it). Workers run in parallel on the machine's cores; the coordinator starts them on one deadline of the host's
`time.monotonic` (CLOCK_MONOTONIC: one clock for every process on a Linux host, so their start and latency
figures are comparable), then merges their rows: throughput adds up, latency histograms merge.

Each worker measures in its own room, so no receiver pays for another worker's probes: the sum is the engine's
ceiling for that many independent sender/receiver pairs on this server.

Example::

    result = await measure_parallel(server.credentials(), workers=2, mode="reliable", size=200, duration=3)
    result.throughput_msgs_s, result.latency_p99_ms, [w["throughput_msgs_s"] for w in result.rows]
"""

from __future__ import annotations

import asyncio
import multiprocessing
import secrets
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from ..config import Credentials
from ..errors import LabError
from .rows import ResultRow
from .stats import LatencyHistogram

__all__ = ["ParallelResult", "measure_parallel"]


@dataclass(frozen=True, slots=True)
class ParallelResult:
    """What all workers measured together."""

    workers: int
    throughput_msgs_s: float
    """Deliveries per second, summed over workers."""
    offered_msgs_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    rows: list[ResultRow]
    """Each worker's own row (its `bound` says whether that worker's process was the limit)."""
    start_spread_s: float
    """Largest difference between the workers' start times, on the host's monotonic clock."""


def _worker(url: str, key: str, secret: str, room: str, barrier: Any, run: dict[str, Any]) -> tuple[Any, ...]:
    """In a worker process: join, warm up, wait for every worker at the barrier, measure; return the row, the
    latency histogram's parts and the start time on the host's monotonic clock."""

    async def main() -> tuple[Any, ...]:
        from .lab import Lab

        async with Lab(url=url, api_key=key, api_secret=secret, room=room) as lab:
            await lab.run(**{**run, "duration": 0.3})  # warm: channels open, first-run costs paid
            await asyncio.to_thread(barrier.wait, 120)
            started = time.monotonic()
            r = await lab.run(**run)
            h = r.stats.latency
            return dict(r.row), list(h.counts), h.sum_ns, h.count, h.min_ns, h.max_ns, started

    return asyncio.run(main())


async def measure_parallel(
    credentials: Credentials,
    *,
    workers: int,
    mode: str = "reliable",
    size: int = 200,
    duration: float = 3.0,
    rate: float | None = None,
) -> ParallelResult:
    """Run `workers` processes, each a sender and a receiver in a room of its own, sending `mode` probes of
    `size` bytes at `rate` (None: as fast as it can) for `duration` s from one common start (a barrier once all
    have joined and warmed up); merge the results."""
    if workers < 1:
        raise LabError(f"workers must be >= 1, got {workers}")
    base = f"lk-engine-{secrets.token_hex(3)}"
    run = {"mode": mode, "size": size, "rate": rate, "duration": duration}
    loop = asyncio.get_running_loop()
    # spawn, not fork: a forked child would inherit this process's SDK runtime threads in an unknown state
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager, ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        barrier = manager.Barrier(workers)
        creds = (credentials.url, credentials.api_key, credentials.api_secret)
        futures = [loop.run_in_executor(pool, _worker, *creds, f"{base}-{i}", barrier, run) for i in range(workers)]
        parts = await asyncio.gather(*futures)
    hist = LatencyHistogram()
    rows: list[ResultRow] = []
    starts = [p[-1] for p in parts]
    for row, counts, sum_ns, n, lo, hi, _ in parts:
        part = LatencyHistogram()
        for i, c in enumerate(counts):
            part.counts[i] = c
        part.sum_ns, part.count, part.min_ns, part.max_ns = sum_ns, n, lo, hi
        hist.merge(part)
        rows.append(row)
    if max(starts) - min(starts) > 0.1 * duration:
        # the sum of rates is a ceiling only if the workers ran at the same time
        raise LabError(f"the workers started {max(starts) - min(starts):.2f} s apart (more than 10 % of the run)")
    return ParallelResult(
        workers=workers,
        throughput_msgs_s=sum(r["throughput_msgs_s"] for r in rows),
        offered_msgs_s=sum(r["offered_msgs_s"] for r in rows),
        latency_p50_ms=hist.percentile(50),
        latency_p99_ms=hist.percentile(99),
        rows=rows,
        start_spread_s=max(starts) - min(starts),
    )
