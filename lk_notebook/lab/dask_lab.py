"""The lab's participants on Dask: the coordinator (this process) owns the room and the server; workers join.

Example::

    results = await measure(modes="reliable", sizes=200, rates=50, duration=2, receivers=20, cluster="local")
    results.frame[["worker", "received", "latency_p50_ms", "latency_bound_ms", "bound"]]

`cluster`: `"local"` (a `LocalCluster` of `workers` processes, one thread each, closed afterwards), a
`distributed.Client`, or a scheduler address `"tcp://host:port"`. Per run, the coordinator measures every worker's
clock offset (`lk_notebook.lab.clocks`), spreads the receivers (and senders) over the workers round-robin, submits
one task per worker pinned to it (`lk_notebook.lab.dask_worker`), publishes a start time once all have joined, and
builds one `ResultRow` per worker with receivers: its deliveries, its latency on the clock it could use and that
clock's bound, the client evidence (`bound`: the worker's loop lag and CPU, receiving included, and the loops of the
workers that ran its senders; `lk_notebook.lab.dask_rows`), and `worker`.
A worker that dies or overruns gives a row marked failed (`worker_status`), the others are kept.

The workers get the server's URL, key and secret in the task (the secret is never in a repr or a log line) and
need `livekit` and `lk_notebook` importable; a worker without them fails the run with the package's name.
"""

from __future__ import annotations

import asyncio
import math
import secrets
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from ..config import Credentials
from ..errors import LabError
from .clocks import ClockSample, WorkerClock, best_offset, boot_id
from .dask_rows import WorkerPeerStats, results
from .dask_worker import (
    HARD_DRAIN_S,
    START_LEAD_S,
    SenderPlan,
    WorkerPlan,
    WorkerReport,
    abort_event,
    ready_queue,
    run_participants,
    start_variable,
)
from .packets import RunResult
from .probe import Mode, new_run_id
from .spec import RunSpec

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "CONNECT_TIMEOUT", "ClusterLike", "WorkerClock", "WorkerPeerStats", "check_workers", "cluster_client",
    "measure_clocks", "run_on_cluster", "run_tasks",
]  # fmt: skip

ClusterLike = Any
"""None, "local", a `distributed.Client` or a scheduler address "tcp://host:port" (Any: dask is optional)."""

CONNECT_TIMEOUT = 5.0
"""Seconds to reach a scheduler before saying it is unreachable."""
CLOCK_SAMPLES = 8
REQUIRED = ("livekit", "lk_notebook")
# A fixed expression evaluated on each worker: it must run where lk_notebook itself may not import (that is
# what it checks), so it cannot be a function of this package pickled by reference.
_MISSING = f"[m for m in {REQUIRED!r} if __import__('importlib.util').util.find_spec(m) is None]"


async def cluster_client(
    stack: AsyncExitStack, cluster: ClusterLike, *, workers: int = 2, timeout: float = CONNECT_TIMEOUT
) -> Client:
    """A Client for `cluster` (closed with `stack` when this made it)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise LabError("the lab on Dask needs dask[distributed]: pip install 'lk-notebook[lab]'") from None
    if isinstance(cluster, Client):
        return cluster
    if cluster == "local":
        if workers < 1:
            raise LabError(f"workers must be >= 1, got {workers}")
        local = await asyncio.to_thread(
            LocalCluster, n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        stack.push_async_callback(asyncio.to_thread, local.close)  # closing blocks for seconds
        client = await asyncio.to_thread(Client, local)
        stack.push_async_callback(asyncio.to_thread, client.close)
        return client
    if isinstance(cluster, str) and cluster.startswith("tcp://"):
        try:
            client = await asyncio.wait_for(asyncio.to_thread(Client, cluster, timeout=timeout), timeout + 2)
        except (OSError, TimeoutError) as exc:
            raise LabError(f"no Dask scheduler answered at {cluster} within {timeout:g} s ({exc})") from None
        stack.push_async_callback(asyncio.to_thread, client.close)
        return client
    raise LabError(f"cluster must be None, 'local', a distributed.Client or 'tcp://host:port', got {cluster!r}")


def _worker_addresses(client: Client) -> list[str]:
    return sorted(client.scheduler_info(n_workers=-1)["workers"])


def check_workers(client: Client) -> list[str]:
    """The workers' addresses; LabError naming the package a worker cannot import."""
    workers = _worker_addresses(client)
    if not workers:
        raise LabError("the Dask cluster has no workers")
    missing = client.run(eval, _MISSING)
    bad = {w: m for w, m in missing.items() if m}
    if bad:
        w, m = next(iter(bad.items()))
        raise LabError(
            f"Dask worker {w} cannot import {', '.join(m)} ({len(bad)} of {len(workers)} workers): "
            f"pip install 'lk-notebook[lab]' (it brings livekit) in the workers' environment"
        )
    return workers


def measure_clocks(client: Client, workers: list[str], samples: int = CLOCK_SAMPLES) -> dict[str, WorkerClock]:
    """Each worker's offset (minimum-RTT round trip through Dask) and boot id."""
    boots = client.run(boot_id)
    out = {}
    for w in workers:
        taken = []
        for _ in range(samples):
            t0 = time.time_ns()
            t1 = client.run(time.time_ns, workers=[w])[w]
            taken.append(ClockSample(t0, int(t1), time.time_ns()))
        out[w] = WorkerClock(w, best_offset(taken), str(boots.get(w, "")))
    return out


def _failed(why: str) -> str:
    return f"failed: {why}"


async def run_on_cluster(
    client: Client,
    credentials: Credentials,
    spec: RunSpec,
    *,
    senders: int,
    receivers: int,
    shared_host_clock: bool = True,
    join_timeout: float | None = None,
    on_clocks: Callable[[dict[str, WorkerClock]], None] | None = None,
) -> list[RunResult]:
    """One run on the cluster: one RunResult per worker with receivers (see the module docstring)."""
    if spec.mode not in (Mode.LOSSY, Mode.RELIABLE):
        raise LabError("the lab on Dask measures data messages: use mode lossy or reliable")
    if spec.impairment.active:
        raise LabError("the lab on Dask runs unimpaired: the relay's path proof covers this process's sessions only")
    if spec.duration is None and spec.count is None:
        raise LabError("give a duration or a count")
    workers = await asyncio.to_thread(check_workers, client)
    if join_timeout is None:
        # 0.3-1.5 s per join on the loaded 2-core machine, one at a time; a worker now joins JOIN_CONCURRENCY at
        # once, and the slack stays for a busy host (200 receivers took 94 s to join over 2 workers)
        join_timeout = 60.0 + 2.0 * math.ceil((senders + receivers) / len(workers))
    clocks = await asyncio.to_thread(measure_clocks, client, workers)
    if on_clocks is not None:
        on_clocks(clocks)
    tag = secrets.token_hex(4)
    room = f"lk-lab-dask-{tag}"
    plans = _plans(credentials, spec, tag, room, workers, clocks, senders, receivers, shared_host_clock, join_timeout)
    run_s = spec.duration if spec.duration is not None else spec.limit() / (spec.rate or 100.0)
    reports = await run_tasks(client, tag, run_participants, {p.worker: p for p in plans}, join_timeout, run_s)
    return results(spec, plans, clocks, reports)


async def run_tasks(
    client: Client, tag: str, fn: Callable[[Any], Any], plans: dict[str, Any], join_timeout: float, run_s: float
) -> dict[str, Any]:
    """`fn(plan)` on each plan's worker (pinned there, never retried elsewhere), started together once all are
    ready (`lk_notebook.lab.dask_worker.run_side`); by worker, its report or why it failed (a str)."""
    futures: dict[str, Any] = {
        w: client.submit(fn, p, workers=[w], allow_other_workers=False, pure=False, key=f"lk-lab-{tag}-{i}")
        for i, (w, p) in enumerate(plans.items())
    }
    import distributed

    dd: Any = distributed  # untyped: its Queue and Variable
    start_var = dd.Variable(start_variable(tag), client=client)
    start_event = dd.Event(start_variable(tag), client=client)
    abort = dd.Event(abort_event(tag), client=client)
    try:
        await asyncio.to_thread(_wait_ready, client, dd.Queue(ready_queue(tag), client=client), futures, join_timeout)
        start_ns = time.time_ns() + int(START_LEAD_S * 1e9)
        await asyncio.to_thread(start_var.set, start_ns)
        await asyncio.to_thread(start_event.set)
        out: dict[str, Any] = await asyncio.to_thread(
            _collect, client, futures, START_LEAD_S + run_s + HARD_DRAIN_S + 30.0
        )
        return out
    finally:
        if not all(f.done() for f in futures.values()):
            # a cancelled task keeps its worker thread: the abort makes a joining or waiting one return
            await asyncio.to_thread(abort.set)
            for f in futures.values():
                f.cancel()
        await asyncio.to_thread(start_var.delete)


def _plans(
    creds: Credentials, spec: RunSpec, tag: str, room: str, workers: list[str], clocks: dict[str, WorkerClock],
    n_senders: int, n_receivers: int, shared: bool, timeout: float,
) -> list[WorkerPlan]:  # fmt: skip
    send = tuple(
        SenderPlan(f"lab-sender-{tag}-{j}", new_run_id(), w, clocks[w].estimate.offset_ns, clocks[w].boot_id)
        for j in range(n_senders)
        for w in [workers[j % len(workers)]]
    )
    recv = [f"lab-receiver-{tag}-{i}" for i in range(n_receivers)]
    # receivers start on the worker after the last sender's: a sender's worker carries fewer receivers, and one
    # sender and one receiver on two workers run in two processes
    first = n_senders % len(workers)
    plans = []
    for k, w in enumerate(workers):
        mine = tuple(recv[(k - first) % len(workers) :: len(workers)])
        if not mine and not any(s.worker == w for s in send):
            continue
        plans.append(WorkerPlan(
            url=creds.url, api_key=creds.api_key, api_secret=creds.api_secret, room=room, tag=tag,
            mode=spec.mode.value, size=spec.size, rate=spec.rate, duration=spec.duration, count=spec.count,
            senders=send, receivers=mine, all_receivers=tuple(recv), worker=w, offset_ns=clocks[w].estimate.offset_ns,
            boot_id=clocks[w].boot_id, shared_host_clock=shared, timeout=timeout,
        ))  # fmt: skip
    return plans


def _wait_ready(client: Client, queue: Any, futures: dict[str, Any], timeout: float) -> None:
    """Until every worker has joined its participants; a task failing first fails the run with its error."""
    deadline = time.monotonic() + timeout
    # polled: a blocking get that times out makes the scheduler log an error
    while (ready := int(queue.qsize())) < len(futures):
        for w, f in futures.items():
            if f.status == "error":
                raise LabError(f"worker {w} failed while joining: {f.exception()!r}")
        if time.monotonic() > deadline:
            raise LabError(f"only {ready} of {len(futures)} workers joined within {timeout:g} s")
        time.sleep(0.2)


def _collect(client: Any, futures: dict[str, Any], timeout: float) -> dict[str, WorkerReport | str]:
    """Each worker's report, or why not: an error, the worker gone from the cluster, or overrunning `timeout`."""
    deadline = time.monotonic() + timeout
    out: dict[str, WorkerReport | str] = {}
    while len(out) < len(futures):
        alive = set(client.run_on_scheduler(_scheduler_workers))
        for w, f in futures.items():
            if w in out:
                continue
            if f.status == "finished":
                out[w] = f.result()
            elif f.status in ("error", "cancelled"):
                out[w] = _failed(f"{f.status}: {f.exception()!r}" if f.status == "error" else f.status)
            elif w not in alive:
                out[w] = _failed("the worker left the cluster mid-run")
                f.cancel()
            elif time.monotonic() > deadline:
                out[w] = _failed(f"no result within {timeout:.0f} s")
                f.cancel()
        time.sleep(0.2)
    return out


def _scheduler_workers(dask_scheduler: Any) -> list[str]:
    return list(dask_scheduler.workers)
