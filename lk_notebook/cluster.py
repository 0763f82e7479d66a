"""Run a local LiveKit cluster: one private Redis and N livekit-server nodes on loopback.

Example::

    with LocalCluster(nodes=2) as cluster:
        cluster.urls                                   # ["ws://127.0.0.1:<p1>", "ws://127.0.0.1:<p2>"]
        cluster.node_ids                               # ["ND_...", "ND_..."] (new at every start)
        async with ServerAPI(cluster.credentials) as admin:
            await admin.create_room("demo", node_id=cluster.node_ids[1])   # pin the room to node 2
        session = await lk_notebook.join("demo", identity="ann", url=cluster.urls[0], ...)  # relayed to node 2
        cluster.room_node("demo")                      # "ND_..." of node 2, read from Redis

What LiveKit does with this (livekit-server v1.13.5 source, see livekit-facts.md): a whole room lives on one node,
recorded in Redis (`room_node_map`); a signal connection that reaches another node is relayed to it over Redis;
media and data go straight to the hosting node's `rtc.node_ip` and UDP port. Every node here has its own HTTP,
RTC UDP, RTC TCP, prometheus and debug ports, so clusters and single servers can run side by side.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from .config import Credentials
from .errors import ServerExitedError, ServerStartError
from .install import find_server, install_server
from .process import StopAtExit, free_port, retry_port_collisions
from .redis_server import RedisServer
from .server import LocalServer, RelayLayout

__all__ = ["LocalCluster", "Placement", "cluster_for_url", "placement"]

_NODE_ID = re.compile(r'"nodeID":\s*"(ND_[A-Za-z0-9]+)"')

_running = StopAtExit["LocalCluster"]()


def cluster_for_url(url: str) -> tuple[LocalCluster, int] | None:
    """The running local cluster that has a node at `url`, and that node's index; None for anything else."""
    for cluster in _running:
        if url.rstrip("/") in cluster.urls:
            return cluster, cluster.urls.index(url.rstrip("/"))
    return None


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a session sits in a local cluster: the node it connected through and the node hosting its room."""

    via_node: int
    """1-based number of the node whose URL the session connected to."""
    via_node_id: str
    room_node: int | None
    """1-based number of the node hosting the room (None: not placed yet, or not one of this cluster's nodes)."""
    room_node_id: str | None

    def describe(self) -> str:
        room = "not placed" if self.room_node_id is None else f"on node {self.room_node or '?'} ({self.room_node_id})"
        relayed = " (signal relayed)" if self.room_node is not None and self.room_node != self.via_node else ""
        return f"via node {self.via_node} ({self.via_node_id}), room {room}{relayed}"


def placement(url: str, room: str) -> Placement | None:
    """The placement of a session at `url` in `room`, if `url` is a node of a running local cluster; else None.
    Also None when the cluster's Redis cannot be read (a view must not fail because Redis went away)."""
    found = cluster_for_url(url)
    if found is None:
        return None
    cluster, index = found
    try:
        room_id = cluster.room_node(room)
    except (OSError, ServerStartError):
        return None
    room_index = cluster.node_ids.index(room_id) + 1 if room_id in cluster.node_ids else None
    return Placement(index + 1, cluster.node_ids[index], room_index, room_id)


_PORT_ATTEMPTS = 3
"""Starts of one node on fresh ports before a port collision is reported."""


def _node_config(redis: RedisServer, extra: dict[str, Any], *, relay: bool) -> dict[str, Any]:
    """What a node adds to LocalServer's single-node configuration: Redis, and ports of its own."""
    config: dict[str, Any] = {
        "redis": redis.config(),
        "prometheus": {"port": free_port(socket.SOCK_STREAM)},
        "debug_handler": {"port": free_port(socket.SOCK_STREAM)},
    }
    if not relay:
        # ICE/TCP on its own port (the single-node default of 0 disables it; two nodes must not share 7881). Not in
        # relay layout, where TCP candidates would bypass the impairment relay.
        config["rtc"] = {"tcp_port": free_port(socket.SOCK_STREAM)}
    for key, value in extra.items():
        config[key] = {**config.get(key, {}), **value} if isinstance(value, dict) else value
    return config


class LocalCluster:
    """Redis plus `nodes` livekit-server nodes on loopback, owned by this process.

    They share one API key and a generated secret. Everything stops on stop(), on context exit, at interpreter exit
    and (Linux) when this process dies. `config` is merged into every node's configuration. `relay=True` lays every
    node out for an impairment relay of its own (`relay_layouts`, see `LocalServer(relay=True)`).
    """

    def __init__(
        self,
        nodes: int = 2,
        *,
        relay: bool = False,
        api_key: str = "lk_notebook",
        log_dir: Path | str | None = None,
        config: dict[str, Any] | None = None,
        install: bool = True,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        if nodes < 1:
            raise ValueError("a cluster needs at least one node")
        self.size = nodes
        self.relay = relay
        self.api_key = api_key
        self._log_dir = Path(log_dir) if log_dir is not None else None
        self._extra_config = config or {}
        self._install = install
        self._progress = progress or (lambda _: None)
        self._lock = threading.Lock()
        self.redis: RedisServer | None = None
        self.nodes: list[LocalServer] = []
        self.node_ids: list[str] = []
        self._api_secret = ""

    # -- facts ----------------------------------------------------------------------------------------------------
    @property
    def urls(self) -> list[str]:
        """Each node's WebSocket URL, in node order."""
        return [n.url for n in self.nodes]

    @property
    def url(self) -> str:
        """The first node's URL."""
        return self.urls[0]

    @property
    def relay_layouts(self) -> list[RelayLayout]:
        """Per node, where its impairment relay listens and forwards to (empty unless started with relay=True)."""
        return [layout for n in self.nodes if (layout := n.relay_layout) is not None]

    @property
    def api_secret(self) -> str:
        """The shared API secret. Deliberately not in repr() or any log line."""
        return self._api_secret

    @property
    def credentials(self) -> Credentials:
        """Credentials for the first node (any node accepts the same key and secret)."""
        return self.credentials_for(0)

    def credentials_for(self, node: int) -> Credentials:
        """Credentials pointing at node `node` (0-based)."""
        return Credentials(self.nodes[node].url, self.api_key, self._api_secret, f"local cluster node {node + 1}")

    @property
    def running(self) -> bool:
        return self.redis is not None and self.redis.running and any(n.running for n in self.nodes)

    def env(self) -> dict[str, str]:
        """LIVEKIT_* variables for the first node."""
        return {"LIVEKIT_URL": self.url, "LIVEKIT_API_KEY": self.api_key, "LIVEKIT_API_SECRET": self._api_secret}

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return (
            f"<LocalCluster {state} nodes={self.urls or self.size} relay={self.relay} api_key={self.api_key!r} "
            f"api_secret=***>"
        )

    # -- placement, read from Redis -------------------------------------------------------------------------------
    def room_node(self, room: str) -> str | None:
        """The id of the node that hosts `room` (Redis `room_node_map`), or None if no node was chosen yet."""
        reply = self._redis().command("HGET", "room_node_map", room)
        return reply.decode() if isinstance(reply, bytes) else None

    def registered_nodes(self) -> list[str]:
        """Node ids registered in Redis (the `nodes` hash that `livekit-server list-nodes` reads)."""
        reply = self._redis().command("HKEYS", "nodes")
        return sorted(k.decode() for k in reply if isinstance(k, bytes)) if isinstance(reply, list) else []

    def node_index(self, node_id: str) -> int:
        """0-based index of a node id; ValueError for an id that is not one of this cluster's nodes."""
        try:
            return self.node_ids.index(node_id)
        except ValueError:
            raise ValueError(f"{node_id!r} is not a node of this cluster ({', '.join(self.node_ids)})") from None

    def _redis(self) -> RedisServer:
        redis = self.redis
        if redis is None or redis.pid() is None:
            raise ServerStartError("the cluster's Redis is not running: start the cluster first")
        if not redis.running:
            tail = redis.log_tail()
            raise ServerExitedError(
                f"the cluster's Redis (pid {redis.pid()}) has exited: the nodes cannot place or relay rooms without "
                f"it. Stop the cluster and start a new one. Last Redis log lines:\n{tail}",
                returncode=None,
                log_tail=tail,
            )
        return redis

    # -- lifecycle ------------------------------------------------------------------------------------------------
    def start(self, *, timeout: float = 30.0) -> LocalCluster:
        """Start Redis, then the nodes (concurrently), and wait until every node answers. Returns self."""
        with self._lock:
            if self.running:
                return self
            binary = find_server()
            if binary is None:
                if not self._install:
                    raise ServerStartError("no livekit-server found; run `lk-notebook install-server`")
                binary = install_server(progress=self._progress)
            log_dir = self._log_dir or Path(tempfile.mkdtemp(prefix="lk_notebook-cluster-"))
            _running.add(self)
            try:
                self.redis = RedisServer(log_dir=log_dir).start()
                self.nodes = []
                for _ in range(self.size):
                    self.nodes.append(self._start_node(binary, log_dir, timeout))
                self.node_ids = [self._read_node_id(n, timeout) for n in self.nodes]
            except BaseException:
                self._stop_locked()
                raise
        return self

    def _start_node(self, binary: Path, log_dir: Path, timeout: float) -> LocalServer:
        # One after another: a node is ready in well under a second here, so a 2-node cluster starts in ~1 s.
        def start_on_fresh_ports() -> LocalServer:
            # A node's extra ports (metrics, debug, ICE/TCP) are in its config, which start()'s own retry would
            # reuse: a collision needs a fresh config, so each attempt makes a new node.
            node = LocalServer(
                binary=binary,
                api_key=self.api_key,
                api_secret=self._api_secret or None,
                log_dir=log_dir,
                relay=self.relay,
                config=_node_config(self._redis(), self._extra_config, relay=self.relay),
                install=False,
            )
            self._api_secret = node.api_secret  # the first node generates it; the others share it
            return node.start(timeout=timeout, attempts=1)

        return retry_port_collisions(start_on_fresh_ports, attempts=_PORT_ATTEMPTS)

    @staticmethod
    def _read_node_id(node: LocalServer, timeout: float) -> str:
        # The node logs its id on the line "starting LiveKit server", written before it listens.
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if node.log_path is not None and node.log_path.exists():
                found = _NODE_ID.search(node.log_path.read_text(errors="replace"))
                if found:
                    return found.group(1)
            time.sleep(0.02)
        raise ServerStartError(f"node {node.url} never logged its node id. Last log lines:\n{node.log_tail()}")

    def kill_node(self, node: int) -> None:
        """SIGKILL node `node` (0-based), as a crash would: no draining, no deregistration from Redis."""
        target = self.nodes[node]
        pid = target.pid()
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while target.running and time.monotonic() < deadline:  # `running` polls, which reaps the process
                time.sleep(0.01)

    def stop(self) -> None:
        """Stop every node, then Redis. Safe to call twice."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        # livekit-server v1.13.5 answers HTTP 100 ms before it marks itself running, and a SIGTERM in that window is
        # ignored (Stop() returns when not running; pkg/service/server.go): a second SIGTERM then forces the stop.
        # So: SIGTERM every node at once, again to any still running after a moment, SIGKILL after a bound. Nothing
        # needs draining: Redis, the cluster's shared state, goes away right after.
        for attempt_wait in (1.0, 2.0):
            for node in self.nodes:
                pid = node.pid()
                if pid is not None and node.running:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + attempt_wait
            while time.monotonic() < deadline and any(n.running for n in self.nodes):
                time.sleep(0.02)
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.stop(timeout=1.0)  # SIGKILL what is left, close the log
        if self.redis is not None:
            self.redis.stop()
        _running.discard(self)

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
