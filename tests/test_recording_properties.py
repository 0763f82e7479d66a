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

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lk_notebook import events as ev
from lk_notebook.recording import Journal, Recording
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
