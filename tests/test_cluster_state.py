"""The core state behaviour, on one node and across a 2-node cluster with the participants on different nodes.

In the cluster variant the room is pinned to node 1; alice joins through node 1, bob and the late joiner through
node 2 (their signal is relayed to node 1), and every server API call goes to node 2, which does not host the room.
The same assertions must hold in both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass

import pytest

import lk_notebook as lk
from lk_notebook.cluster import LocalCluster, placement
from lk_notebook.config import Credentials

from .conftest import ARTIFACTS, Sessions, eventually

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=2, log_dir=ARTIFACTS / "cluster-logs") as c:
        yield c


@dataclass
class Where:
    """Where each participant connects and where the server API goes."""

    a: Credentials
    b: Credentials
    api: Credentials
    prepare: Callable[[str], Awaitable[None]]
    check: Callable[[lk.Session, lk.Session], None]


def _no_check(a: lk.Session, b: lk.Session) -> None:
    pass


@pytest.fixture(params=["single", "cluster"])
def where(request: pytest.FixtureRequest, credentials: Credentials) -> Where:
    if request.param == "single":

        async def nothing(room: str) -> None:
            pass

        return Where(credentials, credentials, credentials, nothing, _no_check)
    c: LocalCluster = request.getfixturevalue("cluster")

    async def pin(room: str) -> None:
        async with lk.ServerAPI(c.credentials_for(1)) as admin:  # created through the node that will not host it
            await admin.create_room(room, node_id=c.node_ids[0])
        assert c.room_node(room) == c.node_ids[0]

    def check(a: lk.Session, b: lk.Session) -> None:
        pa, pb = placement(a.url, a.room_name), placement(b.url, b.room_name)
        assert pa is not None and pb is not None
        assert (pa.via_node, pa.room_node) == (1, 1), pa
        assert (pb.via_node, pb.room_node) == (2, 1), pb  # bob's signal is relayed through node 2

    return Where(c.credentials_for(0), c.credentials_for(1), c.credentials_for(1), pin, check)


async def two(sessions: Sessions, where: Where, room: str, **b_kwargs: object) -> tuple[lk.Session, lk.Session]:
    await where.prepare(room)
    a, b = await sessions.two(room, a=where.a, b=where.b, **b_kwargs)
    where.check(a, b)
    return a, b


async def test_join_sees_each_other_with_initial_state(sessions: Sessions, where: Where, room_name: str) -> None:
    a, b = await two(sessions, where, room_name, metadata='{"team": "blue"}')
    alice = b.state.get("alice")
    assert alice is not None and alice.name == "Alice" and dict(alice.attributes) == {"role": "host"}
    bob = a.state.get("bob")
    assert bob is not None and bob.metadata == '{"team": "blue"}' and not bob.is_local


async def test_attributes_both_ways(sessions: Sessions, where: Where, room_name: str) -> None:
    a, b = await two(sessions, where, room_name)
    await b.set_attributes({"status": "away", "seat": "12"})
    assert await a.wait_for(lambda s: (p := s.get("bob")) is not None and p.attributes.get("seat") == "12")
    await a.set_attributes({"role": "guest"})
    assert await b.wait_for(lambda s: (p := s.get("alice")) is not None and p.attributes.get("role") == "guest")
    await b.set_attributes({"seat": ""})  # "" deletes the key, the others stay
    assert await a.wait_for(lambda s: (p := s.get("bob")) is not None and "seat" not in p.attributes)
    bob = a.state.get("bob")
    assert bob is not None and dict(bob.attributes) == {"status": "away"}


async def test_metadata_both_ways(sessions: Sessions, where: Where, room_name: str) -> None:
    a, b = await two(sessions, where, room_name)
    await b.set_metadata('{"hand": "raised"}')
    assert await a.wait_for(lambda s: (p := s.get("bob")) is not None and p.metadata == '{"hand": "raised"}')
    await a.set_metadata("presenting")
    assert await b.wait_for(lambda s: (p := s.get("alice")) is not None and p.metadata == "presenting")


async def test_room_metadata_and_participant_updates_through_the_server_api(
    sessions: Sessions, where: Where, room_name: str
) -> None:
    a, b = await two(sessions, where, room_name)
    async with lk.ServerAPI(where.api) as admin:
        await admin.update_room_metadata(room_name, '{"stage": "live"}')
        assert await a.wait_for(lambda s: s.room_metadata == '{"stage": "live"}')
        assert await b.wait_for(lambda s: s.room_metadata == '{"stage": "live"}')
        await admin.update_participant(room_name, "alice", attributes={"muted": "yes"}, metadata="by admin")
        assert await b.wait_for(
            lambda s: (
                (p := s.get("alice")) is not None and p.metadata == "by admin" and p.attributes.get("muted") == "yes"
            )
        )
        listed = {p.identity: p for p in await admin.list_participants(room_name)}
        assert set(listed) == {"alice", "bob"} and listed["alice"].metadata == "by admin"
        rooms = await admin.list_rooms([room_name])
        assert [r.metadata for r in rooms] == ['{"stage": "live"}']


async def test_data_both_ways_and_server_sent(sessions: Sessions, where: Where, room_name: str) -> None:
    a, b = await two(sessions, where, room_name)
    await a.publish({"hello": "bob"}, topic="chat")
    await eventually(lambda: any(m.topic == "chat" and m.sender == "alice" for m in b.inbox), what="a -> b")
    await b.publish("hi alice", topic="chat", reliable=False)
    await eventually(lambda: any(m.text == "hi alice" and m.sender == "bob" for m in a.inbox), what="b -> a")
    async with lk.ServerAPI(where.api) as admin:
        await admin.send_data(room_name, "from the server", topic="system")
    for s in (a, b):
        await eventually(lambda s=s: any(m.text == "from the server" for m in s.inbox), what="server-sent")


async def test_late_joiner_gets_state_not_earlier_messages(sessions: Sessions, where: Where, room_name: str) -> None:
    a, b = await two(sessions, where, room_name)
    await a.set_attributes({"score": "7"})
    await a.publish("before you came", topic="chat")
    await eventually(lambda: any(m.text == "before you came" for m in b.inbox), what="message delivered")
    late = await sessions.join(room_name, "late", creds=where.b)
    alice = late.state.get("alice")
    assert alice is not None and alice.attributes.get("score") == "7"  # state is synchronised at join
    # Absence needs a sentinel, not a sleep: alice's reliable messages reach "late" in order, so once her next one
    # is in its inbox, a replay of the earlier one would have arrived before it.
    await a.publish("after you came", topic="chat")
    await eventually(lambda: any(m.text == "after you came" for m in late.inbox), what="the sentinel reaches late")
    assert [m.text for m in late.inbox] == ["after you came"]  # messages are not


async def test_leave_is_seen_by_the_other(sessions: Sessions, where: Where, room_name: str) -> None:
    a, b = await two(sessions, where, room_name)
    await b.leave()
    await eventually(lambda: "bob" not in a.state, what="alice sees bob leave")
    assert any(c.kind == "left" and c.identity == "bob" for c in a.state.history)
