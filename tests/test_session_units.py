"""Pure parts of a Session, without a server: its lifecycle, the one publish check, the delegated methods."""

from __future__ import annotations

import inspect

import pytest

import lk_notebook as lk
from lk_notebook import limits
from lk_notebook.events import ConnectionChanged, ConnectionStatus
from lk_notebook.lifecycle import Lifecycle, LifecycleGuard, ended_by_server
from lk_notebook.messaging import Messaging
from lk_notebook.state import RoomState


def test_lifecycle_closes_once_and_every_refusal_names_the_phase_and_why() -> None:
    state = RoomState("demo")
    guard = LifecycleGuard("demo", "ann", state)
    assert guard.phase is Lifecycle.NEW and not guard.closed
    guard.require_open("publish")  # NEW, CONNECTING, CONNECTED, RECONNECTING accept work
    for phase in (Lifecycle.CONNECTING, Lifecycle.CONNECTED, Lifecycle.RECONNECTING):
        guard.move(phase)
        guard.require_open("publish")
    state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=1.0, reason="DUPLICATE_IDENTITY"))
    guard.close("DUPLICATE_IDENTITY")
    guard.close("left")  # the first reason stays
    guard.move(Lifecycle.CONNECTED)  # a late SDK callback cannot reopen it
    assert guard.phase is Lifecycle.CLOSED and guard.closed_by == "DUPLICATE_IDENTITY"
    assert guard.disconnect_reason == "DUPLICATE_IDENTITY"
    with pytest.raises(lk.SessionClosedError) as err:
        guard.require_open("publish")
    assert str(err.value) == (
        "cannot publish: session 'ann' is closed (was disconnected from room 'demo' (DUPLICATE_IDENTITY)). "
        "Join again with lk_notebook.join(...)."
    )
    left = LifecycleGuard("demo", "bob", RoomState("demo"))
    left.close("left")
    assert "is closed (has left room 'demo')" in str(left.closed_error("set attributes"))


def test_ended_by_server_says_why() -> None:
    assert isinstance(ended_by_server("ROOM_DELETED", room_name="r", identity="a", error=None), lk.RoomGoneError)
    dup = ended_by_server("DUPLICATE_IDENTITY", room_name="r", identity="a", error=None)
    assert isinstance(dup, lk.SessionClosedError) and "newer session is the live one" in str(dup)
    assert "could not rejoin: boom" in str(ended_by_server("X", room_name="r", identity="a", error=OSError("boom")))


def test_one_publish_check_decides_sizes_per_mode_destinations_and_topic() -> None:
    small = limits.check_publish(b"x" * 100, reliable=False, topic="t", destinations=["bob"], identity="ann")
    assert (small.size, small.mode, small.advised, small.topic, small.destinations) == (
        100,
        "lossy",
        1300,
        "t",
        ("bob",),
    )
    assert small.packet > small.size and small.too_large() is None and small.over_advice() is None
    lossy = limits.check_publish(b"x" * 2000, reliable=False)
    advice = lossy.over_advice()
    assert isinstance(advice, lk.SizeWarning) and "1300" in str(advice)
    reliable = limits.check_publish(b"x" * 2000)  # under the reliable advice (15 KiB)
    assert reliable.advised == limits.RELIABLE_ADVISED_BYTES and reliable.over_advice() is None
    # The SDK's limit applies to the encoded packet: a payload at the limit is already over it.
    at_limit = limits.check_publish(b"x" * limits.SDK_MAX_PACKET_BYTES, identity="ann")
    error = at_limit.too_large()
    assert isinstance(error, lk.TooLargeError) and error.size == at_limit.packet > limits.SDK_MAX_PACKET_BYTES
    with pytest.raises(lk.InvalidInputError, match="topic must be a string"):
        limits.check_publish(b"", topic=3)
    with pytest.raises(lk.InvalidInputError, match="list of identities"):
        limits.check_publish(b"", destinations="bob")
    with pytest.raises(lk.InvalidInputError, match="non-empty strings"):
        limits.check_publish(b"", destinations=["bob", ""])
    assert limits.check_publish(b"", destinations=iter(["a", "b"])).destinations == ("a", "b")
    assert limits.unknown_destinations(["a", "b"], {"a"}, room="r") is not None
    assert limits.unknown_destinations(["a"], {"a"}, room="r") is None


async def test_session_methods_are_its_helpers_methods_with_their_signatures() -> None:
    session = lk.Session("demo", "ann", url="ws://127.0.0.1:9", credentials=None)
    assert session.lifecycle.phase is Lifecycle.NEW
    assert inspect.signature(session.publish) == inspect.signature(Messaging.publish).replace(
        parameters=list(inspect.signature(Messaging.publish).parameters.values())[1:]
    )
    assert lk.Session.publish.__doc__ == Messaging.publish.__doc__
    session.confirm_timeout = 1.5
    session.rpc_payload_limit = 1_000_000
    assert session._own.confirm_timeout == 1.5 and session._rpc.payload_limit == 1_000_000
    await session.leave()
    assert session.closed and session.lifecycle.phase is Lifecycle.CLOSED
    with pytest.raises(lk.SessionClosedError, match="cannot publish: session 'ann' is closed"):
        await session.publish("late")
    with pytest.raises(lk.SessionClosedError, match="cannot send text"):
        await session.send_text("late")
    with pytest.raises(lk.SessionClosedError, match="cannot perform an RPC"):
        await session.perform_rpc("bob", "m")
