"""`lk-notebook lab`, the main job: a local server, JupyterLab on notebooks/ with LIVEKIT_* set, both stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import env_without_livekit

pytestmark = pytest.mark.server

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False)
    return [int(x) for x in out.stdout.split()]


def _environ(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode().split("=", 1) for item in raw if b"=" in item)


def _gone(pid: int) -> bool:
    """The process has exited (a zombie counts: whoever adopted it has not reaped it yet)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def _until(check: Callable[[], bool], timeout: float) -> float:
    """Poll `check` until true; return the seconds it took, or fail after `timeout`."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"not true within {timeout} s: {check}")
        time.sleep(0.05)
    return time.monotonic() - start


def _refused(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=2)
    except OSError:
        return True
    return False


@pytest.mark.parametrize(
    "stop_signal", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=["sigterm", "ctrl-c", "sigkill"]
)
def test_lab_starts_server_and_jupyterlab_then_stops_both(stop_signal: int) -> None:
    port = _free_port()
    env = env_without_livekit()
    cmd = [
        sys.executable,
        "-m",
        "lk_notebook.cli",
        "lab",
        "--no-browser",
        "--port",
        str(port),
        "--ip",
        "127.0.0.1",
        "--",
        "--IdentityProvider.token=lk-test",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        status = None
        while time.monotonic() < deadline and status is None:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token=lk-test", timeout=2) as r:
                    status = json.load(r)
            except OSError:
                time.sleep(0.3)
        assert status is not None, "JupyterLab did not answer within 90 s"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents?token=lk-test", timeout=5) as r:
            listing = {item["name"] for item in json.load(r)["content"]}
        assert any(name.endswith(".ipynb") for name in listing), listing  # it serves notebooks/
        # No news prompt: the page config JupyterLab renders says news is disabled (the prompt's only switch).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token=lk-test", timeout=10) as r:
            page = r.read().decode()
        config = json.loads(page.split('id="jupyter-config-data"', 1)[1].split(">", 1)[1].split("</script>", 1)[0])
        assert config["news"] == {"disabled": True}, config.get("news")

        # lk-notebook's children: livekit-server and JupyterLab.
        (jupyter,) = [c for c in _children(proc.pid) if b"jupyter" in Path(f"/proc/{c}/cmdline").read_bytes()]
        jenv = _environ(jupyter)
        argv = Path(f"/proc/{jupyter}/cmdline").read_bytes().decode().split("\0")
        assert "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate" in argv, argv  # no update checks
        # ...and the front end's setting that the prompt really depends on (tests/browser/test_lab_news_browser.py).
        first = Path(jenv["JUPYTER_CONFIG_PATH"].split(os.pathsep)[0]) / "labconfig" / "default_setting_overrides.json"
        notification = json.loads(first.read_text())["@jupyterlab/apputils-extension:notification"]
        assert notification["fetchNews"] == "false", notification
        url = jenv["LIVEKIT_URL"]
        assert jenv["LIVEKIT_API_KEY"] and len(jenv["LIVEKIT_API_SECRET"]) >= 32
        http = url.replace("ws://", "http://")
        with urllib.request.urlopen(http, timeout=5) as r:
            assert r.status == 200  # the local livekit-server answers

        proc.send_signal(stop_signal)
        if stop_signal == signal.SIGKILL:
            # No handler, no finally runs: the children's parent-death signals alone must end them.
            assert proc.wait(timeout=10) == -signal.SIGKILL
            took = _until(lambda: _gone(jupyter), timeout=20)
            print(f"JupyterLab gone {took:.2f} s after lk-notebook was SIGKILLed")
            _until(lambda: _refused(http), timeout=10)  # livekit-server too
            return
        # A requested stop is a clean exit: lk-notebook returns JupyterLab's status after terminating it (0).
        code = proc.wait(timeout=60)
        assert code == 0, f"exit {code}: {proc.stderr.read() if proc.stderr else ''}"
        with pytest.raises(OSError):
            urllib.request.urlopen(http, timeout=2)
        with pytest.raises(ProcessLookupError):
            os.kill(jupyter, 0)
    finally:
        if proc.poll() is None:
            proc.kill()
