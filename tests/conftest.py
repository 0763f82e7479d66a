"""Test infrastructure: one real livekit-server for the whole run, started once collection shows a test needs it.

Started in a collection hook (not in a session fixture) because nbmake's notebook items do not run session
fixtures; the LIVEKIT_* variables exported here reach the notebook kernels too. If the server cannot be installed
or started, the run fails: nothing that claims LiveKit behaviour is ever skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials
from lk_notebook.lab import Lab
from lk_notebook.server import LocalServer

from .jsclient import JsPeerFactory, js_peers

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
NODE_PEER = Path(__file__).resolve().parent / "peers" / "node"
_server: LocalServer | None = None


def _install_node_peer() -> None:
    """The non-Python peers (Node's livekit-server-sdk, livekit-client for Chromium), installed from the lock file."""
    installed = all((NODE_PEER / "node_modules" / name).is_dir() for name in ("livekit-server-sdk", "livekit-client"))
    if installed or not shutil.which("npm"):
        return  # a missing npm makes the test that needs it fail with a clear message
    subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--silent"], cwd=NODE_PEER, check=True, timeout=300)


def _needs_server(item: pytest.Item) -> bool:
    """Whether a collected test needs the shared livekit-server: notebooks (nbmake items: their kernels read
    LIVEKIT_*), tests marked server or browser, and tests whose fixture closure reaches `server`."""
    if not isinstance(item, pytest.Function):
        return True
    marked = item.get_closest_marker("server") is not None or item.get_closest_marker("browser") is not None
    return marked or "server" in item.fixturenames


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    # Started here, after collection and before any test (not in pytest_configure), so that a run of pure unit
    # tests (`pytest tests/test_state.py`) starts no server and installs no npm peer: seconds, not a minute.
    # Not in a session fixture either: nbmake's notebook items do not run session fixtures.
    global _server
    if config.option.collectonly or _server is not None or not any(_needs_server(i) for i in items):
        return
    ARTIFACTS.mkdir(exist_ok=True)
    _install_node_peer()
    _server = LocalServer(log_dir=ARTIFACTS / "server-logs", progress=print).start()
    os.environ.update(_server.env())


_exit_status: int | None = None


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    global _exit_status
    _exit_status = int(exitstatus)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _server is not None:
        _server.stop()
    if _exit_status is not None and not hasattr(config, "workerinput"):
        # The SDK's native runtime can still emit an event (a log line) while the interpreter finalizes; Python
        # then ends that native thread with pthread_exit, which unwinds through a Rust extern "C" frame and aborts
        # the process (seen once here: "panic in a function that cannot unwind", exit 134) after every test had
        # passed. pytest has reported everything by now, so leave with its status and skip finalization.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_status)


@pytest.fixture(scope="session")
def server() -> LocalServer:
    assert _server is not None and _server.running, "the test livekit-server is not running"
    return _server


@pytest.fixture(scope="session")
def credentials(server: LocalServer) -> Credentials:
    return Credentials(server.url, server.api_key, server.api_secret, "local server")


@pytest.fixture
async def js_peer(credentials: Credentials) -> AsyncIterator[JsPeerFactory]:
    """`peer = await js_peer(room, identity)`: a connected livekit-client (JS SDK) peer in Chromium. See jsclient.py."""
    async for make in js_peers(credentials):
        yield make


@pytest.fixture
def room_name(request: pytest.FixtureRequest) -> str:
    """A room name no other test uses."""
    return f"{request.node.name[:40]}-{uuid.uuid4().hex[:8]}"


def env_without_livekit() -> dict[str, str]:
    """This process's environment minus LIVEKIT_*: for a child that must start its own local server."""
    return {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_")}


async def eventually(check: Callable[[], bool | Awaitable[bool]], *, timeout: float = 5.0, what: str = "") -> float:
    """Poll `check` until true; return the seconds it took. Fails the test on timeout."""
    start = time.monotonic()
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            pytest.fail(f"not true within {timeout} s: {what or check}")
        await asyncio.sleep(0.02)


def join_args(credentials: Credentials) -> dict[str, Any]:
    """The server arguments of `lk.join` / `lk.inspect` for `credentials`."""
    return {"url": credentials.url, "api_key": credentials.api_key, "api_secret": credentials.api_secret}


class Sessions:
    """Joins that always leave: every session joined (or kept) here is left when the test ends, pass or fail.

    `join` uses the test server's credentials unless `url`/`api_key`/`api_secret` (or `creds`) say otherwise;
    `two` joins alice (name "Alice", role "host") and bob and waits until alice sees bob active. `stack` ends
    anything else the test opens with them (`sessions.stack.push_async_callback(peer.disconnect)`).
    """

    def __init__(self, stack: contextlib.AsyncExitStack, credentials: Credentials) -> None:
        self.stack = stack
        self.credentials = credentials

    async def keep(self, session: lk.Session) -> lk.Session:
        """Leave `session` (joined some other way: a token, lk.inspect) when the test ends."""
        return await self.stack.enter_async_context(session)

    async def join(self, room: str, identity: str, *, creds: Credentials | None = None, **kwargs: Any) -> lk.Session:
        options = {**join_args(creds or self.credentials), **kwargs}
        return await self.keep(await lk.join(room, identity=identity, **options))

    async def two(
        self, room: str, *, a: Credentials | None = None, b: Credentials | None = None, **b_kwargs: Any
    ) -> tuple[lk.Session, lk.Session]:
        alice = await self.join(room, "alice", creds=a, name="Alice", attributes={"role": "host"})
        bob = await self.join(room, "bob", creds=b, **b_kwargs)
        # alice learns of bob when the server marks him active (after his media transport is up), not at his join.
        await eventually(lambda: (p := alice.state.get("bob")) is not None and p.active, what="alice sees bob active")
        return alice, bob


@pytest.fixture
async def sessions(credentials: Credentials) -> AsyncIterator[Sessions]:
    """`a = await sessions.join(room, "a")`, `a, b = await sessions.two(room)`: sessions that always leave."""
    async with contextlib.AsyncExitStack() as stack:
        yield Sessions(stack, credentials)


# -- the delivery lab behind its relay (tests/test_lab_*.py) ----------------------------------------------------------
@pytest.fixture(scope="module")
def relay_server() -> Iterator[LocalServer]:
    """A livekit-server in relay layout (its media only through the lab's relay), one per test module."""
    server = LocalServer(relay=True).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
async def lab(relay_server: LocalServer, request: pytest.FixtureRequest) -> AsyncIterator[Lab]:
    """A started Lab on `relay_server`; the module's LAB_SEED (default 1234) seeds the relay's loss draws."""
    lab = await Lab(server=relay_server, seed=getattr(request.module, "LAB_SEED", 1234)).start()
    try:
        yield lab
    finally:
        await lab.aclose()
