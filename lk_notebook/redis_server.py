"""A private Redis for a local LiveKit cluster: Debian's `redis-server` on a free loopback port, with a password.

Example::

    with RedisServer() as redis:
        redis.command("PING")                          # "PONG"
        redis.config()                                 # {"address": "127.0.0.1:<port>", "password": ...}

The password never reaches argv or a file: the configuration goes to `redis-server -` on its standard input. Nothing
is persisted (no RDB snapshot, no AOF): the data lives as long as the process. A tiny RESP client is enough for
what lk_notebook asks of Redis (readiness, which node hosts a room, which nodes are registered), so there is no
Python Redis dependency.
"""

from __future__ import annotations

import secrets
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path
from types import TracebackType
from typing import IO

from .errors import RedisMissingError
from .process import StopAtExit, free_port, retry_port_collisions, spawn, terminate, wait_ready

__all__ = ["REDIS_PACKAGE", "RedisServer", "find_redis", "resp_command"]

REDIS_PACKAGE = "redis-server"
"""The Debian (and Ubuntu) package that ships the `redis-server` binary."""

Reply = str | int | bytes | list["Reply"] | None

_running = StopAtExit["RedisServer"]()


def find_redis() -> Path:
    """`redis-server` on PATH, else RedisMissingError naming the package to install."""
    found = shutil.which("redis-server")
    if found is None:
        raise RedisMissingError(
            f"a local LiveKit cluster needs Redis, and no `redis-server` is on PATH. Install Debian's "
            f"`{REDIS_PACKAGE}` package (`sudo apt-get install {REDIS_PACKAGE}`; on Binder add it to "
            f"binder/apt.txt), or point at your own Redis."
        )
    return Path(found)


def _encode(*args: str | bytes | int) -> bytes:
    out = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


def _read_reply(f: IO[bytes]) -> Reply:
    line = f.readline()
    if not line:
        raise ConnectionError("Redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise ConnectionRefusedError(f"Redis error: {rest.decode(errors='replace')}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_read_reply(f) for _ in range(n)]
    raise ConnectionError(f"unexpected Redis reply {line!r}")


def resp_command(address: tuple[str, int], password: str, *args: str | bytes | int, timeout: float = 2.0) -> Reply:
    """One authenticated Redis command on a fresh connection (loopback: a connection costs well under 1 ms)."""
    with socket.create_connection(address, timeout=timeout) as sock, sock.makefile("rb") as f:
        sock.sendall(_encode("AUTH", password) + _encode(*args))
        _read_reply(f)
        return _read_reply(f)


class RedisServer:
    """A `redis-server` process owned by this one (stopped on stop(), context exit, interpreter exit, owner death).

    The password is generated and never shown in repr(); `config()` gives livekit-server's `redis:` section.
    """

    def __init__(self, *, binary: Path | str | None = None, log_dir: Path | str | None = None) -> None:
        self._binary = Path(binary) if binary is not None else None
        self._password = secrets.token_urlsafe(24)
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.log_path: Path | None = None
        self._workdir: str | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def password(self) -> str:
        """The generated password. Deliberately not in repr() or any log line."""
        return self._password

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def config(self) -> dict[str, str | int]:
        """livekit-server's `redis:` configuration section (contains the password: never print it)."""
        return {"address": f"127.0.0.1:{self.port}", "password": self._password, "db": 0}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<RedisServer {state} 127.0.0.1:{self.port} password=***>"

    def start(self, *, timeout: float = 10.0, attempts: int = 3) -> RedisServer:
        """Start Redis on a free loopback port and wait until it answers PING. Returns self."""
        binary = self._binary or find_redis()
        retry_port_collisions(lambda: self._start_once(binary, timeout), attempts=attempts)
        return self

    def _start_once(self, binary: Path, timeout: float) -> None:
        with self._lock:
            self.port = free_port(socket.SOCK_STREAM)
            log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="lk_notebook-redis-"))
            log_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = log_dir / f"redis-{self.port}.log"
            self._workdir = tempfile.mkdtemp(prefix="lk_notebook-redis-data-")
            conf = "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    "protected-mode yes",
                    f'requirepass "{self._password}"',
                    'save ""',
                    "appendonly no",
                    f'dir "{self._workdir}"',
                    "daemonize no",
                    f'logfile "{self.log_path}"',
                ]
            )
            # Spawned like every server, so Redis dies with its owner process.
            self._proc = spawn([str(binary), "-"], stdin=subprocess.PIPE)
            assert self._proc.stdin is not None
            self._proc.stdin.write(conf.encode())
            self._proc.stdin.close()
            _running.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:  # a port collision (retried on a new port), a timeout, an early exit
            self.stop()
            raise

    def log_tail(self, lines: int = 10) -> str:
        """The last lines of Redis's log (which never contains the password)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def _wait_ready(self, timeout: float) -> None:
        assert self._proc is not None
        wait_ready(
            self._proc,
            lambda: self.command("PING") == "PONG",
            name="redis-server",
            where=f"127.0.0.1:{self.port}",
            port=self.port,
            log_tail=self.log_tail,
            timeout=timeout,
            interval=0.02,
        )

    def command(self, *args: str | bytes | int) -> Reply:
        """Run one Redis command (authenticated) and return its reply."""
        return resp_command(self.address, self._password, *args)

    def stop(self, *, timeout: float = 5.0) -> None:
        """Stop Redis (SIGTERM, then SIGKILL after `timeout`). Safe to call twice."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                terminate(proc, timeout=timeout)
            if self._workdir is not None:
                shutil.rmtree(self._workdir, ignore_errors=True)
                self._workdir = None
            _running.discard(self)

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
