"""Propagation across a cluster's topologies, and what a node failure does to a room.

Topologies (the room is pinned to `room_node`, "A"; "B" is another node):

- `same_node`: sender and receiver both connect through A; the sender changes its own state; room metadata goes to
  A's server API.
- `sender_relayed`: the sender connects through B, so its signal (attributes, metadata) is relayed to A; its data
  goes straight to A over WebRTC; room metadata goes to B's server API, which forwards it to A.
- `receiver_relayed`: the receiver connects through B; what A sends it over signal is relayed through B.
- `api_same` / `api_remote`: every change is a server API call (update_participant, update_room_metadata,
  send_data) sent to A / to B; both participants connect through A.
- with `single=LocalServer(...)`: `single_node` and `single_api`, the same exchanges on one server without Redis.
  They are the baselines of `same_node` and `api_same`: what Redis routing costs even when nothing crosses nodes.

Example::

    with LocalCluster(nodes=2) as cluster:
        frame = await measure_propagation(cluster, repeats=50, single=server)
        cross_node_ratios(frame)            # per channel: cross / same, p50 and p99
        failure = await measure_node_failure(cluster)   # kills the room's node
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..admin import ServerAPI
from ..config import Credentials
from ..errors import LabError
from ..events import ConnectionChanged, ConnectionStatus, DataKind
from ..joining import join
from ..session import Session
from ..state import RoomState
from .stats import LatencyHistogram

if TYPE_CHECKING:
    import pandas as pd

    from ..cluster import LocalCluster
    from ..server import LocalServer

__all__ = [
    "CHANNELS",
    "TOPOLOGIES",
    "NodeFailure",
    "Topology",
    "cross_node_ratios",
    "measure_node_failure",
    "measure_propagation",
]

CHANNELS = ("attributes", "metadata", "room_metadata", "data")
_TOPIC = "lk_notebook.lab.cluster"
_KEY = "lk_lab_seq"


@dataclass(frozen=True, slots=True)
class Topology:
    """Who connects through which node. 0 is the room's node (A), 1 another node (B)."""

    sender: int
    """Node the sending participant connects through."""
    receiver: int
    """Node the receiving participant connects through."""
    api: int
    """Node whose server API receives room metadata updates (and every change when `by_api`)."""
    by_api: bool = False
    """Every change is a server API call rather than the sender's own."""


TOPOLOGIES: dict[str, Topology] = {
    "same_node": Topology(sender=0, receiver=0, api=0),
    "sender_relayed": Topology(sender=1, receiver=0, api=1),
    "receiver_relayed": Topology(sender=0, receiver=1, api=0),
    "api_same": Topology(sender=0, receiver=0, api=0, by_api=True),
    "api_remote": Topology(sender=0, receiver=0, api=1, by_api=True),
}
_BASELINE = {
    "sender_relayed": "same_node",
    "receiver_relayed": "same_node",
    "api_remote": "api_same",
    "same_node": "single_node",
    "api_same": "single_api",
}
"""Each cross-node topology and the same-node topology it is compared with."""


def _node(cluster: LocalCluster, room_node: int, which: int) -> int:
    """Node index for topology slot `which` (0: the room's node, 1: the next one)."""
    return (room_node + which) % cluster.size


async def _session(c: Credentials, room: str, identity: str) -> Session:
    return await join(room, identity=identity, url=c.url, api_key=c.api_key, api_secret=c.api_secret)


async def measure_propagation(
    cluster: LocalCluster,
    *,
    topologies: Iterable[str] = tuple(TOPOLOGIES),
    channels: Iterable[str] = CHANNELS,
    repeats: int = 20,
    room_node: int = 0,
    single: LocalServer | None = None,
    timeout: float = 10.0,
) -> pd.DataFrame:
    """Propagation latency (call to the receiver's RoomState or handler) per topology and channel: p50, p99, max.

    One room per topology, pinned to node `room_node`, all live at once. Topologies and channels are interleaved
    change by change, so a slow moment of the machine is shared by all of them rather than landing on one. With
    `single` (a LocalServer, no Redis), two more rows per channel, `single_node` and `single_api`: the same
    exchanges without any cluster, the baseline for what Redis routing itself costs.
    """
    import pandas as pd

    names, chans = list(topologies), list(channels)
    bad = [t for t in names if t not in TOPOLOGIES] + [c for c in chans if c not in CHANNELS]
    if bad:
        raise LabError(f"unknown topology/channel {bad}: topologies {list(TOPOLOGIES)}, channels {list(CHANNELS)}")
    if cluster.size < 2:
        raise LabError("cross-node topologies need a cluster of at least 2 nodes")
    if repeats < 1:
        raise LabError(f"repeats must be >= 1, got {repeats}")
    rigs: list[_Rig] = []
    try:
        for name in names:
            rigs.append(await _Rig.on_cluster(name, cluster, room_node))
        if single is not None:
            for name, by_api in (("single_node", False), ("single_api", True)):
                rigs.append(await _Rig.on_server(name, single, by_api))
        hists = {(r.name, c): LatencyHistogram() for r in rigs for c in chans}
        timeouts = dict.fromkeys(hists, 0)
        tag = secrets.token_hex(3)
        for i in range(repeats):
            for rig in rigs:
                for channel in chans:
                    ns = await _one(channel, f"{tag}-{i}", rig, timeout)
                    if ns is None:
                        timeouts[(rig.name, channel)] += 1
                    else:
                        hists[(rig.name, channel)].record(ns)
    finally:
        for rig in rigs:
            await rig.close()
    rows: list[dict[str, Any]] = []
    for rig in rigs:
        for channel in chans:
            h = hists[(rig.name, channel)]
            rows.append(
                {
                    "topology": rig.name,
                    "channel": channel,
                    **rig.where,
                    "by_api": rig.by_api,
                    "changes": repeats,
                    "timeouts": timeouts[(rig.name, channel)],
                    "p50_ms": h.percentile(50),
                    "p99_ms": h.percentile(99),
                    "max_ms": h.max_ns / 1e6 if h.count else math.nan,
                }
            )
    frame: pd.DataFrame = pd.DataFrame(rows)
    return frame


@dataclass
class _Rig:
    """One topology's room: its sender, receiver and the server API that changes go through."""

    name: str
    room: str
    sender: Session
    receiver: Session
    api: ServerAPI
    host_api: ServerAPI
    by_api: bool
    where: dict[str, int]

    @classmethod
    async def on_cluster(cls, name: str, cluster: LocalCluster, room_node: int) -> _Rig:
        topo = TOPOLOGIES[name]
        room = f"lab-cluster-{name}-{secrets.token_hex(4)}"
        sender_node, receiver_node = _node(cluster, room_node, topo.sender), _node(cluster, room_node, topo.receiver)
        api_node = _node(cluster, room_node, topo.api)
        host_api = ServerAPI(cluster.credentials_for(room_node))
        api = ServerAPI(cluster.credentials_for(api_node))
        await host_api.create_room(room, node_id=cluster.node_ids[room_node])
        if cluster.room_node(room) != cluster.node_ids[room_node]:
            raise LabError(f"room {room} was not placed on node {room_node + 1} as asked")
        sender = await _session(cluster.credentials_for(sender_node), room, "lab-sender")
        receiver = await _session(cluster.credentials_for(receiver_node), room, "lab-receiver")
        where = {"room_node": room_node, "sender_node": sender_node, "receiver_node": receiver_node}
        where = {k: v + 1 for k, v in {**where, "api_node": api_node}.items()}  # 1-based, as users count nodes
        rig = cls(name, room, sender, receiver, api, host_api, topo.by_api, where)
        await rig.ready()
        return rig

    @classmethod
    async def on_server(cls, name: str, server: LocalServer, by_api: bool) -> _Rig:
        room = f"lab-single-{name}-{secrets.token_hex(4)}"
        creds = Credentials(server.url, server.api_key, server.api_secret, "local server")
        api = ServerAPI(creds)
        await api.create_room(room)
        sender = await _session(creds, room, "lab-sender")
        receiver = await _session(creds, room, "lab-receiver")
        where = {"room_node": 0, "sender_node": 0, "receiver_node": 0, "api_node": 0}
        rig = cls(name, room, sender, receiver, api, api, by_api, where)
        await rig.ready()
        return rig

    async def ready(self) -> None:
        ok = await self.receiver.wait_for(lambda s: (p := s.get("lab-sender")) is not None and p.active, timeout=10)
        if not ok:
            await self.close()
            raise LabError(f"{self.name}: the receiver never saw the sender become active")

    async def close(self) -> None:
        await self.sender.leave()
        await self.receiver.leave()
        with contextlib.suppress(Exception):
            await self.host_api.delete_room(self.room)
        await self.api.aclose()
        await self.host_api.aclose()


async def _one(channel: str, value: str, rig: _Rig, timeout: float) -> int | None:
    """Nanoseconds from the call to the receiver seeing `value` on `channel`; None on timeout."""
    sender, receiver, api, room, by_api = rig.sender, rig.receiver, rig.api, rig.room, rig.by_api
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()
    ident = sender.identity

    def arrived(ok: bool) -> None:
        if ok and not seen.done():
            seen.set_result(time.monotonic_ns())

    remove: Callable[[], None]
    if channel == "data":

        def on_data(payload: bytes, who: str, kind: DataKind, at: float) -> None:
            arrived(payload == value.encode())

        remove = receiver.add_raw_handler(_TOPIC, on_data)
    else:

        def on_change(_: object) -> None:
            p = receiver.state.get(ident)
            if channel == "attributes":
                arrived(p is not None and p.attributes.get(_KEY) == value)
            elif channel == "metadata":
                arrived(p is not None and p.metadata == value)
            else:
                arrived(receiver.state.room_metadata == value)

        remove = receiver.state.subscribe(on_change)
    try:
        t0 = time.monotonic_ns()
        if channel == "room_metadata":
            await api.update_room_metadata(room, value)
        elif by_api and channel == "attributes":
            await api.update_participant(room, ident, attributes={_KEY: value})
        elif by_api and channel == "metadata":
            await api.update_participant(room, ident, metadata=value)
        elif by_api:
            await api.send_data(room, value, topic=_TOPIC)
        elif channel == "attributes":
            await sender.set_attributes({_KEY: value}, confirm=False)
        elif channel == "metadata":
            await sender.set_metadata(value, confirm=False)
        else:
            await sender.room.local_participant.publish_data(value.encode(), reliable=True, topic=_TOPIC)
        try:
            t1 = await asyncio.wait_for(seen, timeout)
        except asyncio.TimeoutError:
            return None
        return t1 - t0
    finally:
        remove()


def cross_node_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cross-node topology and channel: its p50/p99 over its same-node baseline's (from one run's frame)."""
    import pandas as pd

    rows: list[dict[str, Any]] = []
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    by = {(str(r["topology"]), str(r["channel"])): r for r in records}
    for (topology, channel), row in by.items():
        base = by.get((_BASELINE.get(topology, ""), channel))
        if base is None:
            continue
        p50, p99, b50, b99 = (float(x) for x in (row["p50_ms"], row["p99_ms"], base["p50_ms"], base["p99_ms"]))
        rows.append(
            {
                "topology": topology,
                "baseline": base["topology"],
                "channel": channel,
                "p50_ms": p50,
                "same_p50_ms": b50,
                "ratio_p50": p50 / b50,
                "p99_ms": p99,
                "same_p99_ms": b99,
                "ratio_p99": p99 / b99,
            }
        )
    out: pd.DataFrame = pd.DataFrame(rows)
    return out


@dataclass(frozen=True, slots=True)
class NodeFailure:
    """What participants connected through a surviving node saw when the room's node was killed (SIGKILL)."""

    detected_s: float | None
    """Kill to the survivors' session leaving CONNECTED (None: it never noticed within the wait)."""
    reconnected_s: float | None
    """Kill to that session CONNECTED again (None: not within the wait)."""
    usable_s: float | None
    """Kill to an attribute change by one survivor being seen by the other (None: the room stayed unusable)."""
    new_room_node: str | None
    """The node hosting the room afterwards (Redis), or None."""
    peer_on_dead_node_gone: bool
    """The participant that connected through the dead node is no longer in the survivors' state."""
    room_metadata_kept: bool
    """The room metadata set before the failure is still there afterwards."""
    attributes_kept: bool
    """A survivor's attributes set before the failure are still seen by the other survivor afterwards."""


async def measure_node_failure(
    cluster: LocalCluster, *, victim: int = 1, wait: float = 40.0, poll: float = 0.02
) -> NodeFailure:
    """Pin a room to node `victim`, join two participants through another node and one through `victim`, kill
    `victim`, and time what the survivors see. The cluster keeps running without that node."""
    if cluster.size < 2:
        raise LabError("a node failure needs a cluster of at least 2 nodes")
    survivor = (victim + 1) % cluster.size
    room = f"lab-failure-{secrets.token_hex(4)}"
    async with ServerAPI(cluster.credentials_for(survivor)) as api:
        await api.create_room(room, node_id=cluster.node_ids[victim], metadata="before-failure")
    a = await _session(cluster.credentials_for(survivor), room, "survivor-a")
    b = await _session(cluster.credentials_for(survivor), room, "survivor-b")
    lost = await _session(cluster.credentials_for(victim), room, "on-dead-node")
    try:
        await a.set_attributes({"kept": "yes"})
        ok = await b.wait_for(lambda s: all(i in s for i in ("survivor-a", "on-dead-node")), timeout=10)
        if not ok:
            raise LabError("participants did not see each other before the failure")
        first_change: list[float] = []

        def on_status(ev: object) -> None:
            if isinstance(ev, ConnectionChanged) and ev.status is not ConnectionStatus.CONNECTED and not first_change:
                first_change.append(time.monotonic())

        a.state.subscribe(on_status)
        t0 = time.monotonic()
        cluster.kill_node(victim)
        deadline = t0 + wait
        detected = reconnected = usable = None
        while time.monotonic() < deadline and usable is None:
            if first_change and detected is None:
                detected = first_change[0] - t0
            if detected is not None and reconnected is None and a.status is ConnectionStatus.CONNECTED:
                reconnected = time.monotonic() - t0
            if reconnected is not None:
                usable = await _probe_usable(a, b, t0)
            await asyncio.sleep(poll)
        seen_a = b.state.get("survivor-a")
        return NodeFailure(
            detected_s=detected,
            reconnected_s=reconnected,
            usable_s=usable,
            new_room_node=cluster.room_node(room),
            peer_on_dead_node_gone="on-dead-node" not in a.state and "on-dead-node" not in b.state,
            room_metadata_kept=a.state.room_metadata == "before-failure",
            attributes_kept=seen_a is not None and seen_a.attributes.get("kept") == "yes",
        )
    finally:
        for s in (a, b):
            await s.leave()
        await _abandon(lost)


async def _probe_usable(a: Session, b: Session, t0: float) -> float | None:
    """Seconds since t0 once an attribute change from a reaches b within 2 s; None if it does not (yet)."""
    value = secrets.token_hex(3)
    await a.set_attributes({"probe": value}, confirm=False)

    def seen(s: RoomState) -> bool:
        return (p := s.get("survivor-a")) is not None and p.attributes.get("probe") == value

    ok = await b.wait_for(seen, timeout=2)
    return time.monotonic() - t0 if ok else None


async def _abandon(session: Session) -> None:
    # Its node is dead: leaving would wait on a server that cannot answer. Bound it.
    with contextlib.suppress(asyncio.TimeoutError, Exception):
        await asyncio.wait_for(session.leave(), 5)
