"""Child processes the toolkit owns (livekit-server, Redis, cluster nodes): free ports, spawning, stopping.

Example::

    port = free_port(socket.SOCK_STREAM)                 # below the kernel's ephemeral range
    proc = spawn(["redis-server", "-"], stdin=subprocess.PIPE)   # dies with this process (Linux)
    running = StopAtExit[RedisServer]()                  # running.add(redis): stopped at interpreter exit
    terminate(proc, timeout=5)                           # SIGTERM (repeated), then SIGKILL

Every owner of a process uses the same four pieces, so a process started by any of them dies with its owner
however the owner ends: stop(), interpreter exit (`StopAtExit`), or a SIGKILL (the parent-death signal).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import logging
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from typing import IO, Generic, Protocol, TypeVar

from .errors import PortInUseError, ServerExitedError, ServerStartError

__all__ = [
    "PICK_FROM",
    "StopAtExit",
    "check_free",
    "ephemeral_low",
    "free_port",
    "free_shared_port",
    "parent_death_signal",
    "retry_port_collisions",
    "spawn",
    "terminate",
    "wait_ready",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

# -- free ports ----------------------------------------------------------------------------------------------------
# Ports we pick for servers come from below the kernel's ephemeral range. A port from inside it (what bind(0)
# gives) can be taken by the kernel for any client socket between our probe and the server's bind, or, for the
# relay's 127.0.0.2 twin of the UDP port, at any time before the lab starts the relay: every WebRTC client binds
# ephemeral UDP ports on 0.0.0.0. Below the range only an explicit bind can collide, and the owners retry that
# (`retry_port_collisions`).
PICK_FROM = 20_000
"""The lowest port `free_port` picks."""
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_pick = random.Random()


def ephemeral_low() -> int:
    """The low end of the kernel's ephemeral port range (0 where unknown)."""
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0  # not Linux, or unreadable: no safe range known


def free_port(kind: int, host: str = "127.0.0.1") -> int:
    """A port free on `host` now, from below the ephemeral range when it leaves room, else from the kernel.
    `kind` is `socket.SOCK_STREAM` (TCP) or `socket.SOCK_DGRAM` (UDP)."""
    low = ephemeral_low()
    if low - PICK_FROM >= 1_000:
        for _ in range(100):
            port = _pick.randrange(PICK_FROM, low)
            try:
                check_free(port, kind, host)
            except PortInUseError:
                continue
            return port
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        chosen: int = s.getsockname()[1]
        return chosen


def _proto(kind: int) -> str:
    return "TCP" if kind == socket.SOCK_STREAM else "UDP"


def check_free(port: int, kind: int, host: str) -> None:
    """PortInUseError (naming the port) unless `port` can be bound on `host` now."""
    with socket.socket(socket.AF_INET, kind) as s:
        if kind == socket.SOCK_STREAM:
            # As the server's own listener does (Go sets SO_REUSEADDR): connections of a server that just died
            # linger in TIME_WAIT for a minute and must not stop a restart on the same port. A live listener still
            # makes the bind fail.
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise PortInUseError(
                f"{_proto(kind)} port {host}:{port} is already in use; pick another port or pass none to get a "
                "free one.",
                port=port,
            ) from exc


def free_shared_port(kind: int, hosts: tuple[str, ...]) -> int:
    """A port free on every one of `hosts` (e.g. a server's UDP port and its relay's twin on 127.0.0.2)."""
    for _ in range(50):
        port = free_port(kind, hosts[0])
        try:
            for host in hosts[1:]:
                check_free(port, kind, host)
        except PortInUseError:
            continue
        return port
    raise ServerStartError(f"no {_proto(kind)} port free on all of {', '.join(hosts)}")


def retry_port_collisions(start: Callable[[], T], *, attempts: int) -> T:
    """`start()`, again up to `attempts` times in all while it raises PortInUseError; the last one is raised.

    Free ports are probed, then bound by the child: another process (any WebRTC client binds ephemeral UDP ports)
    can take one in between. `start` must pick new ports each time (an owner whose ports live in a configuration
    makes a fresh configuration in `start`)."""
    for attempt in range(attempts):
        try:
            return start()
        except PortInUseError as exc:
            if attempt == attempts - 1:
                raise
            log.info("port %s was taken between probe and bind; starting again on new ports", exc.port)
    raise ValueError(f"attempts must be at least 1, not {attempts}")


# -- spawning ------------------------------------------------------------------------------------------------------
def parent_death_signal(parent: int, sig: int = signal.SIGKILL) -> Callable[[], None] | None:
    """A preexec function that has Linux send the child `sig` when the thread that spawns it dies. None where
    unavailable. `parent` is the spawning process's pid: if it died before prctl() took effect, the child exits.

    SIGKILL by default, not SIGTERM: livekit-server's graceful shutdown can hang when SIGTERM lands during its
    startup, and a server whose owner is gone has no one left to drain rooms for."""
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, int(sig))
        if os.getppid() != parent:  # the owner died between fork() and prctl(): nobody would signal us
            os._exit(1)

    return preexec


_Job = tuple[Callable[[], "subprocess.Popen[bytes]"], "Future[subprocess.Popen[bytes]]"]


class _SpawnerThread:
    """Starts every child from one long-lived thread, so the parent-death signal means "the process died".

    Linux delivers PR_SET_PDEATHSIG when the *thread* that forked the child exits, not the process. A server
    spawned from a short-lived thread (`asyncio.to_thread`, an executor, the lab starting its server off the event
    loop) would be killed as soon as that thread finished; skipping the signal there instead (as this toolkit once
    did) leaves an orphan when the kernel is SIGKILLed, since no atexit handler runs then. This daemon thread only
    ends with the process (daemon threads are never joined at exit), so every child's death is tied to its
    owner process's, whichever thread asked for it. A forked child (e.g. a lab worker) gets its own thread.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def popen(self, start: Callable[[], subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
        """Run `start` (which calls Popen) on the spawner thread and return its process."""
        with self._lock:
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._jobs = queue.SimpleQueue()  # after fork(), the parent's queue has no reader here
                self._thread = threading.Thread(
                    target=self._run, args=(self._jobs,), name="lk_notebook-server-spawner", daemon=True
                )
                self._pid = os.getpid()
                self._thread.start()
            jobs = self._jobs
        done: Future[subprocess.Popen[bytes]] = Future()
        jobs.put((start, done))
        return done.result()

    @staticmethod
    def _run(jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            start, done = jobs.get()
            try:
                done.set_result(start())
            except BaseException as exc:  # handed to the caller, who raises it
                done.set_exception(exc)


_spawner = _SpawnerThread()


def spawn(
    argv: list[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: int | IO[bytes] | None = subprocess.DEVNULL,
    stdout: int | IO[bytes] | None = subprocess.DEVNULL,
    stderr: int | IO[bytes] | None = subprocess.DEVNULL,
    death_signal: int = signal.SIGKILL,
) -> subprocess.Popen[bytes]:
    """Popen `argv` in a session of its own, from the one spawner thread, with the parent-death signal: the child
    gets `death_signal` when this process ends, whichever thread calls spawn() and however the process ends
    (None for stdout/stderr: inherit this process's)."""
    owner = os.getpid()

    def start() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            argv,
            env=env,
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=parent_death_signal(owner, death_signal),
        )

    return _spawner.popen(start)


def wait_ready(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    *,
    name: str,
    where: str,
    port: int,
    log_tail: Callable[[], str],
    timeout: float,
    interval: float,
) -> None:
    """Return once `ready()` (a probe that may raise OSError: not yet). Raise PortInUseError if `proc` exits
    saying a port is in use (its owner retries that on new ports), ServerExitedError if it exits otherwise,
    ServerStartError after `timeout` seconds. `log_tail()` gives the child's last log lines for the message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        code = proc.poll()
        if code is not None:
            tail = log_tail()
            if "address already in use" in tail.lower():
                raise PortInUseError(f"{name} could not bind its ports on {where} (in use):\n{tail}", port=port)
            raise ServerExitedError(
                f"{name} exited with code {code} before it was ready. Last log lines:\n{tail}",
                returncode=code,
                log_tail=tail,
            )
        with contextlib.suppress(OSError):
            if ready():
                return
        time.sleep(interval)
    raise ServerStartError(f"{name} did not answer on {where} within {timeout:.0f} s. Last log lines:\n{log_tail()}")


# -- stopping ------------------------------------------------------------------------------------------------------
_TERM_REPEAT_S = 0.25
"""How often terminate() repeats SIGTERM while it waits."""


def terminate(proc: subprocess.Popen[bytes], *, timeout: float) -> None:
    """SIGTERM, then SIGKILL if `proc` has not exited within `timeout`; returns once it is gone."""
    if proc.poll() is not None:
        return
    # Repeated: livekit-server answers HTTP ~100 ms before it marks itself running, and Stop() returns at once
    # when not running, so a SIGTERM in that window is lost (measured: stopped right after start(), it sat out the
    # whole 10 s timeout every time; 0.5 s later, it exits at once). A later SIGTERM forces the stop, which also
    # ends the wait a graceful stop makes for connected participants to leave (it would otherwise wait for them
    # until the SIGKILL).
    deadline = time.monotonic() + timeout
    while True:
        proc.terminate()
        try:
            proc.wait(timeout=max(0.0, min(_TERM_REPEAT_S, deadline - time.monotonic())))
            return
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                break
    proc.kill()
    proc.wait(timeout=timeout)


class Stoppable(Protocol):
    def stop(self) -> None: ...


S = TypeVar("S", bound=Stoppable)

_registries: list[Callable[[], None]] = []
"""Each StopAtExit's stop_all, in the order they were made."""


class StopAtExit(Generic[S]):
    """The running objects of one kind, stopped at interpreter exit (weakly held: a collected one is gone).

    Registries are stopped in the reverse order of their creation, as atexit runs its handlers: a cluster (made
    after the servers and Redis it owns) stops before them.

    Example::

        _running = StopAtExit[LocalServer]()
        _running.add(server)          # after start
        _running.discard(server)      # in stop()
    """

    def __init__(self) -> None:
        self._live: weakref.WeakSet[S] = weakref.WeakSet()
        _registries.append(self.stop_all)

    def add(self, owner: S) -> None:
        self._live.add(owner)

    def discard(self, owner: S) -> None:
        self._live.discard(owner)

    def __iter__(self) -> Iterator[S]:
        return iter(list(self._live))  # a copy: stop() discards while we iterate

    def stop_all(self) -> None:
        for owner in self:
            with contextlib.suppress(Exception):
                owner.stop()


@atexit.register
def _stop_everything() -> None:
    for stop_all in reversed(_registries):
        stop_all()
