"""Property-based tests of RoomState against a small reference model (hypothesis).

The reference below is written from the documented behaviour, not from state.py: a dict of participants, the room
metadata, the connection status and an unbounded list of the changes each event should record. Hypothesis draws
any sequence of joins, leaves, activations, attribute changes and deletions, metadata and name changes, room
metadata, snapshots (with participants appearing, changing and vanishing), reconnects (RECONNECTING, a resync
snapshot, CONNECTED) and rejoins (the same with the gap recorded), over a small pool of identities and attribute
keys so that events hit existing participants and keys often. Keys include the frame's fixed column names and an
`attr:`-prefixed one, to test collisions.

Pure: no server, no I/O. Each test runs >= 500 examples (derandomized, so CI runs the same cases every time).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lk_notebook import events as ev
from lk_notebook.state import FIXED_COLUMNS, Change, RoomState, joined_value

EXAMPLES = 500
PROPERTY_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)

IDENTITIES = ("me", "ann", "bob", "cy")  # "me" is the local participant whenever it is present
KEYS = ("color", "n", "name", "sid", "metadata", "joined_at", "is_local", "active", "identity", "attr:name")
VALUES = st.sampled_from(("", "1", "2", "red", "blue", "ü"))
TEXT = st.sampled_from(("", "x", "y", '{"a":1}'))


# -- the reference model ---------------------------------------------------------------------------------------------
@dataclass
class Reference:
    participants: dict[str, ev.ParticipantInfo] = field(default_factory=dict)
    room_metadata: str = ""
    status: ev.ConnectionStatus = ev.ConnectionStatus.CONNECTING
    changes: list[Change] = field(default_factory=list)
    applied: int = 0

    def diff(self, old: ev.ParticipantInfo, new: ev.ParticipantInfo, at: float) -> None:
        """What replacing `old` by `new` records: name, metadata, then each differing attribute key in key order."""
        if old.name != new.name:
            self.changes.append(Change(at, new.identity, "name", old=old.name, new=new.name))
        if old.metadata != new.metadata:
            self.changes.append(Change(at, new.identity, "metadata", old=old.metadata, new=new.metadata))
        for key in sorted(set(old.attributes) | set(new.attributes)):
            if old.attributes.get(key) != new.attributes.get(key):
                a, b = old.attributes.get(key), new.attributes.get(key)
                self.changes.append(Change(at, new.identity, "attribute", key=key, old=a, new=b))


def info(
    identity: str, name: str, metadata: str, attributes: Mapping[str, str], sid: str, at: float
) -> ev.ParticipantInfo:
    attrs = {k: v for k, v in attributes.items() if v != ""}  # the server never lists a deleted ("") key
    return ev.ParticipantInfo(identity, sid, name, metadata, ev.frozen_map(attrs), identity == "me", True, at)


participants = st.builds(
    info,
    st.sampled_from(IDENTITIES),
    TEXT,
    TEXT,
    st.dictionaries(st.sampled_from(KEYS), VALUES, max_size=4),
    st.sampled_from(("PA_1", "PA_2")),
    st.floats(1.6e9, 1.9e9),
)

# Operations are drawn without knowing the state; `step` turns each into the event(s) the SDK would hand over in
# that state (an attribute change carries the full resulting set, as the SDK's participant.attributes does).
operations = st.one_of(
    st.tuples(st.just("join"), participants),
    st.tuples(st.just("leave"), st.sampled_from(IDENTITIES), TEXT),
    st.tuples(st.just("active"), st.sampled_from(IDENTITIES)),
    st.tuples(
        st.just("attrs"), st.sampled_from(IDENTITIES), st.dictionaries(st.sampled_from(KEYS), VALUES, min_size=1)
    ),
    st.tuples(st.just("metadata"), st.sampled_from(IDENTITIES), TEXT),
    st.tuples(st.just("name"), st.sampled_from(IDENTITIES), TEXT),
    st.tuples(st.just("room_metadata"), TEXT),
    st.tuples(st.just("snapshot"), st.lists(participants, max_size=4, unique_by=lambda p: p.identity), TEXT),
    st.tuples(st.just("reconnect"), st.lists(participants, max_size=4, unique_by=lambda p: p.identity), TEXT),
    st.tuples(st.just("rejoin"), st.lists(participants, max_size=4, unique_by=lambda p: p.identity), TEXT),
    st.tuples(st.just("disconnect"), TEXT),
)


def step(ref: Reference, op: tuple[Any, ...], at: float) -> list[ev.Event]:
    """Apply one operation to the reference; return the events RoomState gets for it."""
    kind = op[0]
    events: list[ev.Event] = []
    if kind == "join":
        p: ev.ParticipantInfo = op[1]
        prev = ref.participants.get(p.identity)
        if prev is None:
            ref.changes.append(Change(at, p.identity, "joined", new=joined_value(p)))
        else:
            ref.diff(prev, p, at)
        ref.participants[p.identity] = p
        events.append(ev.ParticipantJoined(p, at))
    elif kind == "leave":
        if ref.participants.pop(op[1], None) is not None:
            ref.changes.append(Change(at, op[1], "left", new=op[2]))
        events.append(ev.ParticipantLeft(op[1], op[2], at))
    elif kind == "active":
        p0 = ref.participants.get(op[1])
        if p0 is not None and not p0.active:
            ref.participants[op[1]] = dataclasses.replace(p0, active=True)
            ref.changes.append(Change(at, op[1], "active"))
        events.append(ev.ParticipantActive(op[1], at))
    elif kind == "attrs":
        identity, changed = op[1], op[2]
        p1 = ref.participants.get(identity)
        current = dict(p1.attributes) if p1 is not None else {}
        merged = {**current, **changed}
        full = {k: v for k, v in merged.items() if v != ""}
        if p1 is not None:
            for key, value in changed.items():
                old, new = current.get(key), (value or None)
                if old != new:
                    ref.changes.append(Change(at, identity, "attribute", key=key, old=old, new=new))
            ref.participants[identity] = dataclasses.replace(p1, attributes=ev.frozen_map(full))
        events.append(ev.AttributesChanged(identity, ev.frozen_map(changed), ev.frozen_map(full), at))
    elif kind in ("metadata", "name"):
        identity, new_value = op[1], op[2]
        p2 = ref.participants.get(identity)
        old_value = "" if p2 is None else getattr(p2, kind)
        if p2 is not None:
            ref.participants[identity] = dataclasses.replace(p2, **{kind: new_value})
            ref.changes.append(Change(at, identity, kind, old=old_value, new=new_value))
        cls = ev.MetadataChanged if kind == "metadata" else ev.NameChanged
        events.append(cls(identity, old_value, new_value, at))
    elif kind == "room_metadata":
        ref.changes.append(Change(at, "", "room_metadata", old=ref.room_metadata, new=op[1]))
        events.append(ev.RoomMetadataChanged(ref.room_metadata, op[1], at))
        ref.room_metadata = op[1]
    elif kind in ("snapshot", "reconnect", "rejoin"):
        if kind != "snapshot":
            events.append(connection(ref, ev.ConnectionStatus.RECONNECTING, at))
        snap_parts: list[ev.ParticipantInfo] = op[1]
        if op[2] != ref.room_metadata:
            ref.changes.append(Change(at, "", "room_metadata", old=ref.room_metadata, new=op[2]))
        ref.room_metadata = op[2]
        after = {p.identity: p for p in snap_parts}
        for identity in ref.participants:  # vanished ones, in the order they were known
            if identity not in after:
                ref.changes.append(Change(at, identity, "left", new="missing after resync"))
        for identity, p3 in after.items():
            prev3 = ref.participants.get(identity)
            if prev3 is None:
                ref.changes.append(Change(at, identity, "joined", new=joined_value(p3)))
            else:
                ref.diff(prev3, p3, at)
        ref.participants = after
        events.append(ev.Snapshot("room", op[2], tuple(snap_parts), at))
        if kind == "reconnect":
            events.append(connection(ref, ev.ConnectionStatus.CONNECTED, at))
        elif kind == "rejoin":  # a new rtc.Room after the SDK gave up: the gap is recorded after CONNECTED
            events.append(connection(ref, ev.ConnectionStatus.CONNECTED, at, gap=2.25))
            ref.changes.append(Change(at, "", "gap", new="rejoined after 2.2 s offline"))
    elif kind == "disconnect":
        events.append(connection(ref, ev.ConnectionStatus.DISCONNECTED, at, reason=op[1]))
    ref.applied += len(events)
    return events


def connection(
    ref: Reference, status: ev.ConnectionStatus, at: float, *, reason: str = "", gap: float | None = None
) -> ev.ConnectionChanged:
    ref.changes.append(Change(at, "", "connection", old=ref.status.value, new=status.value))
    ref.status = status
    return ev.ConnectionChanged(status, at, reason, gap)


def run(ops: list[tuple[Any, ...]], history_limit: int) -> tuple[RoomState, Reference]:
    state, ref = RoomState("room", history_limit=history_limit), Reference()
    notified: list[ev.Event] = []
    state.subscribe(notified.append)
    for i, op in enumerate(ops):
        for event in step(ref, op, at=1.7e9 + i):
            state.apply(event)
    assert len(notified) == ref.applied, "every applied event is told to subscribers exactly once"
    return state, ref


sequences = st.lists(operations, max_size=40)
limits = st.integers(1, 30)


# -- the properties ------------------------------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(sequences, limits)
def test_any_event_sequence_gives_the_reference_state_and_history(ops: list[tuple[Any, ...]], limit: int) -> None:
    state, ref = run(ops, limit)
    assert dict(state.participants) == ref.participants
    assert state.room_metadata == ref.room_metadata
    assert state.status is ref.status
    assert state.version == ref.applied
    local = state.local
    assert (local.identity if local else None) == ("me" if "me" in ref.participants else None)
    assert state.attribute_keys() == sorted({k for p in ref.participants.values() for k in p.attributes})
    # The history is the reference's changes, bounded to the most recent `limit`, oldest first.
    assert len(state.history) == min(limit, len(ref.changes))
    assert list(state.history) == ref.changes[len(ref.changes) - len(state.history) :]


@PROPERTY_SETTINGS
@given(sequences)
def test_to_frame_shows_every_participant_and_attribute_under_unique_columns(ops: list[tuple[Any, ...]]) -> None:
    state, ref = run(ops, 10_000)
    frame = state.to_frame()
    columns = list(frame.columns)
    assert len(columns) == len(set(columns)), f"duplicate columns: {columns}"
    assert columns[: len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    assert frame.index.name == "identity"
    # Local participant first, then by identity.
    expected_order = sorted(ref.participants, key=lambda i: (not ref.participants[i].is_local, i))
    assert list(frame.index) == expected_order
    # Each attribute key has exactly one column (renamed only if it collides), and its cells are the values.
    attr_columns = columns[len(FIXED_COLUMNS) :]
    keys = sorted({k for p in ref.participants.values() for k in p.attributes})
    assert len(attr_columns) == len(keys)
    for key, column in zip(keys, attr_columns, strict=True):
        # The documented rule: prefixed with "attr:" exactly when the key is a fixed column's or the index's name,
        # or already starts with "attr:"; otherwise the key itself.
        renamed = key in FIXED_COLUMNS or key == "identity" or key.startswith("attr:")
        assert column == ("attr:" + key if renamed else key), (key, column)
        for identity, p in ref.participants.items():
            assert frame.loc[identity, column] == p.attributes.get(key, "")
    for identity, p in ref.participants.items():
        row = frame.loc[identity]
        assert (row["name"], row["sid"], row["metadata"]) == (p.name, p.sid, p.metadata)
        assert bool(row["is_local"]) is p.is_local and bool(row["active"]) is p.active
        joined = row["joined_at"]
        assert isinstance(joined, dt.datetime) and joined.tzinfo is not None, f"joined_at is {joined!r}"
        assert p.joined_at is not None and joined.timestamp() == pd.Timestamp(p.joined_at, unit="s").timestamp()
    # The frame can be flattened: no attribute column takes the index's name.
    assert "identity" in frame.reset_index().columns


@PROPERTY_SETTINGS
@given(sequences, limits)
def test_history_frame_matches_the_bounded_history(ops: list[tuple[Any, ...]], limit: int) -> None:
    state, _ = run(ops, limit)
    frame = state.history_frame()
    assert list(frame.columns) == ["at", "identity", "kind", "key", "old", "new"]
    assert len(frame) == len(state.history) <= limit
    assert str(frame["at"].dt.tz) == "UTC"
    assert frame["at"].is_monotonic_increasing
    for row, change in zip(frame.itertuples(index=False), state.history, strict=True):
        assert row.at.timestamp() == change.at
        assert (row.identity, row.kind, row.key) == (change.identity, change.kind, change.key)
        for got, want in ((row.old, change.old), (row.new, change.new)):
            # "no value" (None) is pandas' missing value (None or NaN, as the column's dtype makes it)
            assert pd.isna(got) if want is None else got == want, (row, change)
