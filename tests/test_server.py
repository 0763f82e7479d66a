"""The local server: install paths (go cache, release archive with checksum), start/stop, errors, the CLI."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import rtc

import lk_notebook as lk
from lk_notebook import install, process
from lk_notebook import server as srvmod
from lk_notebook.config import Credentials

from .cli_server import start_cli_server
from .conftest import env_without_livekit
from .mirror import make_release, serve

pytestmark = pytest.mark.server

NODE_PEER = Path(__file__).parent / "peers" / "node"


# -- the release-archive install path, against a local mirror laid out like GitHub's release ----------------------
@pytest.fixture(scope="module")
def release_mirror(tmp_path_factory: pytest.TempPathFactory, server: lk.LocalServer) -> Iterator[tuple[str, Path]]:
    """A local HTTP server laid out like LiveKit's GitHub release, made from the binary this run uses."""
    assert server.binary_path is not None
    root = tmp_path_factory.mktemp("mirror")
    folder = make_release(root, server.binary_path)
    with serve(root) as base:
        yield base, folder


def test_archive_install_verifies_checksum_and_runs(
    release_mirror: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, _ = release_mirror
    monkeypatch.setenv("LK_NOTEBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("LIVEKIT_SERVER_BIN", raising=False)
    messages: list[str] = []
    path = lk.install_server(method="archive", release_base_url=base, progress=messages.append)
    assert path == tmp_path / "cache" / f"livekit-server-{install.SERVER_VERSION}" / "livekit-server"
    assert any("verified" in m for m in messages)
    assert install.server_version(path) == install.SERVER_VERSION
    with lk.LocalServer(binary=path) as s:  # the installed binary really runs
        assert s.running


def test_archive_checksum_mismatch_installs_nothing(
    release_mirror: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, folder = release_mirror
    archive_name, sums_name = install.release_asset_names()
    bad = tmp_path / "bad"
    shutil.copytree(folder, bad / folder.name)
    (bad / folder.name / sums_name).write_text(f"{'f' * 64}  {archive_name}\n")

    monkeypatch.setenv("LK_NOTEBOOK_CACHE", str(tmp_path / "cache"))
    with serve(bad) as base:
        with pytest.raises(lk.ServerInstallError, match="checksum mismatch"):
            lk.install_server(method="archive", release_base_url=base)
        assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("livekit-server"))
        with pytest.raises(lk.ServerInstallError, match="could not download"):
            lk.install_server(method="archive", release_base_url="http://127.0.0.1:9/nothing")


def test_find_server_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: lk.LocalServer) -> None:
    monkeypatch.setenv("LIVEKIT_SERVER_BIN", str(tmp_path / "missing"))
    with pytest.raises(lk.ServerInstallError, match="LIVEKIT_SERVER_BIN"):
        install.find_server()
    assert server.binary_path is not None
    monkeypatch.setenv("LIVEKIT_SERVER_BIN", str(server.binary_path))
    assert install.find_server() == server.binary_path


# -- starting and stopping ---------------------------------------------------------------------------------------
def test_port_in_use_is_a_clear_error() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(lk.PortInUseError, match=str(port)) as err:
            lk.LocalServer(port=port).start()
        assert err.value.port == port


def test_ports_we_pick_are_below_the_ephemeral_range() -> None:
    # Inside it, any client socket could take the relay's 127.0.0.2 twin of the UDP port before the lab binds it.
    low = process.ephemeral_low()
    assert low >= 21_000, f"this test needs Linux's ip_local_port_range to leave room below it (low end {low})"
    picks = [process.free_port(socket.SOCK_DGRAM) for _ in range(20)]
    picks += [process.free_shared_port(socket.SOCK_DGRAM, ("127.0.0.1", srvmod.RELAY_HOST))]
    picks += [process.free_port(socket.SOCK_STREAM) for _ in range(20)]
    assert all(process.PICK_FROM <= p < low for p in picks), picks
    assert len(set(picks)) > 20  # picked at random, not one fixed port


def test_a_port_taken_between_probe_and_bind_is_retried_on_new_ports(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The race made real: the probe picks a port that another listener holds and (patched) calls it free, so the
    # real livekit-server itself fails to bind it. A start with ports left to us must come up on other ports.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        picks = iter([port])
        real_free_port = process.free_port
        monkeypatch.setattr(
            srvmod, "free_port", lambda kind, host="127.0.0.1": next(picks, None) or real_free_port(kind, host)
        )
        monkeypatch.setattr(srvmod, "check_free", lambda port, kind, host: None)
        with caplog.at_level(logging.INFO, logger="lk_notebook.process"):
            server = lk.LocalServer().start()
        try:
            assert server.running and server.port != port
            assert f"port {port} was taken" in caplog.text, caplog.text
        finally:
            server.stop()


def test_stop_right_after_start_ends_the_server_by_sigterm_not_sigkill() -> None:
    # livekit-server loses a SIGTERM that arrives just after it answers HTTP; stop() must not sit out its timeout
    # and then kill it (it did, every time, until SIGTERM was repeated).
    server = lk.LocalServer().start()
    server.stop(timeout=5)
    assert server.returncode is not None and server.returncode >= 0, server.returncode
    assert "exit requested, shutting down" in server.log_path.read_text()  # type: ignore[union-attr]


def test_server_exiting_early_reports_its_log() -> None:
    # A real server with a configuration it rejects: it exits, and the error carries its last log lines.
    # (livekit-server exits with status 0 on a config it cannot parse, so the status alone would not tell.)
    with pytest.raises(lk.ServerExitedError, match="before it was ready") as err:
        lk.LocalServer(config={"rtc": {"udp_port": "not-a-port"}}).start(timeout=20)
    assert "could not parse config" in err.value.log_tail


def test_secret_is_long_and_never_logged_or_shown(server: lk.LocalServer) -> None:
    assert len(server.api_secret) >= 32
    assert server.api_secret not in repr(server)
    assert server.log_path is not None
    assert server.api_secret not in server.log_path.read_text()
    with pytest.raises(ValueError, match="32"):
        lk.LocalServer(api_secret="short")


def test_stop_is_idempotent_and_leaves_no_process() -> None:
    s = lk.LocalServer().start()
    pid = s.pid()
    assert pid is not None
    s.stop()
    s.stop()
    assert not s.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def _alive(pid: int) -> bool:
    """Running, and not a zombie (a killed orphan stays a zombie until init gets round to reaping it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


_OWNERS = {
    "main-thread": "report(lk.LocalServer().start().pid())",
    # A thread that ends at once: Linux's parent-death signal is per *thread*, so a server forked straight from
    # this thread would die with it (and one spawned without the signal would outlive a killed owner).
    "short-lived-thread": (
        "import threading\nbox = []\n"
        "t = threading.Thread(target=lambda: box.append(lk.LocalServer().start()))\nt.start(); t.join()\n"
        "time.sleep(0.5); box[0].check_alive()  # the thread's end did not take the server with it\n"
        "report(box[0].pid())"
    ),
    # The delivery lab starts its own relay-layout server off the event loop (asyncio.to_thread).
    "lab": (
        "import asyncio\nfrom lk_notebook.lab import Lab\n"
        "async def main():\n    lab = await Lab().start()\n    report(lab.rig.server.pid())\n"
        "asyncio.run(main())"
    ),
}


@pytest.mark.parametrize("owner_kind", list(_OWNERS))
def test_no_orphan_when_owner_is_killed(owner_kind: str) -> None:
    # A kernel killed with SIGKILL runs no atexit handler: the parent-death signal must still stop the server,
    # whichever thread of the owner started it.
    prelude = "import lk_notebook as lk, time\ndef report(pid):\n    print(pid, flush=True)\n    time.sleep(120)\n"
    script = prelude + _OWNERS[owner_kind]
    owner = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=env_without_livekit(),
    )  # fmt: skip
    try:
        assert owner.stdout is not None and owner.stderr is not None
        line = owner.stdout.readline()
        assert line.strip().isdigit(), owner.stderr.read() if owner.poll() is not None else line
        server_pid = int(line)
        assert b"livekit-server" in Path(f"/proc/{server_pid}/cmdline").read_bytes()
    finally:
        owner.kill()
        owner.wait()
    # SIGKILL is delivered at the owner's death; 10 s only covers a loaded machine scheduling the kernel's reaping.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if not _alive(server_pid):
            return
        time.sleep(0.1)
    os.kill(server_pid, signal.SIGKILL)  # do not leave it behind for the rest of the run
    pytest.fail(f"livekit-server {server_pid} ({owner_kind}) outlived its killed owner")


# -- the CLI -----------------------------------------------------------------------------------------------------
def test_cli_install_server_prints_path() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "lk_notebook.cli", "install-server"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    path = Path(out.stdout.strip())
    assert path.is_file() and os.access(path, os.X_OK)


async def _node_peer(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """tests/peers/node/peer.mjs ARGS (Node's livekit-server-sdk), which must succeed."""
    node = await asyncio.to_thread(
        subprocess.run, ["node", "peer.mjs", *args], cwd=NODE_PEER, env=env, capture_output=True, text=True, timeout=60
    )
    assert node.returncode == 0, node.stderr
    return node


async def test_cli_server_json_is_usable_by_sdk_and_node_peer(room_name: str) -> None:
    env = env_without_livekit()
    start = time.monotonic()
    proc = start_cli_server("--json", stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 10)
        # (No separate time assertion: wait_for's 10 s is the bound.)
        print(f"`lk-notebook server --json` printed its line after {time.monotonic() - start:.2f} s")
        info = json.loads(line)
        assert set(info) == {"url", "api_key", "api_secret"}
        creds = Credentials(info["url"], info["api_key"], info["api_secret"])

        # An independent client (Node's livekit-server-sdk) uses exactly what was printed.
        assert shutil.which("node"), "node is needed for the second, non-Python peer"
        assert (NODE_PEER / "node_modules").is_dir(), "run `npm ci` in tests/peers/node (.ci/run does)"
        peer_env = dict(
            env, LIVEKIT_URL=info["url"], LIVEKIT_API_KEY=info["api_key"], LIVEKIT_API_SECRET=info["api_secret"]
        )
        node = await _node_peer(room_name, env=peer_env)
        # The server accepts Node's token for the room (and refuses the same claims signed with another secret).
        assert json.loads(node.stdout) == {
            "rooms": [[room_name, "made-by-node"]],
            "token_status": 200,
            "forged_status": 401,
        }

        # A raw SDK client joins with a token minted from what was printed, and sees the room Node made.
        room = rtc.Room()
        await room.connect(creds.url, creds.token(room_name, "raw"))
        try:
            assert room.metadata == "made-by-node"
            got: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            room.on("data_received", lambda p: got.done() or got.set_result(p.data))
            await _node_peer(room_name, "send", env=peer_env)
            assert await asyncio.wait_for(got, 5) == b"hello from node"
        finally:
            await room.disconnect()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_cli_server_export_lines() -> None:
    proc = start_cli_server(stderr=subprocess.DEVNULL)
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline().strip() for _ in range(3)]
        assert [ln.split("=", 1)[0] for ln in lines] == [
            "export LIVEKIT_URL",
            "export LIVEKIT_API_KEY",
            "export LIVEKIT_API_SECRET",
        ]
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == 0
