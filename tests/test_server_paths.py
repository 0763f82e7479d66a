"""The server layer's less travelled paths: a binary that exits at once or never answers, ports taken, no binary,
`install_server(method="go")`'s command line, and `LocalCluster.kill_node` on a real cluster.

The start-error tests run fake binaries (small shell scripts): they claim lk_notebook's handling of a process, not
LiveKit behaviour. The `go` tests put a fake `go` on PATH that records its arguments: they claim our command line.
"""

from __future__ import annotations

import os
import shutil
import socket
import stat
from pathlib import Path

import pytest

import lk_notebook as lk
from lk_notebook import install


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


# -- ServerStartError and its subclasses ---------------------------------------------------------------------------
def test_a_binary_that_exits_at_once_is_a_server_exited_error_with_its_output(tmp_path: Path) -> None:
    binary = _script(tmp_path / "livekit-server", 'echo "fake server: cannot start here"\nexit 3\n')
    with pytest.raises(lk.ServerExitedError, match="exited with code 3 before it was ready") as err:
        lk.LocalServer(binary=binary, log_dir=tmp_path / "logs").start(timeout=20)
    assert err.value.returncode == 3
    assert "fake server: cannot start here" in err.value.log_tail


def test_a_binary_that_never_answers_is_a_start_error_and_is_stopped(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    binary = _script(tmp_path / "livekit-server", f'echo $$ > "{pidfile}"\nexec sleep 60\n')
    server = lk.LocalServer(binary=binary, log_dir=tmp_path / "logs")
    with pytest.raises(lk.ServerStartError, match=r"did not answer on http://127\.0\.0\.1:\d+ within 1 s") as err:
        server.start(timeout=1.0)
    assert type(err.value) is lk.ServerStartError  # neither exited nor a port collision
    assert not server.running and server.pid() is None
    assert _gone(int(pidfile.read_text())), "the process that never answered was left running"


def test_a_udp_port_in_use_is_a_clear_error_and_not_retried(tmp_path: Path) -> None:
    calls = tmp_path / "calls"
    binary = _script(tmp_path / "livekit-server", f'echo started >> "{calls}"\nexec sleep 60\n')
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(lk.PortInUseError, match=str(port)) as err:
            lk.LocalServer(binary=binary, udp_port=port).start(timeout=5)
    assert err.value.port == port
    assert not calls.exists(), "a server was started although its UDP port was taken"


def _no_server_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LIVEKIT_SERVER_BIN", raising=False)
    monkeypatch.setenv("LK_NOTEBOOK_CACHE", str(tmp_path / "empty-cache"))
    # Our own bin first (a fake `go` where a test puts one), then the system's (sh, chmod, sleep): none of them holds
    # a livekit-server or a go.
    monkeypatch.setenv("PATH", f"{tmp_path / 'empty-bin'}:/usr/bin:/bin")
    assert shutil.which("livekit-server") is None


def test_no_binary_and_no_install_says_how_to_get_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_server_anywhere(monkeypatch, tmp_path)
    with pytest.raises(lk.ServerInstallError, match="lk-notebook install-server"):
        lk.LocalServer(install=False).start()
    with pytest.raises(lk.ServerStartError, match="lk-notebook install-server"):
        lk.LocalCluster(2, install=False).start()


def test_cluster_placement_before_start_says_to_start_it() -> None:
    cluster = lk.LocalCluster(2)
    with pytest.raises(lk.ServerStartError, match="Redis is not running: start the cluster first"):
        cluster.registered_nodes()
    with pytest.raises(lk.ServerStartError, match="Redis is not running"):
        cluster.room_node("any")


# -- install_server(method="go"): our command line, with a fake go --------------------------------------------------
FAKE_GO = """\
printf '%s\\n' "$@" > "{log}/argv"
printf '%s\\n' "$GOBIN" > "{log}/gobin"
{action}
"""
BUILD = 'printf "#!/bin/sh\\necho built\\n" > "$GOBIN/server"; chmod +x "$GOBIN/server"'


def _fake_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, action: str) -> Path:
    _no_server_anywhere(monkeypatch, tmp_path)
    bindir = tmp_path / "empty-bin"
    bindir.mkdir()
    log = tmp_path / "go-log"
    log.mkdir()
    _script(bindir / "go", FAKE_GO.format(log=log, action=action))
    return log


def test_install_with_go_runs_go_install_of_the_pinned_module(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = _fake_go(monkeypatch, tmp_path, BUILD)
    assert shutil.which("go") == str(tmp_path / "empty-bin" / "go")
    progress: list[str] = []
    path = lk.install_server(method="go", progress=progress.append)
    argv = (log / "argv").read_text().splitlines()
    assert argv == ["install", f"github.com/livekit/livekit-server/cmd/server@v{install.SERVER_VERSION}"]
    gobin = (log / "gobin").read_text().strip()
    assert gobin and not Path(gobin).exists(), "GOBIN must be a temporary directory, removed afterwards"
    assert path == tmp_path / "empty-cache" / f"livekit-server-{install.SERVER_VERSION}" / "livekit-server"
    assert os.access(path, os.X_OK) and "echo built" in path.read_text()  # go's `server`, renamed
    assert any("go install" in line for line in progress) and progress[-1] == f"installed {path}"
    # Cached now: a second call runs nothing.
    (log / "argv").unlink()
    assert lk.install_server(method="go") == path and not (log / "argv").exists()


def test_auto_prefers_go_when_it_is_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    log = _fake_go(monkeypatch, tmp_path, BUILD)
    lk.install_server(method="auto", release_base_url="http://127.0.0.1:9/never-used")
    assert (log / "argv").read_text().splitlines()[0] == "install"


def test_a_failing_go_install_says_why_and_installs_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _fake_go(monkeypatch, tmp_path, 'echo "go: go.mod requires go >= 1.26" >&2\nexit 1')
    with pytest.raises(lk.ServerInstallError, match=r"failed \(exit 1\)") as err:
        lk.install_server(method="go")
    assert "requires go >= 1.26" in str(err.value) and "method='archive'" in str(err.value)
    assert not (tmp_path / "empty-cache" / f"livekit-server-{install.SERVER_VERSION}" / "livekit-server").exists()


def test_install_methods_checked(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _no_server_anywhere(monkeypatch, tmp_path)
    with pytest.raises(lk.ServerInstallError, match="needs the Go toolchain"):
        lk.install_server(method="go")
    with pytest.raises(lk.ServerInstallError, match="unknown install method 'pip'"):
        lk.install_server(method="pip")


# -- LocalCluster.kill_node: a real cluster ------------------------------------------------------------------------
@pytest.mark.server
def test_kill_node_kills_one_node_as_a_crash_would() -> None:
    with lk.LocalCluster(nodes=2) as cluster:
        ids = list(cluster.node_ids)
        assert sorted(cluster.registered_nodes()) == sorted(ids)
        pid = cluster.nodes[1].pid()
        assert pid is not None
        cluster.kill_node(1)
        assert _gone(pid) and not cluster.nodes[1].running
        assert cluster.nodes[0].running and cluster.running  # the other node and Redis are untouched
        # SIGKILL: no draining, no deregistration, so Redis still lists the dead node (as after a real crash).
        assert ids[1] in cluster.registered_nodes()
