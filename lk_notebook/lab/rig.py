"""The lab's rig: a server, the impairment relay in front of it, the participants, and proof of the path.

A rig knows nothing of probes or statistics; a run (`lk_notebook.lab.run`) borrows it. The rig's receiver hands
every payload on the lab's topic (data messages and data-track frames alike) to the rig's current `sink`, so a run
installs its recorder there and removes it when done.

Example::

    rig = await Rig(server=LocalServer(relay=True)).start()
    extra = await rig.join("lab-late-1")             # another participant on the same server and room
    await rig.check_paths()                          # every participant's ICE pair ends at the relay
    await rig.aclose()

With no arguments the rig starts its own `LocalServer(relay=True)` and relay, unless `LIVEKIT_URL` is set: then it
joins that server, and has no relay (it cannot put one in front of a remote server).

On a cluster, the rig takes a topology: which node the sender and the receiver join through and which node hosts the
room. Every node gets its own relay; the hosting node's relay carries all the media and data (LiveKit sends them
straight to the room's node, whichever node relays the signal), so that is the one that impairs::

    cluster = LocalCluster(nodes=2, relay=True)
    rig = await Rig(cluster=cluster, topology=ClusterTopology(sender_node=0, receiver_node=1, room_node=1)).start()
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from livekit import rtc

from .._tasks import TaskOwner
from ..admin import ServerAPI
from ..config import Credentials, resolve_credentials
from ..errors import LabError
from ..events import DataKind
from ..joining import join
from ..server import LocalServer
from ..session import Session
from .relay import ImpairmentRelay

if TYPE_CHECKING:
    from ..cluster import LocalCluster

__all__ = ["TOPIC", "ClusterTopology", "PathError", "Rig", "Sink", "check_path", "require_data_track_sdk"]

TOPIC = "lk_notebook.lab"
"""Data topic the lab's probes travel on (anything else on it is ignored by the receiver)."""

JOIN_BATCH = 1
"""Participants joined at once by ensure(). Sequential: measured, 4 concurrent joins through the relay on the loaded
2-core machine timed out (ICE not done in 20 s) at 20 receivers, while one at a time completes."""

Sink = Callable[[bytes, int], bool]
"""Takes (payload, arrival `time.monotonic_ns()`); returns False for a payload it does not recognise."""


@dataclass(frozen=True, slots=True)
class ClusterTopology:
    """Where a rig's participants join and its room lives, as 0-based node indexes of a LocalCluster."""

    sender_node: int = 0
    """Node the sender connects through (its signal is relayed when this is not the room's node)."""
    receiver_node: int = 1
    """Node the receiver (and later joiners) connect through."""
    room_node: int = 0
    """Node the room is pinned to (CreateRoomRequest.node_id): all media and data flow through it."""

    def describe(self) -> str:
        sender, receiver, room = self.sender_node + 1, self.receiver_node + 1, self.room_node + 1
        return f"sender via node {sender}, receiver via node {receiver}, room on node {room}"


class PathError(LabError):
    """Traffic does not cross the impairment relay, so impaired results would be false."""


def require_data_track_sdk() -> None:
    if not hasattr(rtc.LocalParticipant, "publish_data_track") or not hasattr(rtc, "DataTrackFrame"):
        raise LabError(
            "this livekit SDK has no data tracks (LocalParticipant.publish_data_track); upgrade livekit (>= 1.2), "
            "or leave data_track out of the modes."
        )


async def check_path(session: Session, relay: ImpairmentRelay) -> str:
    """Prove from the SDK's RTC stats that every selected ICE pair of `session` ends at the relay.

    Returns a description of the path. Raises PathError when a transport's selected pair bypasses it.
    """
    try:
        stats = await session.room.get_rtc_stats()
    except RuntimeError as exc:
        raise PathError(f"cannot read RTC stats of {session.identity!r} to check the path: {exc}") from exc
    host, port = relay.address
    checked = []
    for group in (stats.publisher_stats, stats.subscriber_stats):
        # Each stat is a oneof; its member holds `rtc` (the id) and a same-named body, e.g. s.transport.transport.
        by_id: dict[str, Any] = {}
        for s in group:
            kind = s.WhichOneof("stats")
            if kind is not None:
                member = getattr(s, kind)
                by_id[member.rtc.id] = (kind, member)
        for kind, member in list(by_id.values()):
            if kind != "transport":
                continue
            pair_id = member.transport.selected_candidate_pair_id
            if not pair_id:
                continue
            pair = by_id.get(pair_id)
            if pair is None or pair[0] != "candidate_pair":
                continue
            remote = by_id.get(pair[1].candidate_pair.remote_candidate_id)
            if remote is None or remote[0] != "remote_candidate":
                continue
            cand = remote[1].candidate
            where = f"{cand.address}:{cand.port}/{cand.protocol}"
            if (cand.address, cand.port, cand.protocol) != (host, port, "udp"):
                raise PathError(
                    f"traffic of {session.identity!r} bypasses the relay: its selected ICE pair ends at {where}, "
                    f"the relay listens on {host}:{port}/udp. Impaired results would be false, so none are reported. "
                    f"Use a server started with LocalServer(relay=True) and the relay on its relay_layout."
                )
            checked.append(where)
    if not checked:
        raise PathError(f"no selected ICE pair in the RTC stats of {session.identity!r}; cannot prove the path")
    return f"relay {host}:{port} ({len(checked)} transports)"


class Rig:
    """A sender and a receiver joined to one room, with an impairment relay when the server is local.

    `server`: a LocalServer to use (in relay layout for impairment). `url`/`api_key`/`api_secret`: a remote server
    (no impairment). `cluster` (a LocalCluster, `relay=True` for impairment) with a `topology`: participants on
    chosen nodes, the room pinned to one. Neither: LIVEKIT_URL if set, else a fresh LocalServer(relay=True) owned by
    the rig.
    """

    def __init__(
        self,
        *,
        server: LocalServer | None = None,
        cluster: LocalCluster | None = None,
        topology: ClusterTopology | None = None,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
        room: str | None = None,
        seed: int | None = None,
    ) -> None:
        if topology is not None and cluster is None:
            raise LabError("a topology places participants on a cluster's nodes: pass cluster=LocalCluster(...) too")
        if cluster is not None and (server is not None or url is not None):
            raise LabError("pass one of server=, cluster= or url=, not several")
        self._server = server
        self._cluster = cluster
        self.topology = topology or (ClusterTopology() if cluster is not None else None)
        self.relays: list[ImpairmentRelay] = []
        """On a cluster in relay layout: one relay per node (`relay` is the room node's)."""
        self._owns_server = False
        self._explicit = (url, api_key, api_secret) if url is not None else None
        self._credentials: Credentials | None = None
        tag = secrets.token_hex(4)
        self.room_name = room or f"lk-lab-{tag}"
        self.sender_identity = f"lab-sender-{tag}"
        self.receiver_identity = f"lab-receiver-{tag}"
        self.seed = seed
        self.relay: ImpairmentRelay | None = None
        self.senders: list[Session] = []
        """Sending participants: the first joins on start(), more through ensure() (fan-in)."""
        self.receivers: list[Session] = []
        """Receiving participants: the first joins on start(), more through ensure() (fan-out)."""
        self.extra: list[Session] = []
        """Participants joined through `join()`, left when the rig closes."""
        self.path = "not checked"
        self.tasks = TaskOwner("lab")
        self.sinks: list[Sink | None] = []
        """Where each receiver hands probes (a run's recorders while it runs), by receiver index."""
        self.foreign = 0
        """Payloads on the lab's topic no sink recognised (other runs' late probes, other publishers)."""
        self._remove_handlers: list[Callable[[], None]] = []
        self._tag = tag
        self._track: rtc.LocalDataTrack | None = None
        self._track_ready: asyncio.Event | None = None
        self._remote_tracks: dict[str, rtc.RemoteDataTrack] = {}
        self._track_seen = asyncio.Event()
        self._track_error: str | None = None
        self._started = False

    # -- what the rig is made of -----------------------------------------------------------------------------------
    @property
    def sender(self) -> Session | None:
        return self.senders[0] if self.senders else None

    @property
    def receiver(self) -> Session | None:
        return self.receivers[0] if self.receivers else None

    @property
    def sink(self) -> Sink | None:
        """The first receiver's sink."""
        return self.sinks[0] if self.sinks else None

    @sink.setter
    def sink(self, value: Sink | None) -> None:
        if not self.sinks:
            self.sinks.append(None)
        self.sinks[0] = value

    @property
    def remote(self) -> bool:
        """True when the rig runs against a server it cannot impair."""
        return self.relay is None

    @property
    def started(self) -> bool:
        return self._started

    @property
    def relay_available(self) -> bool:
        """Whether impairment is possible: the relay runs, or will once `start()` runs."""
        if self._started:
            return self.relay is not None
        if self._server is not None:
            return self._server.relay
        if self._cluster is not None:
            return self._cluster.relay
        return self._explicit is None and not os.environ.get("LIVEKIT_URL")

    def udp_owners(self) -> dict[tuple[str, int], str]:
        """Names for this host's UDP sockets in the lab's path: the relays' and the local livekit-servers'."""
        owners: dict[tuple[str, int], str] = {}
        servers = list(self._cluster.nodes) if self._cluster is not None else []
        if self._server is not None:
            servers.append(self._server)
        for server in servers:
            if server.udp_port:
                owners[("127.0.0.1", server.udp_port)] = "livekit-server"
        for relay in {*self.relays, *([self.relay] if self.relay is not None else [])}:
            owners.update(dict.fromkeys(relay.local_addresses(), "relay"))
        return owners

    @property
    def credentials(self) -> Credentials:
        """The server this rig joins (after `start()`); its secret is never shown by repr."""
        if self._credentials is None:
            raise LabError("the lab has not started: await lab.start() first")
        return self._credentials

    def participants(self) -> list[Session]:
        return [*self.senders, *self.receivers, *self.extra]

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def start(self) -> Rig:
        if self._started:
            return self
        try:
            if self._cluster is not None:
                await self._start_on_cluster(self._cluster)
            else:
                await self._start_on_server()
            topo = self.topology
            self.senders.append(await self._join(self.sender_identity, topo.sender_node if topo else None))
            receiver = await self._join(self.receiver_identity, topo.receiver_node if topo else None)
            self.receivers.append(receiver)
            if not self.sinks:
                self.sinks.append(None)
            self._remove_handlers.append(receiver.add_raw_handler(TOPIC, self._on_data))
            receiver.room.on("data_track_published", self._on_track_published)
            await self._wait_active(self.senders, [self.receiver_identity])
            self._started = True
            await self.check_paths()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def _start_on_server(self) -> None:
        server = self._server
        if server is None and self._explicit is None and not os.environ.get("LIVEKIT_URL"):
            server = LocalServer(relay=True)
            await asyncio.to_thread(server.start)
            self._server = server
            self._owns_server = True
        if server is not None:
            if not server.running:
                await asyncio.to_thread(server.start)
            self._credentials = Credentials(server.url, server.api_key, server.api_secret, source="local server")
            if server.relay:
                self.relay = ImpairmentRelay(server.relay_layout, seed=self.seed).start()
        else:
            url, key, secret = self._explicit or (None, None, None)
            self._credentials = resolve_credentials(url, key, secret, start_local=False)

    async def _wait_active(self, senders: list[Session], identities: list[str], timeout: float = 30.0) -> None:
        """Until every sender sees every one of `identities` active: lossy data to a receiver not yet active is
        dropped by the server."""
        for sender in senders:

            def all_active(state: Any) -> bool:
                return all((p := state.get(i)) is not None and p.active for i in identities)

            if not await sender.wait_for(all_active, timeout=timeout):
                missing = [i for i in identities if (p := sender.state.get(i)) is None or not p.active]
                raise LabError(f"{len(missing)} receiver(s) did not become active in {timeout:g} s: {missing[:5]}")

    async def ensure(self, *, senders: int = 1, receivers: int = 1) -> None:
        """Join senders and receivers until the rig has at least this many of each (fan-in, fan-out); they stay
        for later runs and leave when the rig closes. Joins run a few at a time (each is a WebRTC connection)."""
        if senders < 1 or receivers < 1:
            raise LabError(f"senders and receivers must be >= 1, got {senders} and {receivers}")
        await self.start()
        new_senders = [f"lab-sender-{self._tag}-{i}" for i in range(len(self.senders), senders)]
        new_receivers = [f"lab-receiver-{self._tag}-{i}" for i in range(len(self.receivers), receivers)]
        for batch in range(0, len(new_senders) + len(new_receivers), JOIN_BATCH):
            names = (new_senders + new_receivers)[batch : batch + JOIN_BATCH]
            for identity, session in zip(names, await asyncio.gather(*(self._join(n) for n in names)), strict=True):
                if identity in new_senders:
                    self.senders.append(session)
                else:
                    self._add_receiver(session)
        await self._wait_active(self.senders, [r.identity for r in self.receivers])

    def _add_receiver(self, session: Session) -> None:
        index = len(self.receivers)
        self.receivers.append(session)
        self.sinks.append(None)

        def on_data(payload: bytes, sender: str, kind: DataKind, arrival: float) -> None:
            now = time.monotonic_ns()
            sink = self.sinks[index]
            if sink is None or not sink(payload, now):
                self.foreign += 1

        self._remove_handlers.append(session.add_raw_handler(TOPIC, on_data))

    async def _start_on_cluster(self, cluster: LocalCluster) -> None:
        topo = self.topology
        assert topo is not None
        if not cluster.running:
            await asyncio.to_thread(cluster.start)
        bad = [n for n in (topo.sender_node, topo.receiver_node, topo.room_node) if not 0 <= n < cluster.size]
        if bad:
            raise LabError(f"topology names node(s) {bad} of a {cluster.size}-node cluster (nodes are 0-based)")
        self._credentials = cluster.credentials_for(topo.room_node)
        if cluster.relay:
            self.relays = [ImpairmentRelay(layout, seed=self.seed).start() for layout in cluster.relay_layouts]
            self.relay = self.relays[topo.room_node]  # every participant's media goes to the room's node
        async with ServerAPI(self._credentials) as api:
            await api.create_room(self.room_name, node_id=cluster.node_ids[topo.room_node])
        if cluster.room_node(self.room_name) != cluster.node_ids[topo.room_node]:
            raise LabError(f"room {self.room_name} is not on node {topo.room_node + 1} as the topology asks")

    async def _join(self, identity: str, node: int | None = None) -> Session:
        c = self._credentials
        if self._cluster is not None and node is not None:
            c = self._cluster.credentials_for(node)
        assert c is not None
        return await join(self.room_name, identity=identity, url=c.url, api_key=c.api_key, api_secret=c.api_secret)

    async def join(self, identity: str, *, node: int | None = None) -> Session:
        """Join one more participant to the rig's room on its server (on a cluster: through `node`, by default the
        receiver's); it leaves when the rig closes (or call `leave(session)` earlier)."""
        await self.start()
        if node is None and self.topology is not None:
            node = self.topology.receiver_node
        session = await self._join(identity, node)
        self.extra.append(session)
        return session

    async def leave(self, session: Session) -> None:
        """Leave a participant that `join()` added."""
        if session in self.extra:
            self.extra.remove(session)
        with contextlib.suppress(Exception):
            await session.leave()

    async def check_paths(self) -> str:
        """Prove every participant's traffic crosses the relay (PathError if not); without a relay, say so."""
        if self.relay is None:
            self.path = "direct (no relay: unimpaired only)"
            return self.path
        self.relay.check()
        paths = [await check_path(s, self.relay) for s in self.participants()]
        self.path = paths[0]
        return self.path

    async def aclose(self) -> None:
        await self.tasks.aclose()
        for remove in self._remove_handlers:
            remove()
        self._remove_handlers.clear()
        for s in self.participants():
            with contextlib.suppress(Exception):
                await s.leave()
        self.extra.clear()
        self.senders.clear()
        self.receivers.clear()
        self.sinks.clear()
        for relay in {*self.relays, *([self.relay] if self.relay is not None else [])}:
            relay.stop()
        self.relays = []
        if self._owns_server and self._server is not None:
            await asyncio.to_thread(self._server.stop)
        self._started = False

    async def __aenter__(self) -> Rig:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} room={self.room_name!r} path={self.path!r}>"

    # -- receiving ----------------------------------------------------------------------------------------------
    def _on_data(self, payload: bytes, sender: str, kind: DataKind, arrival: float) -> None:
        now = time.monotonic_ns()
        sink = self.sinks[0]
        if sink is None or not sink(payload, now):
            self.foreign += 1

    def _on_track_published(self, track: rtc.RemoteDataTrack) -> None:
        # May fire before publish_data_track() returns to the sender side: keep it by name for prepare_data_track.
        self._remote_tracks[track.info.name] = track
        self._track_seen.set()

    async def _read_track(self, track: rtc.RemoteDataTrack) -> None:
        try:
            # A large buffer, so that frames are lost on the network or in the SFU, not in our reader.
            stream = track.subscribe(buffer_size=4096)
        except Exception as exc:
            self._track_error = f"subscribing to the data track failed: {exc}"
            if self._track_ready is not None:
                self._track_ready.set()
            raise
        if self._track_ready is not None:
            self._track_ready.set()
        try:
            async for frame in stream:
                sink = self.sink
                if sink is None or not sink(bytes(frame.payload), time.monotonic_ns()):
                    self.foreign += 1
        except rtc.SubscribeDataTrackError as exc:
            self._track_error = f"the data track subscription ended: {exc.message}"
        finally:
            stream.close()

    async def prepare_data_track(self) -> rtc.LocalDataTrack:
        """Publish the lab's data track and subscribe the receiver (once). LabError if the server or SDK
        cannot: call it before sending anything when a sweep includes data tracks."""
        if self._track is not None:
            return self._track
        await self.start()
        assert self.sender is not None
        lp = self.sender.room.local_participant
        require_data_track_sdk()
        self._track_ready = asyncio.Event()
        try:
            self._track = await asyncio.wait_for(lp.publish_data_track(name=f"{TOPIC}.{self.room_name}"), 10)
        except (asyncio.TimeoutError, Exception) as exc:
            raise LabError(
                f"the server or SDK refused to publish a data track ({exc!r}). Data tracks need livekit-server "
                f">= 1.13 with enable_data_tracks (on by default) and a livekit SDK with data tracks; leave "
                f"data_track out of the modes otherwise."
            ) from exc
        name = self._track.info.name
        deadline = time.monotonic() + 10
        while name not in self._remote_tracks:
            self._track_seen.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError("the receiver never saw the lab's data track published (10 s); data tracks unusable")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._track_seen.wait(), left)
        self.tasks.spawn(self._read_track(self._remote_tracks[name]), name="data track reader")
        await asyncio.wait_for(self._track_ready.wait(), 10)
        if self._track_error:
            raise LabError(self._track_error)
        return self._track
