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
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..admin import ServerAPI
from ..errors import LabError
from ..events import ConnectionChanged, ConnectionStatus
from ..joining import join
from ..session import Session
from ..state import RoomState
from .propagation import CHANNELS, change_latency, check_channels, wait_sender_seen
from .rig import ClusterTopology, Rig
from .rows import PropagationRow, RatioRow, frame_of_rows
from .stats import LatencyHistogram

if TYPE_CHECKING:
    import pandas as pd

    from ..cluster import LocalCluster
    from ..config import Credentials
    from ..server import LocalServer

__all__ = [
    "CHANNELS",
    "TOPOLOGIES",
    "NodeFailure",
    "cross_node_ratios",
    "measure_node_failure",
    "measure_propagation",
]

TOPOLOGIES: dict[str, ClusterTopology] = {
    "same_node": ClusterTopology(sender_node=0, receiver_node=0, room_node=0, api_node=0),
    "sender_relayed": ClusterTopology(sender_node=1, receiver_node=0, room_node=0, api_node=1),
    "receiver_relayed": ClusterTopology(sender_node=0, receiver_node=1, room_node=0, api_node=0),
    "api_same": ClusterTopology(sender_node=0, receiver_node=0, room_node=0, api_node=0),
    "api_remote": ClusterTopology(sender_node=0, receiver_node=0, room_node=0, api_node=1),
}
"""Each topology with the room on node 0 ("A"; 1 is "B"); `measure_propagation` turns them to its `room_node`."""
BY_API = frozenset({"api_same", "api_remote"})
"""Topologies whose every change is a server API call rather than the sender's own."""
_BASELINE = {
    "sender_relayed": "same_node",
    "receiver_relayed": "same_node",
    "api_remote": "api_same",
    "same_node": "single_node",
    "api_same": "single_api",
}
"""Each cross-node topology and the same-node topology it is compared with."""


def _turned(topo: ClusterTopology, room_node: int, size: int) -> ClusterTopology:
    """`topo` (room on node 0) with every node moved so that the room is on `room_node`."""
    return ClusterTopology(
        sender_node=(topo.sender_node + room_node) % size,
        receiver_node=(topo.receiver_node + room_node) % size,
        room_node=room_node,
        api_node=(topo.api + room_node) % size,
    )


@dataclass(frozen=True, slots=True)
class _Experiment:
    """One topology's rig, the server API its changes go through, and where its nodes are (for the rows)."""

    name: str
    rig: Rig
    api: ServerAPI
    by_api: bool
    topology: ClusterTopology | None


async def _open(name: str, rig: Rig, by_api: bool, stack: contextlib.AsyncExitStack) -> _Experiment:
    stack.push_async_callback(_close, rig)
    await rig.start()
    await wait_sender_seen(rig)
    api = await stack.enter_async_context(ServerAPI(rig.api_credentials))
    return _Experiment(name, rig, api, by_api, rig.topology)


async def _close(rig: Rig) -> None:
    started = rig.started
    await rig.aclose()
    if started:  # the room goes at once rather than after the server's empty timeout
        with contextlib.suppress(Exception):
            async with ServerAPI(rig.credentials) as api:
                await api.delete_room(rig.room_name)


def _row(e: _Experiment, channel: str, repeats: int, h: LatencyHistogram) -> PropagationRow:
    t = e.topology
    nodes = (t.room_node + 1, t.sender_node + 1, t.receiver_node + 1, t.api + 1) if t else (0, 0, 0, 0)
    return {
        "topology": e.name,
        "channel": channel,
        "room_node": nodes[0],
        "sender_node": nodes[1],
        "receiver_node": nodes[2],
        "api_node": nodes[3],
        "by_api": e.by_api,
        "changes": repeats,
        "timeouts": repeats - h.count,
        "p50_ms": h.percentile(50),
        "p99_ms": h.percentile(99),
        "max_ms": h.max_ns / 1e6 if h.count else math.nan,
    }


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

    One rig per topology (`Rig` with a `ClusterTopology`), its room pinned to node `room_node`, all live at once.
    Topologies and channels are interleaved change by change, so a slow moment of the machine is shared by all of
    them rather than landing on one. With `single` (a LocalServer, no Redis), two more rows per channel,
    `single_node` and `single_api`: the same exchanges without any cluster, the baseline for what Redis routing
    itself costs. One `PropagationRow` per topology and channel.
    """
    names = list(topologies)
    bad = [t for t in names if t not in TOPOLOGIES]
    if bad:
        raise LabError(f"unknown topology {bad}: topologies {list(TOPOLOGIES)}")
    chans = check_channels(channels)
    if cluster.size < 2:
        raise LabError("cross-node topologies need a cluster of at least 2 nodes")
    if repeats < 1:
        raise LabError(f"repeats must be >= 1, got {repeats}")
    async with contextlib.AsyncExitStack() as stack:
        experiments: list[_Experiment] = []
        for name in names:
            topo = _turned(TOPOLOGIES[name], room_node, cluster.size)
            rig = Rig(cluster=cluster, topology=topo, room=f"lab-cluster-{name}-{secrets.token_hex(4)}")
            experiments.append(await _open(name, rig, name in BY_API, stack))
        if single is not None:
            for name, by_api in (("single_node", False), ("single_api", True)):
                rig = Rig(server=single, room=f"lab-single-{name}-{secrets.token_hex(4)}")
                experiments.append(await _open(name, rig, by_api, stack))
        hists = {(e.name, c): LatencyHistogram() for e in experiments for c in chans}
        tag = secrets.token_hex(3)
        for i in range(repeats):
            for e in experiments:
                for channel in chans:
                    ns = await change_latency(e.rig, e.api, channel, f"{tag}-{i}", by_api=e.by_api, timeout=timeout)
                    if ns is not None:
                        hists[(e.name, channel)].record(ns)
    return frame_of_rows([_row(e, c, repeats, hists[(e.name, c)]) for e in experiments for c in chans])


def cross_node_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    """Per cross-node topology and channel: its p50/p99 over its same-node baseline's (from one run's frame)."""
    rows: list[RatioRow] = []
    records = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    by = {(str(r["topology"]), str(r["channel"])): r for r in records}
    for (topology, channel), row in by.items():
        base = by.get((_BASELINE.get(topology, ""), channel))
        if base is None:
            continue
        p50, p99, b50, b99 = (float(x) for x in (row["p50_ms"], row["p99_ms"], base["p50_ms"], base["p99_ms"]))
        rows.append(
            {
                "topology": topology,
                "baseline": str(base["topology"]),
                "channel": channel,
                "p50_ms": p50,
                "same_p50_ms": b50,
                "ratio_p50": p50 / b50,
                "p99_ms": p99,
                "same_p99_ms": b99,
                "ratio_p99": p99 / b99,
            }
        )
    return frame_of_rows(rows)


async def _session(c: Credentials, room: str, identity: str) -> Session:
    return await join(room, identity=identity, url=c.url, api_key=c.api_key, api_secret=c.api_secret)


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
