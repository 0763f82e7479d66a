"""A real Dask cluster for tests: `dask scheduler` and `dask worker` processes on loopback (real TCP comms).

Every process is started by the test and killed in `close()` (SIGKILL to its process group after a grace).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["DaskProcesses", "start_scheduler", "start_worker", "wait_for_workers"]


@dataclass
class DaskProcesses:
    address: str
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    """By worker name."""

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        for proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill(proc)


def start_scheduler(tmp: Path, log: Path) -> DaskProcesses:
    file = tmp / "scheduler.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
         str(file), "--no-dashboard"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    cluster = DaskProcesses("", [proc])
    deadline = time.monotonic() + 60
    while not file.exists() or not file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            cluster.close()
            raise RuntimeError(f"dask scheduler did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)
    cluster.address = json.loads(file.read_text())["address"]
    return cluster


def start_worker(
    cluster: DaskProcesses, name: str, log: Path, *, python: str = sys.executable, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """One worker process (no nanny: killing it kills the worker, nothing restarts it), one thread."""
    proc = subprocess.Popen(
        [python, "-m", "dask", "worker", cluster.address, "--nworkers", "1", "--nthreads", "1", "--no-nanny",
         "--name", name, "--host", "127.0.0.1", "--no-dashboard"],
        stdout=log.open("ab"), stderr=subprocess.STDOUT, start_new_session=True, env=env,
    )  # fmt: skip
    cluster.procs.append(proc)
    cluster.workers[name] = proc
    return proc


def wait_for_workers(address: str, n: int, timeout: float = 90.0) -> None:
    from distributed import Client

    with Client(address, timeout=30) as client:
        client.wait_for_workers(n, timeout=timeout)
