"""Unit tests of the pure room model: no server, no SDK."""

from __future__ import annotations

import asyncio
import time

import pytest

from lk_notebook import events as ev
from lk_notebook.state import RoomState, participant


def joined(identity: str, **kw: object) -> ev.ParticipantJoined:
    return ev.ParticipantJoined(participant(identity, **kw), at=1.0)  # type: ignore[arg-type]


def test_join_change_leave_and_history() -> None:
    s = RoomState("r")
    s.apply(joined("ann", name="Ann", attributes={"role": "host"}))
    s.apply(joined("bob"))
    s.apply(
        ev.AttributesChanged("ann", ev.frozen_map({"mood": "ok"}), ev.frozen_map({"role": "host", "mood": "ok"}), 2.0)
    )
    s.apply(ev.MetadataChanged("bob", "", '{"a":1}', 3.0))
    s.apply(ev.NameChanged("bob", "", "Bob", 4.0))
    s.apply(ev.ParticipantLeft("ann", "CLIENT_INITIATED", 5.0))

    assert list(s.participants) == ["bob"]
    bob = s.get("bob")
    assert bob is not None and bob.metadata == '{"a":1}' and bob.name == "Bob"
    kinds = [c.kind for c in s.history]
    assert kinds == ["joined", "joined", "attribute", "metadata", "name", "left"]
    attr = s.history[2]
    assert (attr.identity, attr.key, attr.old, attr.new) == ("ann", "mood", None, "ok")
    assert s.version == 6


def test_attribute_deletion_by_empty_string() -> None:
    s = RoomState("r")
    s.apply(joined("ann", attributes={"a": "1", "b": "2"}))
    s.apply(ev.AttributesChanged("ann", ev.frozen_map({"a": ""}), ev.frozen_map({"b": "2"}), 2.0))
    ann = s.get("ann")
    assert ann is not None and dict(ann.attributes) == {"b": "2"}
    change = s.history[-1]
    assert (change.key, change.old, change.new) == ("a", "1", None)
    frame = s.to_frame()
    assert frame.loc["ann", "b"] == "2"
    assert "a" not in frame.columns


def test_to_frame_columns_local_first_and_collisions() -> None:
    s = RoomState("r")
    s.apply(joined("zed", attributes={"x": "1", "name": "collides"}))
    s.apply(joined("me", is_local=True, metadata="m", attributes={"y": "2"}))
    frame = s.to_frame()
    assert list(frame.index) == ["me", "zed"]  # local participant first
    assert frame.index.name == "identity"
    assert {"metadata", "x", "y", "attr:name"} <= set(frame.columns)
    assert frame.loc["zed", "attr:name"] == "collides"
    assert frame.loc["me", "x"] == ""  # unset keys are empty, as the server has no "unset" distinct from deleted
    assert bool(frame.loc["me", "is_local"]) is True


def test_events_for_unknown_identities_are_ignored_without_corrupting_state() -> None:
    s = RoomState("r")
    s.apply(ev.AttributesChanged("ghost", ev.frozen_map({"a": "1"}), ev.frozen_map({"a": "1"}), 1.0))
    s.apply(ev.MetadataChanged("ghost", "", "x", 1.0))
    s.apply(ev.ParticipantLeft("ghost", "", 1.0))
    assert len(s) == 0
    assert s.history == ()


def test_active_and_connection_status() -> None:
    s = RoomState("r")
    s.apply(joined("ann", active=False))
    s.apply(ev.ParticipantActive("ann", 2.0))
    ann = s.get("ann")
    assert ann is not None and ann.active
    s.apply(ev.ConnectionChanged(ev.ConnectionStatus.CONNECTED, 1.0))
    s.apply(ev.ConnectionChanged(ev.ConnectionStatus.DISCONNECTED, 2.0, reason="SERVER_SHUTDOWN"))
    assert s.status is ev.ConnectionStatus.DISCONNECTED and s.disconnect_reason == "SERVER_SHUTDOWN"


def test_snapshot_resync_records_what_was_missed() -> None:
    s = RoomState("r")
    s.apply(joined("ann", attributes={"a": "1"}))
    s.apply(joined("gone"))
    s.apply(
        ev.Snapshot(
            "r",
            "room-meta",
            (participant("ann", attributes={"a": "2"}), participant("new")),
            at=9.0,
        )
    )
    assert sorted(s.participants) == ["ann", "new"]
    assert s.room_metadata == "room-meta"
    recent = {(c.identity, c.kind, c.key, c.old, c.new) for c in s.history if c.at == 9.0}
    assert ("ann", "attribute", "a", "1", "2") in recent
    assert ("gone", "left", "", None, "missing after resync") in recent
    assert ("new", "joined", "", None, '{"name":"","metadata":"","attributes":{}}') in recent
    assert ("", "room_metadata", "", "", "room-meta") in recent


def test_subscribers_get_events_and_a_failing_one_does_not_break_others() -> None:
    s = RoomState("r")
    seen: list[object] = []

    def bad(_: object) -> None:
        raise RuntimeError("view bug")

    s.subscribe(bad)
    unsubscribe = s.subscribe(seen.append)
    event = ev.RoomMetadataChanged("", "hello", 1.0)
    s.apply(event)
    assert seen == [event]
    assert s.room_metadata == "hello"
    unsubscribe()
    s.apply(ev.RoomMetadataChanged("hello", "bye", 2.0))
    assert seen == [event]


def test_history_is_bounded() -> None:
    s = RoomState("r", history_limit=10)
    s.apply(joined("ann"))
    for i in range(100):
        s.apply(ev.AttributesChanged("ann", ev.frozen_map({"i": str(i)}), ev.frozen_map({"i": str(i)}), float(i)))
    assert len(s.history) == 10
    assert s.history[-1].new == "99"
    frame = s.history_frame()
    assert list(frame.columns) == ["at", "identity", "kind", "key", "old", "new"]
    assert len(frame) == 10


def test_events_are_frozen() -> None:
    p = participant("ann", attributes={"a": "1"})
    with pytest.raises(TypeError):
        p.attributes["a"] = "2"  # type: ignore[index]
    with pytest.raises(AttributeError):
        p.name = "x"  # type: ignore[misc]


def test_history_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        RoomState("r", history_limit=0)


async def test_wait_until_sees_a_later_change_and_times_out_false() -> None:
    s = RoomState("r")
    loop = asyncio.get_running_loop()
    loop.call_later(0.01, s.apply, joined("bob", attributes={"seat": "7"}))
    assert await s.wait_until(lambda st: "bob" in st and st.get("bob").attributes["seat"] == "7", timeout=5)  # type: ignore[union-attr]
    assert not await s.wait_until(lambda st: "carol" in st, timeout=0.05)
    assert not s._subscribers  # both waits unsubscribed


async def test_wait_until_raises_a_predicate_error_after_a_change_instead_of_timing_out() -> None:
    # The unguarded lookup fails only once someone other than bob joins; it must fail then, not log and time out.
    s = RoomState("r")
    s.apply(joined("ann"))
    asyncio.get_running_loop().call_later(0.01, s.apply, joined("carol"))
    start = time.monotonic()
    with pytest.raises(AttributeError):
        await s.wait_until(lambda st: len(st) > 1 and st.get("bob").active, timeout=5)  # type: ignore[union-attr]
    assert time.monotonic() - start < 4, "the error waited for the timeout"
    assert not s._subscribers


def test_of_kind_and_apply_many_count() -> None:
    # Mutation testing (bench/mutation.py) found these two results unchecked by any unit test.
    s = RoomState("r")
    events = [joined("zed", kind=ev.ParticipantKind.AGENT), joined("bob"), joined("amy", kind="agent")]
    assert s.apply_many(events) == 3 and s.version == 3
    assert [p.identity for p in s.of_kind("agent")] == ["amy", "zed"]
    assert [p.identity for p in s.of_kind(ev.ParticipantKind.STANDARD)] == ["bob"]
    assert s.of_kind("sip") == []
