"""Binder: the repo2docker build recipe, and binder/postBuild + binder/start run for real in a fresh environment.

No Docker here, so the image is not built. Instead: repo2docker prints the Dockerfile it would build (checked for the
three steps that matter), and the same scripts run in a fresh virtual environment laid out like Binder's: the
package installed from binder/requirements.txt, no Go, no livekit-server on PATH, the release archive served by a
local mirror (Binder can download it; we have no network), a private HOME and cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from livekit import rtc

import lk_notebook as lk
from lk_notebook import install
from lk_notebook.config import Credentials

from .mirror import make_release, serve

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parent.parent
BINDER = REPO / "binder"
SYSTEM_PATH = ("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")


# -- the files themselves ------------------------------------------------------------------------------------------
def _requirements() -> list[str]:
    lines = (BINDER / "requirements.txt").read_text().splitlines()
    return [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]


def test_binder_files_pin_what_avoids_known_bugs() -> None:
    reqs = _requirements()
    assert ".[lab]" in reqs, "Binder must install this repository's package with the lab extra"
    assert "ipykernel>=7.4" in reqs
    assert "ipywidgets>=8.1.9" in reqs
    assert "nest-asyncio2>=1.7.4" in reqs
    names = {r.split("[")[0].split("<")[0].split(">")[0].split("=")[0].split("~")[0].strip().lower() for r in reqs}
    assert not names & {"nest-asyncio", "nest_asyncio"}, "the archived nest-asyncio breaks Run All with ipykernel 7"
    # The front-end packages must match what the pinned ipywidgets itself requires.
    ipywidgets_requires = importlib.metadata.requires("ipywidgets") or []
    for front_end in ("jupyterlab_widgets", "widgetsnbextension"):
        wanted = next(r.split(";")[0].replace(" ", "") for r in ipywidgets_requires if r.startswith(front_end))
        assert wanted in reqs, f"binder/requirements.txt should pin {wanted} (what ipywidgets requires)"
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    for script in ("postBuild", "start"):
        path = BINDER / script
        assert path.stat().st_mode & stat.S_IXUSR, f"binder/{script} must be executable"
        subprocess.run(["bash", "-n", str(path)], check=True)
    start_lines = [ln.strip() for ln in (BINDER / "start").read_text().splitlines() if ln.strip()]
    assert start_lines[-1] == 'exec "$@"', 'binder/start must end with exec "$@"'
    assert "--method archive" in (BINDER / "postBuild").read_text(), "Binder has no Go: install from the archive"


def test_repo2docker_dockerfile_installs_requirements_runs_postbuild_and_start() -> None:
    exe = shutil.which("repo2docker")
    assert exe, "repo2docker is missing: pip install jupyter-repo2docker (it is in the [test] extra)"
    proc = subprocess.run(
        [exe, "--no-build", "--debug", "."], cwd=REPO, capture_output=True, text=True, timeout=180, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    dockerfile = proc.stdout
    assert "Building conda environment for python=3.11" in proc.stderr, proc.stderr[-2000:]
    install = dockerfile.index('pip install --no-cache-dir -r "binder/requirements.txt"')
    copy_repo = dockerfile.index("COPY --chown=0:0 src/ ${REPO_DIR}/")
    post_build = dockerfile.index("RUN ./binder/postBuild")
    entry = dockerfile.index('ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"')
    # `.[lab]` needs the repository: the install must come after it is copied in, and postBuild after the install.
    assert copy_repo < install < post_build < entry
    assert "USER ${NB_USER}\nRUN ${KERNEL_PYTHON_PREFIX}/bin/pip install" in dockerfile, "installs as the user"
    assert 'ENTRYPOINT ["/usr/local/bin/repo2docker-entrypoint"]' in dockerfile
    # binder/apt.txt: Debian's redis-server for lk_notebook.LocalCluster (multi-node on Binder).
    assert "apt-get install --yes --no-install-recommends redis-server" in dockerfile


# -- a fresh environment like Binder's -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def release_mirror(tmp_path_factory: pytest.TempPathFactory, server: lk.LocalServer) -> Iterator[str]:
    """LiveKit's release, served locally (see tests/mirror.py), made from the binary the test run already uses."""
    assert server.binary_path is not None
    root = tmp_path_factory.mktemp("binder-mirror")
    make_release(root, server.binary_path)
    with serve(root) as base:
        yield base


@dataclass
class BinderEnv:
    venv: Path
    home: Path
    cache: Path
    env: dict[str, str]

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


def _binder_path(venv: Path) -> str:
    """The venv first, then system directories, without any livekit-server or Go (Binder images have neither)."""
    dirs = [str(venv / "bin")]
    for d in SYSTEM_PATH:
        if not (Path(d, "livekit-server").exists() or Path(d, "go").exists()):
            dirs.append(d)
    return os.pathsep.join(dirs)


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory: pytest.TempPathFactory, release_mirror: str) -> BinderEnv:
    base = tmp_path_factory.mktemp("binder")
    venv, home, cache = base / "venv", base / "home", base / "cache"
    home.mkdir()
    # --system-site-packages only spares re-downloading the dependencies; the package itself goes into the venv.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True, timeout=120)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIVEKIT_", "LK_NOTEBOOK_", "PYTHON", "VIRTUAL"))}
    env.update(
        PATH=_binder_path(venv),
        HOME=str(home),
        LK_NOTEBOOK_CACHE=str(cache),
        LK_NOTEBOOK_RELEASE_URL=release_mirror,
        VIRTUAL_ENV=str(venv),
    )
    env.pop("XDG_CACHE_HOME", None)
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-r", "binder/requirements.txt"],
        cwd=REPO,  # as repo2docker does: requirements.txt names `.`, the repository root
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, f"pip install -r binder/requirements.txt failed:\n{pip.stdout[-2000:]}{pip.stderr}"
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import lk_notebook; print(lk_notebook.__file__)"],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(where).is_relative_to(venv), f"lk_notebook imported from {where}, not from the fresh venv"
    assert shutil.which("livekit-server", path=env["PATH"]) is None
    return BinderEnv(venv, home, cache, env)


def _run_post_build(b: BinderEnv) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BINDER / "postBuild")], cwd=REPO, env=b.env, capture_output=True, text=True, timeout=300, check=False
    )


def _port_open(url: str) -> bool:
    parsed = urllib.parse.urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 80), timeout=1):
            return True
    except OSError:
        return False


def _stop(pid: int, timeout: float = 15) -> None:
    """SIGTERM the background `lk-notebook server` (no longer our child: the exec'd command was its parent)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.1)
    os.kill(pid, signal.SIGKILL)
    pytest.fail(f"lk-notebook server {pid} ignored SIGTERM for {timeout} s")


JOIN_SCRIPT = """
import asyncio, json, os
import lk_notebook as lk

async def main():
    session = await lk.join("binder-check", identity="binder-kernel", attributes={"from": "start"})
    ok = session.status.value == "connected" and session.state.local.attributes["from"] == "start"
    await session.leave()
    print(json.dumps({"ok": ok, "url": os.environ["LIVEKIT_URL"], "key": os.environ["LIVEKIT_API_KEY"],
                      "pid": int(os.environ["LK_NOTEBOOK_SERVER_PID"]), "module": lk.__file__}))

asyncio.run(main())
"""


@pytest.mark.slow  # a fresh venv with the package installed into it
async def test_post_build_and_start_give_kernels_a_working_server(
    binder_env: BinderEnv, server: lk.LocalServer
) -> None:
    b = binder_env
    built = await asyncio.to_thread(_run_post_build, b)
    assert built.returncode == 0, built.stdout + built.stderr
    installed = b.cache / f"livekit-server-{install.SERVER_VERSION}" / "livekit-server"
    assert installed.is_file() and os.access(installed, os.X_OK)
    assert f"installed at {installed}" in built.stdout
    assert install.SERVER_VERSION in built.stdout  # `livekit-server --version` of what was installed
    assert "verified" in built.stderr  # the checksum was checked

    proc = subprocess.Popen(  # noqa: ASYNC220 - waited for off the loop below
        [str(BINDER / "start"), str(b.python), "-c", JOIN_SCRIPT],
        cwd=b.home,
        env=b.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # one process group: the cleanup below can reach whatever start left behind
    )
    info: dict[str, object] = {}
    try:
        out, err = await asyncio.to_thread(proc.communicate, timeout=120)
        assert proc.returncode == 0, f"stdout:\n{out}\nstderr:\n{err}"
        info = json.loads(out.strip().splitlines()[-1])
        assert info["ok"] is True
        assert Path(str(info["module"])).is_relative_to(b.venv)
        assert info["url"] != server.url, "start must run its own server, not reuse the test run's"
        assert str(info["url"]).startswith("ws://127.0.0.1:"), "the server listens on loopback only"

        secret_file = b.home / ".lk_notebook" / "server.json"
        assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
        saved = json.loads(secret_file.read_text())
        assert saved["url"] == info["url"] and saved["api_key"] == info["key"]
        assert saved["api_secret"] not in out + err, "the secret must not be printed"

        # The server outlives the command start ran (as it must outlive Jupyter's own start-up), and an
        # independent raw SDK client gets in with exactly the exported credentials.
        creds = Credentials(saved["url"], saved["api_key"], saved["api_secret"])
        room = rtc.Room()
        await room.connect(creds.url, creds.token("binder-check", "raw-sdk"))
        try:
            assert room.connection_state == rtc.ConnectionState.CONN_CONNECTED
        finally:
            await room.disconnect()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if "pid" in info:
            _stop(int(str(info["pid"])))
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # anything else start left in its process group
    if "url" in info:
        for _ in range(100):  # livekit-server dies with its parent (parent-death signal)
            if not _port_open(str(info["url"])):
                break
            await asyncio.sleep(0.1)
        assert not _port_open(str(info["url"])), "livekit-server outlived the stopped lk-notebook server"


@pytest.mark.slow  # a fresh venv with the package installed into it
def test_start_still_runs_the_command_when_the_server_cannot_start(binder_env: BinderEnv, tmp_path: Path) -> None:
    env = dict(
        binder_env.env,
        LK_NOTEBOOK_CACHE=str(tmp_path / "empty-cache"),  # nothing installed, and the mirror below is unreachable
        LK_NOTEBOOK_RELEASE_URL="http://127.0.0.1:9/nothing",
        LK_NOTEBOOK_RUNTIME_DIR=str(tmp_path / "run"),
    )
    proc = subprocess.run(
        [str(BINDER / "start"), str(binder_env.python), "-c", "import os; print(os.environ.get('LIVEKIT_URL', '-'))"],
        cwd=binder_env.home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        start_new_session=True,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "-"
    assert "did not start" in proc.stderr
    assert "could not download" in proc.stderr, "start must say why the server failed"


@pytest.mark.slow  # a fresh venv with the package installed into it
def test_start_uses_livekit_variables_when_set(binder_env: BinderEnv, server: lk.LocalServer, tmp_path: Path) -> None:
    env = dict(binder_env.env, LK_NOTEBOOK_RUNTIME_DIR=str(tmp_path / "run"), **server.env())
    script = "import os; print(os.environ['LIVEKIT_URL'], os.environ.get('LK_NOTEBOOK_SERVER_PID', '-'))"
    proc = subprocess.run(
        [str(BINDER / "start"), str(binder_env.python), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert proc.stdout.split() == [server.url, "-"]
    assert not (tmp_path / "run").exists(), "no local server is started when LIVEKIT_URL is set"
