"""Run one real livekit-server on loopback (installing it is `install.py`'s job; a cluster is `cluster.py`'s).

Example::

    with LocalServer() as server:          # installs the pinned server on first use, then starts it
        print(server.url)                  # ws://127.0.0.1:<free port>
        session = await lk_notebook.join("demo", identity="me", url=server.url,
                                         api_key=server.api_key, api_secret=server.api_secret)

The server binds only 127.0.0.1, gets a fresh random secret of 48 characters, and is handed a loopback STUN
address, so nothing ever waits on the internet. With `relay=True` it is laid out so that a userland UDP relay at
127.0.0.2 is the only media path (see `RelayLayout`), which is how the delivery lab injects loss and delay.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import tempfile
import threading
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from . import install
from ._logging import copy_scrubbed
from .errors import ServerExitedError, ServerInstallError
from .install import Progress, find_server, install_server
from .process import (
    StopAtExit,
    check_free,
    free_port,
    free_shared_port,
    retry_port_collisions,
    spawn,
    terminate,
    wait_ready,
)
from .relay_host import RELAY_HOST, check_relay_host

__all__ = ["LocalServer", "RelayLayout", "running_server"]

_MOVED_TO_INSTALL = frozenset({"GO_MODULE", "SERVER_VERSION", "cache_dir", "release_asset_names", "server_version"})


def __getattr__(name: str) -> Any:
    # The old import path of what moved to install.py (`from lk_notebook.server import SERVER_VERSION`).
    if name in _MOVED_TO_INSTALL:
        return getattr(install, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _quiet(_: str) -> None:
    pass


@dataclass(frozen=True, slots=True)
class RelayLayout:
    """Addresses of the relay layout: the server advertises `advertised` as its only ICE candidate but
    listens on `upstream`; a relay listening on `advertised` forwards to `upstream`."""

    advertised: tuple[str, int]
    upstream: tuple[str, int]


_running = StopAtExit["LocalServer"]()


class LocalServer:
    """A livekit-server on loopback, owned by this process.

    Example::

        server = LocalServer().start()
        os.environ.update(server.env())      # LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET
        ...
        server.stop()                        # also done at interpreter exit

    Arguments are keyword-only. `port` / `udp_port` default to free ports. `relay=True` lays the server out for
    the lab's impairment relay (see `RelayLayout`). `config` is merged over the generated configuration (e.g.
    `{"limit": {"max_metadata_size": 1024}}`). The secret is generated, at least 32 characters, and never shown
    in reprs or logs.
    """

    def __init__(
        self,
        *,
        binary: Path | str | None = None,
        port: int | None = None,
        udp_port: int | None = None,
        relay: bool = False,
        api_key: str = "lk_notebook",
        api_secret: str | None = None,
        log_dir: Path | str | None = None,
        config: dict[str, Any] | None = None,
        install: bool = True,
        progress: Progress = _quiet,
    ) -> None:
        if api_secret is not None and len(api_secret) < 32:
            raise ValueError("api_secret must be at least 32 characters (PyJWT warns on shorter HMAC keys)")
        self._binary = Path(binary) if binary is not None else None
        self._requested_port = port
        self._requested_udp_port = udp_port
        self.relay = relay
        self.api_key = api_key
        self._api_secret = api_secret or secrets.token_urlsafe(36)  # 48 characters
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._extra_config = config or {}
        self._install = install
        self._progress = progress
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_copy: threading.Thread | None = None
        self._lock = threading.Lock()
        self.port = 0
        self.udp_port = 0
        self.returncode: int | None = None
        """The exit status of the last server process stop() ended (-9: it had to be killed)."""
        self.log_path: Path | None = None
        self.binary_path: Path | None = None

    # -- public read-only facts ---------------------------------------------------------------------------------
    @property
    def api_secret(self) -> str:
        """The generated API secret. Deliberately not in repr() or any log line."""
        return self._api_secret

    @property
    def url(self) -> str:
        """WebSocket URL for SDK clients."""
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        """HTTP URL (the server API lives here too)."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def relay_layout(self) -> RelayLayout | None:
        """Where the lab's relay must listen and forward to, when started with `relay=True`."""
        if not self.relay or not self.udp_port:
            return None
        return RelayLayout(advertised=(RELAY_HOST, self.udp_port), upstream=("127.0.0.1", self.udp_port))

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def env(self) -> dict[str, str]:
        """The LIVEKIT_* variables that SDKs, the `lk` CLI and lk_notebook read."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key, "LIVEKIT_API_SECRET": self._api_secret}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        where = f" url={self.url!r}" if self.port else ""
        return f"<LocalServer {state}{where} relay={self.relay} api_key={self.api_key!r} api_secret=***>"

    # -- lifecycle ----------------------------------------------------------------------------------------------
    def config_dict(self) -> dict[str, Any]:
        """The configuration the server is started with (contains the secret: never print it)."""
        rtc: dict[str, Any] = {
            "udp_port": self.udp_port,
            # ICE/TCP listens on every address and would bypass the relay; loopback UDP is all we need.
            "tcp_port": 0,
            "use_external_ip": False,
            "enable_loopback_candidate": True,
            "ips": {"includes": ["127.0.0.1/32"]},
            # With no STUN servers configured, clients are handed public ones and wait on them offline.
            "stun_servers": [f"127.0.0.1:{self._stun_port}"],
            "node_ip": RELAY_HOST if self.relay else "127.0.0.1",
        }
        if self.relay:
            # ICE-lite: the server never probes the client directly, so the only candidate pair is via the relay.
            rtc["use_ice_lite"] = True
        config: dict[str, Any] = {
            "port": self.port,
            "bind_addresses": ["127.0.0.1"],
            "keys": {self.api_key: self._api_secret},
            "rtc": rtc,
            "logging": {"level": "info", "json": False},
        }
        return _merge(config, self._extra_config)

    def start(self, *, timeout: float = 30.0, attempts: int = 3) -> LocalServer:
        """Start the server and wait until it answers. Returns self. Installs the binary first if needed.

        Free ports are probed, then bound by the server: another process (any WebRTC client binds ephemeral UDP
        ports) can take one in between. With ports left to us, that collision is retried on new ports, up to
        `attempts` starts; a port you asked for is never swapped for another.
        """
        chosen_by_us = self._requested_port is None and self._requested_udp_port is None
        return retry_port_collisions(lambda: self._start_once(timeout), attempts=attempts if chosen_by_us else 1)

    def _start_once(self, timeout: float) -> LocalServer:
        with self._lock:
            if self.running:
                return self
            binary = self._binary or find_server()
            if binary is None:
                if not self._install:
                    raise ServerInstallError(
                        "no livekit-server found (LIVEKIT_SERVER_BIN, PATH, cache). Run `lk-notebook "
                        "install-server`, or pass install=True."
                    )
                binary = install_server(progress=self._progress)
            self.binary_path = binary
            if self.relay:
                check_relay_host()  # before any port is probed there: macOS has no 127.0.0.2 unless aliased
            self.port = self._requested_port or free_port(socket.SOCK_STREAM)
            check_free(self.port, socket.SOCK_STREAM, "127.0.0.1")
            udp_hosts = ("127.0.0.1", RELAY_HOST) if self.relay else ("127.0.0.1",)
            if self._requested_udp_port:
                self.udp_port = self._requested_udp_port
                for host in udp_hosts:
                    check_free(self.udp_port, socket.SOCK_DGRAM, host)
            else:
                self.udp_port = free_shared_port(socket.SOCK_DGRAM, udp_hosts)
            self._stun_port = free_port(socket.SOCK_DGRAM)
            log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="lk_notebook-server-"))
            log_dir.mkdir(parents=True, exist_ok=True)
            self.log_path = log_dir / f"livekit-server-{self.port}.log"
            self.log_path.write_bytes(b"")
            # The config (with the secret) goes through the environment, not argv, so `ps` does not show it.
            env = dict(os.environ, LIVEKIT_CONFIG=json.dumps(self.config_dict()))
            for var in ("LIVEKIT_KEYS", "NODE_IP", "UDP_PORT", "REDIS_HOST", "REDIS_PASSWORD"):
                env.pop(var, None)
            # stdout through copy_scrubbed: the server logs refused tokens in full.
            self._proc = spawn([str(binary)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            assert self._proc.stdout is not None
            self._log_copy = copy_scrubbed(self._proc.stdout, self.log_path)
            _running.add(self)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        proc = self._proc
        assert proc is not None

        def answers() -> bool:
            with urllib.request.urlopen(self.http_url + "/", timeout=1) as resp:  # URLError is an OSError
                return bool(resp.status == 200)

        def log_tail() -> str:
            if proc.poll() is not None and self._log_copy is not None:
                self._log_copy.join(5)  # the last lines, up to the exit
            return self.log_tail()

        wait_ready(
            proc,
            answers,
            name="livekit-server",
            where=self.http_url,
            port=self.port,
            log_tail=log_tail,
            timeout=timeout,
            interval=0.05,
        )

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the server log (the log never contains the API secret)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        """Raise ServerExitedError (with the log tail) if the server has died."""
        if self._proc is not None and self._proc.poll() is not None:
            tail = self.log_tail()
            raise ServerExitedError(
                f"livekit-server exited with code {self._proc.returncode}. Last log lines:\n{tail}",
                returncode=self._proc.returncode,
                log_tail=tail,
            )

    def stop(self, *, timeout: float = 10.0) -> None:
        """Stop the server (SIGTERM, then SIGKILL after `timeout`). Safe to call twice."""
        with self._lock:
            proc, self._proc = self._proc, None
            if proc is not None:
                terminate(proc, timeout=timeout)
                self.returncode = proc.returncode
            if self._log_copy is not None:
                self._log_copy.join(5)  # ends at the server's exit (EOF on its output)
                self._log_copy = None
            _running.discard(self)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


@contextlib.contextmanager
def running_server(**kwargs: Any) -> Iterator[LocalServer]:
    """`with running_server(relay=True) as server:` — a started LocalServer that is stopped afterwards."""
    server = LocalServer(**kwargs).start()
    try:
        yield server
    finally:
        server.stop()
