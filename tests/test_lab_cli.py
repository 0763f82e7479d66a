"""`lk-notebook bench` (lk_notebook.lab.cli), run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import env_without_livekit

pytestmark = [pytest.mark.timeout(180)]


def bench(*args: str, remote: bool) -> tuple[subprocess.CompletedProcess[str], float]:
    env = dict(os.environ)
    if not remote:
        env.pop("LIVEKIT_URL", None)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "lk_notebook.lab.cli", *args], env=env, capture_output=True, text=True, timeout=170
    )
    return proc, time.monotonic() - t0


def test_impairment_against_remote_server_is_refused() -> None:
    assert os.environ.get("LIVEKIT_URL")  # conftest's server
    proc, _ = bench("--modes", "lossy", "--loss", "0.1", remote=True)
    assert proc.returncode == 2
    assert "LIVEKIT_URL is set" in proc.stderr and "cannot be impaired" in proc.stderr
    assert "Traceback" not in proc.stderr
    # ...and it says exactly what to do instead, naming a loopback server as such, not as "remote".
    assert "bench --local" in proc.stderr and "on this machine" in proc.stderr and "remote" not in proc.stderr


@pytest.mark.server
def test_json_dash_writes_the_rows_to_stdout_and_the_table_to_stderr(tmp_path: Path) -> None:
    args = ("--modes", "reliable", "--sizes", "200", "--rate", "200", "--duration", "0.5", "--quiet", "--json", "-")
    proc, _ = bench(*args, remote=True)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)  # stdout is JSON and nothing else
    assert len(rows) == 1 and rows[0]["mode"] == "reliable" and rows[0]["received"] == rows[0]["sent"] > 0
    assert "reliable" in proc.stderr  # the table, for a person
    assert not (Path.cwd() / "-").exists() and not (tmp_path / "-").exists()
    proc, _ = bench(*args[:-1], remote=True)  # `--json` alone means the same
    assert proc.returncode == 0 and json.loads(proc.stdout)[0]["mode"] == "reliable", proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--sizes", "70000"], "over the lossy limit"),
        (["--duration", "0"], "--duration must be a positive"),
        (["--rate", "-5"], "rate must be a positive"),
        (["--modes", "pigeon"], "unknown mode"),
        (["--loss", "1.5"], "loss must be a probability"),
        (["--workers", "0"], "--workers must be >= 1"),
        (["--scheduler", "localhost:8786"], "--scheduler must be an address tcp://HOST:PORT"),
        (["--workers", "2", "--scheduler", "tcp://127.0.0.1:8786"], "not both"),
    ],
)
def test_bad_parameters_fail_before_anything_is_sent(args: list[str], message: str, tmp_path: Path) -> None:
    # Proof that no server was started: with no LIVEKIT_* set the lab would start its own local server, and
    # LIVEKIT_SERVER_BIN points at a tripwire that records being run (a real start would fail without it too,
    # but only after the tripwire fired). With no URL and no server, nothing could have been joined either.
    tripwire = tmp_path / "livekit-server"
    fired = tmp_path / "started"
    tripwire.write_text(f'#!/bin/sh\necho "$@" >> {fired}\nexit 3\n')
    tripwire.chmod(0o755)
    env = dict(env_without_livekit(), LIVEKIT_SERVER_BIN=str(tripwire))
    proc = subprocess.run(
        [sys.executable, "-m", "lk_notebook.lab.cli", *args], env=env, capture_output=True, text=True, timeout=170
    )
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not fired.exists(), f"a server was started before the bad parameter was refused: {fired.read_text()}"


@pytest.mark.server
def test_local_run_with_impairment_writes_json_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    png = tmp_path / "bench.png"
    proc, _ = bench("--modes", "lossy,reliable", "--sizes", "200", "--rate", "100", "--duration", "0.5",
                    "--loss", "0.05", "--delay", "5", "--json", str(out), "--plot", str(png), remote=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "loss_rate" in proc.stdout
    rows = json.loads(out.read_text())
    assert [r["mode"] for r in rows] == ["lossy", "reliable"]
    for key in ("mode", "size", "rate", "loss_setting", "delay_setting", "sent", "received", "loss_rate",
                "duplicates", "out_of_order", "throughput_msgs_s", "throughput_bytes_s", "latency_p50_ms",
                "latency_p95_ms", "latency_p99_ms"):  # fmt: skip
        assert key in rows[0]
    assert rows[0]["loss_setting"] == 0.05 and rows[0]["delay_setting"] == 5.0
    assert png.read_bytes().startswith(b"\x89PNG")
