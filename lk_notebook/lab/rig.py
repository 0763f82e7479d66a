"""The lab's rig: a server, the impairment relay in front of it, the participants, and proof of the path.

A rig knows nothing of probes or statistics; a run (`lk_notebook.lab.packets`, `.fan`, `.transfer`) borrows it and
measures inside the rig's measurement window (`rig.window(impairment)`, `lk_notebook.lab.window`). The rig's
receiver hands every payload on the lab's topic (data messages and data-track frames alike) to the rig's current
`sink`, so a run installs its recorder there and removes it when done. Where the rig runs (server, cluster nodes,
relays) is its `placement` (`lk_notebook.lab.placement`).

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

import abc
import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from livekit import rtc

from .._tasks import TaskOwner
from ..config import Credentials
from ..errors import LabError
from ..events import DataKind
from ..joining import join
from ..server import LocalServer
from ..session import Session
from .datatrack import DataTrackLink, require_data_track_sdk
from .paths import PathError, check_path
from .placement import ClusterTopology, Placement, RigOptions
from .relay import Impairment, ImpairmentRelay
from .window import Drain, Window

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = [
    "TOPIC",
    "ClusterTopology",
    "HasRig",
    "PathError",
    "Rig",
    "RigOptions",
    "Sink",
    "StartClose",
    "check_path",
    "require_data_track_sdk",
    "rig_of",
]

TOPIC = "lk_notebook.lab"
"""Data topic the lab's probes travel on (anything else on it is ignored by the receiver)."""

JOIN_BATCH = 1
"""Participants joined at once by ensure(). Sequential: measured, 4 concurrent joins through the relay on the loaded
2-core machine timed out (ICE not done in 20 s) at 20 receivers, while one at a time completes."""

Sink = Callable[[bytes, int], bool]
"""Takes (payload, arrival `time.monotonic_ns()`); returns False for a payload it does not recognise."""


_S = TypeVar("_S", bound="StartClose")


class StartClose(abc.ABC):
    """`async with X(...) as x:` is `x = await X(...).start()`, then `await x.aclose()` whatever happened."""

    @abc.abstractmethod
    async def start(self: _S) -> _S: ...

    @abc.abstractmethod
    async def aclose(self) -> None: ...

    async def __aenter__(self: _S) -> _S:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()


class Rig(StartClose):
    """A sender and a receiver joined to one room, with an impairment relay when the server is local.

    `server`: a LocalServer to use (in relay layout for impairment). `url`/`api_key`/`api_secret`: a remote server
    (no impairment). `cluster` (a LocalCluster, `relay=True` for impairment) with a `topology`: participants on
    chosen nodes, the room pinned to one. Neither: LIVEKIT_URL if set, else a fresh LocalServer(relay=True) owned by
    the rig.
    """

    def __init__(self, **options: Unpack[RigOptions]) -> None:
        self.placement = Placement(options)
        """Where the rig runs: its server or cluster nodes, their credentials, the relays."""
        self.topology = self.placement.topology
        self.relays: list[ImpairmentRelay] = []
        """On a cluster in relay layout: one relay per node (`relay` is the room node's)."""
        self.relay: ImpairmentRelay | None = None
        """The relay that impairs (None: the server is remote, or not in relay layout)."""
        tag = secrets.token_hex(4)
        self.room_name = options.get("room") or f"lk-lab-{tag}"
        self.sender_identity = f"lab-sender-{tag}"
        self.receiver_identity = f"lab-receiver-{tag}"
        self.seed = options.get("seed")
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
        self._track = DataTrackLink(lambda payload, now: self._deliver(0, payload, now), self.tasks)
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
    def server(self) -> LocalServer | None:
        """The local server the rig runs on (its own when it started one), if any."""
        return self.placement.server

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
        return self.relay is not None if self._started else self.placement.relay_possible()

    def server_logs(self) -> list[Path]:
        """The logs of the local livekit-servers the rig runs on that log every failed data-track send."""
        return self.placement.server_logs()

    def udp_owners(self) -> dict[tuple[str, int], str]:
        """Names for this host's UDP sockets in the lab's path: the relays' and the local livekit-servers'."""
        return self.placement.udp_owners()

    @property
    def credentials(self) -> Credentials:
        """The server this rig joins (after `start()`); its secret is never shown by repr."""
        return self.placement.credentials_for(None)

    @property
    def api_credentials(self) -> Credentials:
        """The server API the lab's own changes go through: on a cluster the topology's `api_node` (by default
        the sender's node), else the rig's server."""
        topo = self.topology
        if topo is None:
            return self.credentials
        return self.placement.credentials_for(topo.api)

    def window(self, impairment: Impairment | None = None, *, drain: Drain | None = None) -> Window:
        """The measurement window of one run: `async with rig.window(impairment) as w:` (see `Window`)."""
        return Window(self, impairment, drain=drain)

    def participants(self) -> list[Session]:
        return [*self.senders, *self.receivers, *self.extra]

    # -- lifecycle ----------------------------------------------------------------------------------------------
    async def start(self) -> Rig:
        if self._started:
            return self
        try:
            await self.placement.start(self.room_name)
            self.relays, self.relay = list(self.placement.relays), self.placement.relay
            topo = self.topology
            self.senders.append(await self._join(self.sender_identity, topo.sender_node if topo else None))
            receiver = await self._join(self.receiver_identity, topo.receiver_node if topo else None)
            self.receivers.append(receiver)
            if not self.sinks:
                self.sinks.append(None)
            self._remove_handlers.append(receiver.add_raw_handler(TOPIC, self._on_data))
            self._track.watch(receiver)
            await self._wait_active(self.senders, [self.receiver_identity])
            self._started = True
            await self.check_paths()
        except BaseException:
            await self.aclose()
            raise
        return self

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

        def on_data(payload: bytes, sender: str | None, kind: DataKind, arrival: float) -> None:
            self._deliver(index, payload, time.monotonic_ns())

        self._remove_handlers.append(session.add_raw_handler(TOPIC, on_data))

    async def _join(self, identity: str, node: int | None = None) -> Session:
        c = self.placement.credentials_for(node)
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
        await self.placement.close()
        self.relays, self.relay = [], None
        self._started = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} room={self.room_name!r} path={self.path!r}>"

    # -- receiving ----------------------------------------------------------------------------------------------
    def _deliver(self, index: int, payload: bytes, now: int) -> None:
        sink = self.sinks[index] if index < len(self.sinks) else None
        if sink is None or not sink(payload, now):
            self.foreign += 1

    def _on_data(self, payload: bytes, sender: str | None, kind: DataKind, arrival: float) -> None:
        self._deliver(0, payload, time.monotonic_ns())

    async def prepare_data_track(self) -> rtc.LocalDataTrack:
        """Publish the lab's data track and subscribe the receiver (once). LabError if the server or SDK
        cannot: call it before sending anything when a sweep includes data tracks."""
        await self.start()
        assert self.sender is not None
        return await self._track.prepare(self.sender, f"{TOPIC}.{self.room_name}")


class HasRig(Protocol):
    """Anything that holds a rig (a `Lab`): the experiments take it or a bare Rig."""

    @property
    def rig(self) -> Rig: ...


def rig_of(holder: Rig | HasRig) -> Rig:
    return holder if isinstance(holder, Rig) else holder.rig
