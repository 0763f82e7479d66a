"""state_at(t) is the RoomState fed the same events up to t (hypothesis), whatever the snapshot cadence.

Hypothesis draws sequences of joins, leaves, attribute/metadata/name/room-metadata changes, connection changes
(with a disconnect reason, and a rejoin gap) and whole-room snapshots over a small pool of identities and keys, with
non-decreasing times (ties included, as a burst of events shares a millisecond). They are journaled with a snapshot
every 1-7 state records; for instants before, between, on and after the events, `state_at` must equal a fresh
RoomState fed the events with `at <= t`: same room, room metadata, status, disconnect reason and participants.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lk_notebook import events as ev
from lk_notebook.recording import Journal, Recording
from lk_notebook.recording.replayer import Loads, StateReplayer, fast_loads, json_loads
from lk_notebook.recording.wire import dumps, encode_event
from lk_notebook.state import RoomState, participant

IDS = st.sampled_from(("me", "ann", "bob"))
KEYS = st.sampled_from(("a", "b", "name"))
VALUES = st.sampled_from(("", "1", "ü"))
TEXT = st.sampled_from(("", "x", '{"k":1}'))


def attrs() -> st.SearchStrategy[dict[str, str]]:
    return st.dictionaries(KEYS, VALUES.filter(bool), max_size=2)


@st.composite
def events(draw: st.DrawFn) -> list[ev.Event]:
    out: list[ev.Event] = []
    at = 1000.0
    for _ in range(draw(st.integers(0, 25))):
        at += draw(st.sampled_from((0.0, 0.001, 0.5, 2.0)))
        who = draw(IDS)
        choice = draw(st.integers(0, 9))
        event: ev.Event
        if choice == 0:
            p = participant(who, sid="PA_" + who, name=draw(TEXT), attributes=draw(attrs()), joined_at=at, active=False)
            event = ev.ParticipantJoined(p, at)
        elif choice == 1:
            event = ev.ParticipantLeft(who, draw(TEXT), at)
        elif choice == 2:
            changed = draw(st.dictionaries(KEYS, VALUES, min_size=1, max_size=2))
            event = ev.AttributesChanged(who, ev.frozen_map(changed), ev.frozen_map(draw(attrs())), at)
        elif choice == 3:
            event = ev.MetadataChanged(who, "", draw(TEXT), at)
        elif choice == 4:
            event = ev.NameChanged(who, "", draw(TEXT), at)
        elif choice == 5:
            event = ev.RoomMetadataChanged("", draw(TEXT), at)
        elif choice == 6:
            status = draw(st.sampled_from(list(ev.ConnectionStatus)))
            gap = draw(st.sampled_from((None, 3.5))) if status is ev.ConnectionStatus.CONNECTED else None
            event = ev.ConnectionChanged(status, at, reason=draw(TEXT), gap=gap)
        elif choice == 7:
            event = ev.ParticipantActive(who, at)
        else:
            people = draw(st.lists(IDS, unique=True, max_size=3))
            infos = tuple(participant(i, sid="PA_" + i, attributes=draw(attrs()), joined_at=at) for i in people)
            event = ev.Snapshot(draw(st.sampled_from(("demo", "other"))), draw(TEXT), infos, at)
        out.append(event)
    return out


def content(state: RoomState) -> tuple[object, ...]:
    return (state.room, state.room_metadata, state.status, state.disconnect_reason, dict(state.participants))


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(events(), st.integers(1, 7))
def test_state_at_equals_the_state_fed_the_events_up_to_t(evs: list[ev.Event], snapshot_every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.lkrec"
        with Journal(path, room="demo", snapshot_every=snapshot_every) as journal:
            for event in evs:
                journal.append_event(event)
        times = sorted({999.0, *(e.at for e in evs), *(e.at + 0.0005 for e in evs), 10_000.0})
        with Recording(path) as rec:
            for t in times:
                expected = RoomState("demo")
                for event in evs:
                    if event.at <= t:
                        expected.apply(event)
                assert content(rec.state_at(t)) == content(expected), t


def everything(state: RoomState) -> tuple[object, ...]:
    """Content, participants' order, history and version: all a RoomState holds besides its subscribers."""
    return (*content(state), list(state.participants.items()), state.history, state.version)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(events(), st.integers(0, 25), st.sampled_from((1, 3, 10_000)), st.sampled_from((fast_loads, json_loads)))
def test_fast_replay_equals_apply_many(evs: list[ev.Event], split: int, history_limit: int, loads: Loads) -> None:
    """StateReplayer on the records' JSON (decoded by orjson or the standard library) gives the RoomState that
    `apply_many` of the events gives, starting from a state that already has participants and history (as
    `state_at` starts from a snapshot)."""
    seed, rest = evs[:split], evs[split:]
    slow, fast = RoomState("demo", history_limit=history_limit), RoomState("demo", history_limit=history_limit)
    slow.apply_many(seed)
    fast.apply_many(seed)
    slow.apply_many(rest)
    replayer = StateReplayer(fast, loads=loads)
    assert replayer.feed((kind, dumps(body)) for kind, body in map(encode_event, rest)) == len(rest)
    assert replayer.finish() is fast
    assert everything(fast) == everything(slow)


@settings(max_examples=100, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(events())
def test_replay_state_equals_the_state_fed_every_event(evs: list[ev.Event]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.lkrec"
        with Journal(path, room="demo", snapshot_every=3) as journal:
            for ev in evs:
                journal.append_event(ev)
        expected = RoomState("demo", history_limit=5)
        expected.apply_many(evs)
        with Recording(path) as rec:
            assert everything(rec.replay_state(history_limit=5)) == everything(expected)


def test_fast_replay_reads_infinity_as_the_standard_library_does() -> None:
    """orjson refuses Infinity and NaN, which Python's json writes for such floats: the replayer falls back."""
    event = ev.ConnectionChanged(ev.ConnectionStatus.CONNECTED, 1.0, gap=float("inf"))
    slow, fast = RoomState("demo"), RoomState("demo")
    slow.apply(event)
    kind, body = encode_event(event)
    assert "Infinity" in dumps(body)
    replayer = StateReplayer(fast)
    replayer.feed([(kind, dumps(body))])
    assert everything(replayer.finish()) == everything(slow)


def test_json_loads_refuses_trailing_data() -> None:
    with pytest.raises(ValueError, match="after its JSON value"):
        json_loads('{"a":1}x')
