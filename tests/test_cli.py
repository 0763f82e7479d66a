"""`lk-notebook` options no other test runs: --version, `server --relay/--port` (and what --nodes refuses),
`install-server --method/--force`, `lab --notebooks` and its error, and the bench flags --csv, --baseline, --jitter,
--bandwidth, --rounds, --receivers, --senders and --local.

`server` and `bench` run as real subprocesses against real livekit-servers. The others call `lk_notebook.cli.main`
in this process (what the `lk-notebook` entry point calls; a subprocess costs ~5 s of imports on a loaded machine).

`install-server` runs against a fake `go` on PATH that records its arguments, and `lab` against a fake `jupyter`
module that records its command line: those tests claim our command lines, not LiveKit or JupyterLab behaviour.
The `server` and `bench` tests run real livekit-servers.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import lk_notebook as lk
from lk_notebook import install
from lk_notebook.cli import main
from lk_notebook.process import free_port

from .cli_server import start_cli_server

pytestmark = [pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parent.parent


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """`python -m lk_notebook.cli ARGS` as a subprocess, with this checkout first on its path."""
    base = dict(os.environ) if env is None else env
    return subprocess.run(
        [sys.executable, "-m", "lk_notebook.cli", *args],
        env={**base, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), base.get("PYTHONPATH", "")]))},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Iterator[Callable[..., Ran]]:
    """`run("install-server", "--force")`: `lk_notebook.cli.main` in this process; its exit code and output. The
    signal handlers some commands install (to stop their children on Ctrl-C) are put back afterwards."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def call(*args: str) -> Ran:
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: --version, and refused arguments
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        return Ran(code, out, err)

    try:
        yield call
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_version(run: Callable[..., Ran]) -> None:
    ran = run("--version")
    assert ran.code == 0 and ran.out.strip() == f"lk_notebook {lk.__version__}", ran


# -- server ----------------------------------------------------------------------------------------------------------
@pytest.mark.server
def test_server_relay_on_a_chosen_port() -> None:
    port = free_port(socket.SOCK_STREAM)
    proc = start_cli_server("--relay", "--port", str(port), "--json", stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        assert line["url"] == f"ws://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as resp:
            assert resp.status == 200
        # The relay layout: every host candidate is advertised at the relay's address, which only the lab's
        # relay serves (livekit-facts.md); the server logs that node IP at start. (--json prints no log path: the
        # log is found by its name, which carries the port.)
        deadline = time.monotonic() + 10
        while '"nodeIP": "127.0.0.2"' not in (log := _server_log(port)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert '"nodeIP": "127.0.0.2"' in log, log[-2000:]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert proc.returncode == 0


def _server_log(port: int) -> str:
    """The log of the LocalServer on `port` (in one of the temporary folders LocalServer makes), or ""."""
    found = glob.glob(os.path.join(tempfile.gettempdir(), "lk_notebook-server-*", f"livekit-server-{port}.log"))
    return Path(found[0]).read_text() if found else ""


def test_server_nodes_refuses_relay_port_and_zero(run: Callable[..., Ran]) -> None:
    for args, message in (
        (["--nodes", "2", "--relay"], "--nodes takes neither --relay nor --port"),
        (["--nodes", "2", "--port", "7880"], "--nodes takes neither --relay nor --port"),
        (["--nodes", "0"], "--nodes must be at least 1"),
    ):
        ran = run("server", *args)
        assert ran.code == 2 and message in ran.err, (args, ran)


# -- install-server --------------------------------------------------------------------------------------------------
FAKE_GO = """#!/bin/sh
printf '%s\\n' "$@" > "{log}"
printf "#!/bin/sh\\necho fake\\n" > "$GOBIN/server"
chmod +x "$GOBIN/server"
"""


def _install_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, *, found: Path | None) -> Path:
    """PATH with a fake `go` (it records its arguments in the returned file) and an empty cache; with `found`,
    LIVEKIT_SERVER_BIN points at that binary (a server found elsewhere)."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "go-argv"
    go = bindir / "go"
    go.write_text(FAKE_GO.format(log=log))
    go.chmod(go.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bindir}:/usr/bin:/bin")
    monkeypatch.setenv("LK_NOTEBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LIVEKIT_SERVER_BIN", raising=False)
    if found is not None:
        monkeypatch.setenv("LIVEKIT_SERVER_BIN", str(found))
    return log


def test_install_server_prints_a_found_server_unless_forced(
    run: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere" / "livekit-server"
    elsewhere.parent.mkdir()
    elsewhere.write_text("#!/bin/sh\n")
    elsewhere.chmod(0o755)
    log = _install_env(monkeypatch, tmp_path, found=elsewhere)

    found = run("install-server", "--method", "go")
    assert found.code == 0 and found.out.strip() == str(elsewhere), found
    assert not log.exists(), "go ran although a server was found"

    forced = run("install-server", "--method", "go", "--force")
    assert forced.code == 0, forced
    cached = tmp_path / "cache" / f"livekit-server-{install.SERVER_VERSION}" / "livekit-server"
    assert forced.out.strip() == str(cached) and cached.read_text() == "#!/bin/sh\necho fake\n"
    assert log.read_text().splitlines() == ["install", f"{install.GO_MODULE}@v{install.SERVER_VERSION}"]
    assert "go install" in forced.err  # progress goes to stderr, the path alone to stdout


def test_install_server_method_archive_and_a_bad_method(
    run: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = _install_env(monkeypatch, tmp_path, found=None)
    monkeypatch.setenv("LK_NOTEBOOK_RELEASE_URL", "http://127.0.0.1:9/releases")  # nothing listens: fails at once
    ran = run("install-server", "--method", "archive")
    assert ran.code == 1 and "127.0.0.1:9" in ran.err, ran
    assert not log.exists(), "--method archive ran go"
    bad = run("install-server", "--method", "pip")
    assert bad.code == 2 and "invalid choice: 'pip'" in bad.err


# -- lab -------------------------------------------------------------------------------------------------------------
FAKE_JUPYTER = """import json, os, sys
with open(os.environ["FAKE_JUPYTER_LOG"], "w") as f:
    json.dump({"argv": sys.argv[1:], "livekit_url": os.environ.get("LIVEKIT_URL")}, f)
"""


def test_lab_notebooks_folder_and_its_error(
    run: Callable[..., Ran], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "jupyter.py").write_text(FAKE_JUPYTER)  # the child's `python -m jupyter` finds this one first
    log = tmp_path / "jupyter.json"
    monkeypatch.setenv("PYTHONPATH", str(fake))
    monkeypatch.setenv("FAKE_JUPYTER_LOG", str(log))
    monkeypatch.setenv("LIVEKIT_URL", "ws://127.0.0.1:7")
    notebooks = tmp_path / "my notebooks"
    notebooks.mkdir()

    ran = run("lab", "--notebooks", str(notebooks), "--port", "8999", "--no-browser", "--", "--debug")
    assert ran.code == 0, ran
    assert "using LIVEKIT_URL=ws://127.0.0.1:7" in ran.err  # set: no local server started
    child = json.loads(log.read_text())
    argv = child["argv"]
    assert argv[0] == "lab" and f"--notebook-dir={notebooks}" in argv and "--port=8999" in argv
    assert "--no-browser" in argv and argv[-1] == "--debug"  # the user's own arguments last, so they win
    assert child["livekit_url"] == "ws://127.0.0.1:7"

    log.unlink()
    missing = run("lab", "--notebooks", str(tmp_path / "absent"))
    assert missing.code == 2 and "no notebooks folder at" in missing.err and "--notebooks DIR" in missing.err
    assert not log.exists(), "JupyterLab was started without a notebooks folder"


# -- bench -----------------------------------------------------------------------------------------------------------
@pytest.mark.server
@pytest.mark.slow
def test_bench_flags_baseline_rounds_fan_out_fan_in_csv_and_local(tmp_path: Path) -> None:
    out, table = tmp_path / "rows.json", tmp_path / "rows.csv"
    # --local with LIVEKIT_URL set (this run's shared server): impairment needs the local relay, so --local must
    # start one instead of refusing.
    args = ["bench", "--modes", "reliable", "--sizes", "200", "--rate", "50", "--duration", "0.5",
            "--loss", "0.02", "--jitter", "2", "--bandwidth", "4000", "--baseline", "--rounds", "2",
            "--receivers", "2", "--senders", "2", "--local", "--quiet",
            "--json", str(out), "--csv", str(table)]  # fmt: skip
    proc = cli(*args, timeout=170)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(out.read_text())
    # --baseline: every combination also unimpaired; --rounds 2: the plan twice.
    settings = sorted((r["loss_setting"], r["jitter_setting"], r["bandwidth_kbps_setting"]) for r in rows)
    assert settings == [(0.0, 0.0, None), (0.0, 0.0, None), (0.02, 2.0, 4000.0), (0.02, 2.0, 4000.0)], settings
    for row in rows:  # --receivers 2 --senders 2: an entry per receiver and per sender (as the receivers saw it)
        roles = sorted(p["role"] for p in row["per_receiver"])
        assert row["receivers"] == 2 and row["senders"] == 2 and roles == ["receiver"] * 2 + ["sender"] * 2, row
        assert len({p["identity"] for p in row["per_receiver"]}) == 4, row
    with table.open() as f:
        assert [r["run_id"] for r in csv.DictReader(f)] == [r["run_id"] for r in rows]
