"""Where a rig runs: a local server (with the impairment relay in front of it), a remote server, or a cluster's
nodes in a chosen topology. A `Placement` starts what it owns, gives credentials per node and stops it all again.

On a cluster every node gets its own relay; the room's node's relay carries all the media and data (LiveKit sends
them straight to the room's node, whichever node relays the signal), so that is the one that impairs.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from ..admin import ServerAPI
from ..config import Credentials, resolve_credentials
from ..errors import LabError
from ..server import LocalServer
from .relay import ImpairmentRelay
from .serverlog import logs_send_failures

if TYPE_CHECKING:
    from ..cluster import LocalCluster

__all__ = ["ClusterTopology", "Placement", "RigOptions", "no_relay_advice"]


def no_relay_advice(url: str | None = None) -> str:
    """Why a lab cannot impair, and exactly what to pass instead (for its LabError and `bench`'s error).

    The relay must be in front of the server's UDP port from the server's start (`LocalServer(relay=True)`), so a
    server the lab did not start cannot be impaired, even one on this machine (`lk-notebook server`)."""
    url = url if url is not None else os.environ.get("LIVEKIT_URL")
    where = f"the server at {url}" if url else "a server given by url=..."
    if url and any(h in url for h in ("127.0.0.1", "localhost", "[::1]")):
        where += " (on this machine, but not started by the lab)"
    return (
        f"impairment (loss, delay, jitter, bandwidth) needs the lab's relay in front of a server it starts itself; "
        f"this lab uses {where}, which cannot be impaired. Pass `server=lk_notebook.LocalServer(relay=True)` to "
        f"measure(...) or Lab(...), or run `lk-notebook bench --local ...` (or unset LIVEKIT_URL); or drop the "
        f"impairment to measure that server as it is."
    )


@dataclass(frozen=True, slots=True)
class ClusterTopology:
    """Where a rig's participants join and its room lives, as 0-based node indexes of a LocalCluster."""

    sender_node: int = 0
    """Node the sender connects through (its signal is relayed when this is not the room's node)."""
    receiver_node: int = 1
    """Node the receiver (and later joiners) connect through."""
    room_node: int = 0
    """Node the room is pinned to (CreateRoomRequest.node_id): all media and data flow through it."""
    api_node: int | None = None
    """Node whose server API the lab's own changes go to (room metadata; None: the sender's node)."""

    @property
    def api(self) -> int:
        """The node the lab's own server-API changes go to: `api_node`, or the sender's node when None."""
        return self.sender_node if self.api_node is None else self.api_node

    def describe(self) -> str:
        sender, receiver, room = self.sender_node + 1, self.receiver_node + 1, self.room_node + 1
        return f"sender via node {sender}, receiver via node {receiver}, room on node {room}"


class RigOptions(TypedDict, total=False):
    """Where a rig runs: Rig(**options) and Lab(**options) take these."""

    server: LocalServer | None
    """A LocalServer to use (in relay layout for impairment)."""
    cluster: LocalCluster | None
    """A LocalCluster (`relay=True` for impairment), with a `topology`."""
    topology: ClusterTopology | None
    url: str | None
    """A remote server (no impairment), with `api_key` and `api_secret`."""
    api_key: str | None
    api_secret: str | None
    room: str | None
    """The room's name (default: a fresh lk-lab-... name)."""
    seed: int | None
    """Seed of the relay's loss and jitter draws."""


class Placement:
    """The server side of a rig (see RigOptions): validated at once, started by `start()`, stopped by `close()`."""

    def __init__(self, options: RigOptions) -> None:
        unknown = set(options) - RigOptions.__optional_keys__
        if unknown:
            raise TypeError(f"unknown rig option(s) {sorted(unknown)}: use {', '.join(RigOptions.__optional_keys__)}")
        server, cluster, topology = options.get("server"), options.get("cluster"), options.get("topology")
        url = options.get("url")
        if topology is not None and cluster is None:
            raise LabError("a topology places participants on a cluster's nodes: pass cluster=LocalCluster(...) too")
        if cluster is not None and (server is not None or url is not None):
            raise LabError("pass one of server=, cluster= or url=, not several")
        self.server = server
        self.cluster = cluster
        self.topology = topology or (ClusterTopology() if cluster is not None else None)
        self.seed = options.get("seed")
        self.explicit = (url, options.get("api_key"), options.get("api_secret")) if url is not None else None
        self.relays: list[ImpairmentRelay] = []
        """On a cluster in relay layout: one relay per node (`relay` is the room node's)."""
        self.relay: ImpairmentRelay | None = None
        self.credentials: Credentials | None = None
        self._owns_server = False

    def relay_possible(self) -> bool:
        """Whether `start()` will run a relay (impairment is possible)."""
        if self.server is not None:
            return self.server.relay
        if self.cluster is not None:
            return self.cluster.relay
        return self.explicit is None and not os.environ.get("LIVEKIT_URL")

    async def start(self, room: str) -> None:
        if self.cluster is not None:
            await self._start_on_cluster(self.cluster, room)
            return
        server = self.server
        if server is None and self.explicit is None and not os.environ.get("LIVEKIT_URL"):
            server = LocalServer(relay=True)
            await asyncio.to_thread(server.start)
            self.server = server
            self._owns_server = True
        if server is not None:
            if not server.running:
                await asyncio.to_thread(server.start)
            self.credentials = Credentials(server.url, server.api_key, server.api_secret, source="local server")
            if server.relay:
                self.relay = ImpairmentRelay(server.relay_layout, seed=self.seed).start()
        else:
            url, key, secret = self.explicit or (None, None, None)
            self.credentials = resolve_credentials(url, key, secret, start_local=False)

    async def _start_on_cluster(self, cluster: LocalCluster, room: str) -> None:
        topo = self.topology
        assert topo is not None
        if not cluster.running:
            await asyncio.to_thread(cluster.start)
        nodes = (topo.sender_node, topo.receiver_node, topo.room_node, topo.api)
        bad = [n for n in nodes if not 0 <= n < cluster.size]
        if bad:
            raise LabError(f"topology names node(s) {bad} of a {cluster.size}-node cluster (nodes are 0-based)")
        self.credentials = cluster.credentials_for(topo.room_node)
        if cluster.relay:
            self.relays = [ImpairmentRelay(layout, seed=self.seed).start() for layout in cluster.relay_layouts]
            self.relay = self.relays[topo.room_node]  # every participant's media goes to the room's node
        async with ServerAPI(self.credentials) as api:
            await api.create_room(room, node_id=cluster.node_ids[topo.room_node])
        if cluster.room_node(room) != cluster.node_ids[topo.room_node]:
            raise LabError(f"room {room} is not on node {topo.room_node + 1} as the topology asks")

    def credentials_for(self, node: int | None) -> Credentials:
        """The credentials to join through `node` of a cluster (None, or not a cluster: the rig's server)."""
        if self.cluster is not None and node is not None:
            return self.cluster.credentials_for(node)
        if self.credentials is None:
            raise LabError("the lab has not started: await lab.start() first")
        return self.credentials

    def server_logs(self) -> list[Path]:
        """The logs of the local livekit-servers the rig runs on whose configuration logs every failed data-track
        send (none for a remote server)."""
        servers = [*(self.cluster.nodes if self.cluster is not None else []), *([self.server] if self.server else [])]
        return [
            server.log_path
            for server in servers
            if server.log_path is not None and logs_send_failures(server.config_dict())
        ]

    def udp_owners(self) -> dict[tuple[str, int], str]:
        """Names for this host's UDP sockets in the lab's path: the relays' and the local livekit-servers'."""
        owners: dict[tuple[str, int], str] = {}
        servers = list(self.cluster.nodes) if self.cluster is not None else []
        if self.server is not None:
            servers.append(self.server)
        for server in servers:
            if server.udp_port:
                owners[("127.0.0.1", server.udp_port)] = "livekit-server"
        for relay in {*self.relays, *([self.relay] if self.relay is not None else [])}:
            owners.update(dict.fromkeys(relay.local_addresses(), "relay"))
        return owners

    async def close(self) -> None:
        for relay in {*self.relays, *([self.relay] if self.relay is not None else [])}:
            relay.stop()
        self.relays, self.relay = [], None
        if self._owns_server and self.server is not None:
            await asyncio.to_thread(self.server.stop)
