"""The lab on Dask against a real `dask scheduler` and real `dask worker` processes on loopback (real TCP comms),
with real SDK participants in the workers and a real livekit-server (conftest's)."""

from __future__ import annotations

import asyncio
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lk_notebook.admin import ServerAPI
from lk_notebook.config import Credentials
from lk_notebook.errors import LabError
from lk_notebook.lab import measure
from lk_notebook.lab.stats import LatencyHistogram

from .dask_cluster import DaskProcesses, start_scheduler, start_worker, wait_for_workers

pytestmark = [pytest.mark.server, pytest.mark.slow, pytest.mark.timeout(300)]

pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaskProcesses]:
    tmp = tmp_path_factory.mktemp("dask")
    cluster = start_scheduler(tmp, tmp / "scheduler.log")
    try:
        for name in ("w0", "w1"):
            start_worker(cluster, name, tmp / f"{name}.log")
        wait_for_workers(cluster.address, 2)
        yield cluster
    finally:
        cluster.close()


def _workers(address: str) -> dict[str, str]:
    """Worker address -> name."""
    from distributed import Client

    with Client(address, timeout=20) as client:
        return {a: str(w["name"]) for a, w in client.scheduler_info(n_workers=-1)["workers"].items()}


async def test_fan_out_to_6_receivers_over_two_workers(dask_cluster: DaskProcesses) -> None:
    results = await measure(modes="reliable", sizes=200, rates=50, duration=1.0, receivers=6,
                            cluster=dask_cluster.address, progress=False)  # fmt: skip
    rows = results.rows
    workers = await asyncio.to_thread(_workers, dask_cluster.address)
    # one row per worker, both workers used, each row names its worker
    assert sorted(r["worker"] for r in rows) == sorted(workers), rows
    assert all(r["worker_status"] == "ok" for r in rows), rows
    assert sum(r["receivers"] for r in rows) == 6 and all(r["receivers"] == 3 for r in rows)
    sent = rows[0]["sent"]
    assert sent >= 45 and all(r["sent"] == sent for r in rows)
    # reliable on loopback: every message counted at every receiver, per row and per receiver
    assert all(r["received"] == sent * r["receivers"] and r["lost"] == 0 for r in rows), rows
    peers = [p for run in results.runs for p in run.per_receiver]
    assert len({p["identity"] for p in peers}) == 6 and all(p["received"] == sent for p in peers), peers
    assert {p["worker"] for p in peers} == set(workers)  # type: ignore[typeddict-item]
    # one host: the latency is on the one monotonic clock; the measured offsets (of clocks that are in fact the
    # same) lie within their bounds, which is what the NTP-style bound promises
    for r in rows:
        assert r["latency_bound_ms"] == 0.0 and r["latency_trusted"] and r["clock"].startswith("monotonic")
        assert abs(r["clock_offset_ms"]) <= r["clock_bound_ms"] + 0.001, r
        assert 0 < r["latency_p50_ms"] <= r["latency_p99_ms"] < 1000
        assert r["bound"] in ("path", "client") and r["bound_reason"]
        # one start for all: every worker began within 10 % of the run of the shared start time
        assert r["start_late_ms"] < 100, r


async def test_counts_equal_the_in_process_run_and_latency_agrees(
    dask_cluster: DaskProcesses, credentials: Credentials
) -> None:
    common = {"modes": "reliable", "sizes": 200, "rates": 60, "count": 180, "duration": None, "receivers": 3,
              "progress": False}  # fmt: skip
    # Both at once, so that both meet the same host load (on this shared 2-core machine one 1 s run alone varied
    # 4-16 ms at p50 from one minute to the next): the in-process run starts once the workers have joined (their
    # start is 3 s later), each sends for 3 s.
    there_task = asyncio.ensure_future(measure(**common, cluster=dask_cluster.address))  # type: ignore[arg-type]
    await _room_with(credentials, 4, timeout=90)
    here = await measure(**common)  # type: ignore[arg-type]
    there = await there_task
    row = here.rows[0]
    assert (row["sent"], row["received"]) == (180, 540)
    assert sum(r["received"] for r in there.rows) == row["received"] and all(r["sent"] == 180 for r in there.rows)
    lat_here = here.runs[0].stats.latency
    lat_there = LatencyHistogram()
    for run in there.runs:
        lat_there.merge(run.stats.latency)
    n, m = lat_here.count, lat_there.count
    assert (n, m) == (540, 540)

    # The medians agree within a tolerance from the samples and the instrument: each median's distribution-free
    # 99.9 % confidence interval (the order statistics of ranks n/2 -+ 3.29 sqrt(n)/2, from the binomial(n, 1/2)
    # count below the median; ~ the 38th-62nd percentiles for n = 540), widened by what the instrument adds on
    # that side (the row's loop lag p99: how long a probe could wait for its event loop, in-process one loop runs
    # the sender and all receivers, on Dask each worker its own), must overlap. A two-sample KS test of the whole
    # distributions is too strict here: measured, D = 0.17-0.35 against a critical 0.119 (alpha 0.001), the
    # in-process median 0.5-1.1 ms higher, which is that shared loop, not the path.
    def interval(lat: LatencyHistogram, lag_ms: float) -> tuple[float, float]:
        half = 3.29 * math.sqrt(lat.count) / 2
        lo = lat.percentile(100 * max(1.0, lat.count / 2 - half) / lat.count)
        hi = lat.percentile(100 * min(lat.count, lat.count / 2 + half) / lat.count)
        return lo - lag_ms, hi + lag_ms

    lo_a, hi_a = interval(lat_here, row["loop_lag_p99_ms"])
    lo_b, hi_b = interval(lat_there, max(r["loop_lag_p99_ms"] for r in there.rows))
    assert lo_a <= hi_b and lo_b <= hi_a, ((lo_a, hi_a), (lo_b, hi_b))
    # Measured here (load average 9 on 2 cores): the unwidened intervals were 4.60-5.50 vs 4.20-5.18 ms in one
    # run and 4.98-5.55 vs 5.89-7.79 ms in another, with loop lags p99 of 25-92 ms: on such a host the widening
    # is most of the tolerance; on a quiet one (lag p99 ~1-2 ms) the intervals themselves decide.


async def _room_with(credentials: Credentials, participants: int, timeout: float) -> str:
    async with ServerAPI(credentials) as api:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rooms = [r for r in await api.list_rooms() if r.name.startswith("lk-lab-dask-")]
            for r in rooms:
                if r.num_participants >= participants:
                    return r.name
            await asyncio.sleep(0.2)
    raise AssertionError("the Dask workers never joined")


async def test_worker_killed_mid_run_is_marked_failed(credentials: Credentials, tmp_path: Path) -> None:
    cluster = start_scheduler(tmp_path, tmp_path / "scheduler.log")
    try:
        for name in ("k0", "k1"):
            start_worker(cluster, name, tmp_path / f"{name}.log")
        await asyncio.to_thread(wait_for_workers, cluster.address, 2)
        names = await asyncio.to_thread(_workers, cluster.address)
        sender_worker = sorted(names)[0]  # the sender runs on the first worker (sorted addresses)
        victim = names[sorted(names)[1]]
        t0 = time.monotonic()
        run = asyncio.ensure_future(measure(modes="reliable", sizes=200, rates=20, duration=8.0, receivers=4,
                                            cluster=cluster.address, progress=False))  # fmt: skip
        await _room_with(credentials, 5, timeout=90)
        await asyncio.sleep(4.0)  # into the sending (the start is 3 s after everyone joined): not a proof
        await asyncio.to_thread(cluster.kill, cluster.workers[victim])
        results = await asyncio.wait_for(run, 120)
        elapsed = time.monotonic() - t0
    finally:
        cluster.close()
    by_worker = {r["worker"]: r for r in results.rows}
    assert len(by_worker) == 2, results.rows
    dead = next(r for w, r in by_worker.items() if w != sender_worker)
    alive = by_worker[sender_worker]
    assert dead["worker_status"].startswith("failed"), dead
    assert dead["received"] == 0 and dead["bound"] == "client" and math.isnan(dead["latency_p50_ms"])
    assert alive["worker_status"] == "ok" and alive["received"] == alive["sent"] * alive["receivers"] > 0, alive
    assert elapsed < 100


async def test_unreachable_scheduler_fails_fast() -> None:
    t0 = time.monotonic()
    with pytest.raises(LabError, match=r"no Dask scheduler answered at tcp://127\.0\.0\.1:9"):
        await measure(modes="reliable", sizes=200, rates=10, duration=1, cluster="tcp://127.0.0.1:9", progress=False)
    assert time.monotonic() - t0 < 10


def _venv_without_livekit() -> Path:
    """A venv without system site packages, with dask[distributed] only (cached between runs)."""
    import distributed

    venv = Path.home() / ".cache" / "lk_notebook" / f"dask-only-venv-{distributed.__version__}"
    python = venv / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"distributed=={distributed.__version__}",
                        f"dask=={distributed.__version__}"], check=True, timeout=240)  # fmt: skip
    return python


async def test_worker_without_livekit_is_named(tmp_path: Path) -> None:
    python = await asyncio.to_thread(_venv_without_livekit)
    check = await asyncio.to_thread(subprocess.run, [str(python), "-c", "import livekit"], capture_output=True)
    assert check.returncode != 0  # the worker's environment really lacks it
    cluster = start_scheduler(tmp_path, tmp_path / "scheduler.log")
    try:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        start_worker(cluster, "bare", tmp_path / "bare.log", python=str(python), env=env)
        await asyncio.to_thread(wait_for_workers, cluster.address, 1)
        with pytest.raises(LabError, match=r"cannot import livekit\b") as err:
            await measure(modes="reliable", sizes=200, rates=10, duration=1, cluster=cluster.address,
                          progress=False)  # fmt: skip
        assert "pip install" in str(err.value)
    finally:
        cluster.close()


def test_bench_cli_with_scheduler(dask_cluster: DaskProcesses, tmp_path: Path) -> None:
    out = tmp_path / "rows.json"
    proc = subprocess.run(
        [sys.executable, "-m", "lk_notebook.lab.cli", "--modes", "reliable", "--sizes", "200", "--rate", "50",
         "--duration", "1", "--receivers", "6", "--scheduler", dask_cluster.address, "--json", str(out), "--quiet"],
        capture_output=True, text=True, timeout=200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    assert len(rows) == 2 and len({r["worker"] for r in rows}) == 2, rows
    assert sum(r["receivers"] for r in rows) == 6
    assert all(r["worker_status"] == "ok" and r["received"] == r["sent"] * r["receivers"] > 0 for r in rows), rows
    assert "worker_status" in proc.stdout and "latency_bound_ms" in proc.stdout
    # the secret never reaches the output
    secret = os.environ.get("LIVEKIT_API_SECRET", "")
    assert secret and secret not in proc.stdout + proc.stderr + out.read_text()


async def test_measured_offsets_correct_wall_clock_latency(
    dask_cluster: DaskProcesses, credentials: Credentials
) -> None:
    """As across hosts: the host's shared monotonic clock is not used, so the receivers on the other worker read
    latency on wall clocks corrected by the measured offsets, and carry both bounds."""
    from contextlib import AsyncExitStack

    from lk_notebook.lab.clocks import trusted
    from lk_notebook.lab.dask_lab import cluster_client, run_on_cluster
    from lk_notebook.lab.probe import Mode
    from lk_notebook.lab.relay import Impairment
    from lk_notebook.lab.spec import RunSpec

    seen = {}
    async with AsyncExitStack() as stack:
        client = await cluster_client(stack, dask_cluster.address)
        spec = RunSpec(Mode.RELIABLE, 200, 50.0, 1.0, None, Impairment())
        runs = await run_on_cluster(client, credentials, spec, senders=1, receivers=4, shared_host_clock=False,
                                    on_clocks=seen.update)  # fmt: skip
    rows = {r.row["worker"]: r.row for r in runs}
    assert set(rows) == set(seen) and len(rows) == 2
    sender_worker = sorted(rows)[0]
    exact, wall = rows[sender_worker], next(r for w, r in rows.items() if w != sender_worker)
    assert exact["clock"].startswith("monotonic") and exact["latency_bound_ms"] == 0.0  # same process as sender
    bound = seen[sender_worker].estimate.bound_ms + seen[wall["worker"]].estimate.bound_ms
    assert wall["clock"].startswith("wall, offset-corrected") and wall["latency_bound_ms"] == pytest.approx(
        bound, abs=1e-3
    )
    assert wall["latency_trusted"] == trusted(bound_ms=wall["latency_bound_ms"], p50_ms=wall["latency_p50_ms"])
    assert ("too wide" in wall["clock"]) == (not wall["latency_trusted"])
    assert wall["received"] == wall["sent"] * 2 and 0 < wall["latency_p50_ms"] < 1000
    print("measured clocks:", {w: (c.estimate.offset_ms, c.estimate.bound_ms) for w, c in seen.items()},
          "wall-clock row:", wall["latency_p50_ms"], wall["latency_bound_ms"], wall["clock"])  # fmt: skip


async def test_attributes_at_scale_converge_to_the_server_view(
    dask_cluster: DaskProcesses, credentials: Credentials
) -> None:
    from lk_notebook.lab.dask_attributes import measure_attributes_at_scale

    rows = await measure_attributes_at_scale(participants=[4], rate=2.0, duration=1.5, cluster=dask_cluster.address,
                                             credentials=credentials, settle_timeout=20)  # fmt: skip
    (row,) = rows
    assert (row["participants"], row["changes"], row["updates_s"]) == (4, 3, 8.0)
    # the whole row as text: pytest would shorten a dict, and `stale_views` says what a view lacked
    assert row["not_converged"] == 0 and row["set_errors"] == 0 and not row["failed_workers"], str(row)
    assert row["server_final"], str(row)  # the server listed everyone's last value, which every view reached
    assert 0 <= row["converged_p50_ms"] <= row["converged_max_ms"] < 20_000
    assert row["stale_views"] == ""
