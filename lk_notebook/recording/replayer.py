"""The replay fast path: state records applied as decoded JSON, straight into a RoomState's insides.

`RoomState.apply` needs a frozen event per record and builds a frozen ParticipantInfo and a Change per change;
replaying a recording that way runs at ~65k records/s (measured on the 1M-event bench), most of it spent making
objects that are thrown away at once. `StateReplayer` keeps each participant as a mutable list and each change as a
plain tuple in a deque bounded like RoomState's history, and builds the frozen objects once, at the end: the same
RoomState as `RoomState.apply_many` of the decoded events (participants in the same order, the same history and
version; tests/test_recording_properties.py checks it with hypothesis), and decodes with orjson, which spends a
third of the standard library's time on a record. Subscribers of the target state are not
called: this is for building a state, not for driving views (`ReplaySource` does that, record by record).

Pure: no I/O. The one module besides state.py that touches RoomState's private fields, because RoomState's public
way in is one event at a time.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Any

from ..events import ConnectionStatus, ParticipantInfo, ParticipantKind
from ..state import Change, RoomState, starting_state
from .wire import ParticipantWire

__all__ = ["StateReplayer", "fast_loads", "json_loads"]

Loads = Callable[[str], Any]

_DECODER = json.JSONDecoder()


def json_loads(body: str) -> Any:
    """The standard library's decoder, for where orjson is not installed. `raw_decode` rather than `json.loads`:
    the bodies are compact JSON written by the journal (no leading whitespace), and loads' two regex matches and
    wrappers cost 40 % of decoding an attribute change (measured 3.5 vs 2.1 us)."""
    value, end = _DECODER.raw_decode(body)
    if end != len(body):
        raise ValueError(f"a record's body has data after its JSON value: {body[end:][:40]!r}")
    return value


fast_loads: Loads
"""orjson's decoder when installed, else `json_loads`."""
try:
    # Decoding is most of the replay's time: orjson decodes an attribute change in 0.75 us, the standard library in
    # 2.1 (measured on the 1M-event bench file). The same values: JSON has one meaning.
    from orjson import loads as _orjson_loads
except ImportError:  # pragma: no cover - orjson is a dependency; a platform without its wheel still replays
    fast_loads = json_loads
else:
    fast_loads = _orjson_loads

# identity, sid, name, metadata, attributes, is_local, active, joined_at, kind: ParticipantInfo's field order.
_Person = list[Any]
_ChangeRow = tuple[float, str, str, str, "str | None", "str | None"]
_IDENTITY, _NAME, _METADATA, _ATTRIBUTES, _ACTIVE = 0, 2, 3, 4, 6


def _person(w: ParticipantWire) -> _Person:
    return [w["identity"], w["sid"], w["name"], w["metadata"], w["attributes"], w["is_local"], w["active"],
            w["joined_at"], w["kind"]]  # fmt: skip


def _starting(p: _Person) -> str:
    """A `joined` change's `new`, as `RoomState` records it (`state.joined_value`)."""
    return starting_state(p[_NAME], p[_METADATA], p[_ATTRIBUTES])


def _info(p: _Person) -> ParticipantInfo:
    attributes = p[_ATTRIBUTES]
    if not isinstance(attributes, MappingProxyType):
        # A dict json.loads made for this record and nothing else holds: a read-only view, as the slow path has.
        attributes = MappingProxyType(attributes)
    return ParticipantInfo(p[0], p[1], p[2], p[3], attributes, p[5], p[6], p[7], ParticipantKind(p[8]))


class StateReplayer:
    """Applies (kind, JSON body) state records to `state`; `finish()` writes the result into it and returns it."""

    def __init__(self, state: RoomState, *, loads: Loads = fast_loads) -> None:
        self._state = state
        self._loads = loads
        self.room = state.room
        self.room_metadata = state.room_metadata
        self.status = state.status
        self.disconnect_reason = state.disconnect_reason
        self.people: dict[str, _Person] = {i: list(_fields(p)) for i, p in state.participants.items()}
        self.history: deque[_ChangeRow] = deque(
            ((c.at, c.identity, c.kind, c.key, c.old, c.new) for c in state.history), maxlen=state._history.maxlen
        )
        self.applied = 0

    def feed(self, rows: Iterable[tuple[str, str]]) -> int:
        """Apply every (kind, body) row in order; returns how many."""
        handlers, loads, people, append = _HANDLERS, self._loads, self.people, self.history.append
        n = 0
        for kind, body in rows:
            n += 1
            try:
                w = loads(body)
            except ValueError:
                # NaN and Infinity: Python's json writes them (a float field could hold one), orjson refuses them.
                w = json.loads(body)
            if kind != "attributes":
                handlers[kind](self, w)
                continue
            # Attribute changes are most of a room's records: handled inline (a method call per record costs 10 %).
            identity = w["identity"]
            p = people.get(identity)
            if p is None:
                continue
            old_attributes = p[4]  # _ATTRIBUTES, as a constant: this loop runs a million times
            p[4] = w["attributes"]
            for key, value in w["changed"].items():
                old = old_attributes.get(key)
                new = value if value != "" else None
                if old != new:
                    append((w["at"], identity, "attribute", key, old, new))
        self.applied += n
        return n

    def finish(self) -> RoomState:
        state = self._state
        state.room = self.room
        state.room_metadata = self.room_metadata
        state.status = self.status
        state.disconnect_reason = self.disconnect_reason
        state._participants = {i: _info(p) for i, p in self.people.items()}
        state._history = deque((Change(*c) for c in self.history), maxlen=self.history.maxlen)  # type: ignore[arg-type]
        state.version += self.applied
        self.applied = 0
        return state

    # -- one method per record kind, each mirroring RoomState's handler of the same event ----------------------------
    def _joined(self, w: dict[str, Any]) -> None:
        p = _person(w["participant"])
        identity = p[_IDENTITY]
        previous = self.people.get(identity)
        self.people[identity] = p
        if previous is None:
            self.history.append((w["at"], identity, "joined", "", None, _starting(p)))
        else:
            self._differences(previous, p, w["at"])

    def _left(self, w: dict[str, Any]) -> None:
        if self.people.pop(w["identity"], None) is not None:
            self.history.append((w["at"], w["identity"], "left", "", None, w["reason"]))

    def _active(self, w: dict[str, Any]) -> None:
        p = self.people.get(w["identity"])
        if p is not None and not p[_ACTIVE]:
            p[_ACTIVE] = True
            self.history.append((w["at"], w["identity"], "active", "", None, None))

    def _metadata(self, w: dict[str, Any]) -> None:
        self._field(w, _METADATA, "metadata")

    def _name(self, w: dict[str, Any]) -> None:
        self._field(w, _NAME, "name")

    def _field(self, w: dict[str, Any], index: int, kind: str) -> None:
        p = self.people.get(w["identity"])
        if p is not None:
            old, p[index] = p[index], w["new"]
            self.history.append((w["at"], w["identity"], kind, "", old, w["new"]))

    def _room_metadata(self, w: dict[str, Any]) -> None:
        old, self.room_metadata = self.room_metadata, w["new"]
        self.history.append((w["at"], "", "room_metadata", "", old, w["new"]))

    def _connection(self, w: dict[str, Any]) -> None:
        old, self.status = self.status, ConnectionStatus(w["status"])
        if self.status is ConnectionStatus.DISCONNECTED:
            self.disconnect_reason = w["reason"]
        self.history.append((w["at"], "", "connection", "", old.value, self.status.value))
        if w["gap"] is not None:
            self.history.append((w["at"], "", "gap", "", None, f"rejoined after {w['gap']:.1f} s offline"))

    def _snapshot(self, w: dict[str, Any]) -> None:
        at = w["at"]
        before = dict(self.people)
        self.room = w["room"]
        if w["room_metadata"] != self.room_metadata:
            self.history.append((at, "", "room_metadata", "", self.room_metadata, w["room_metadata"]))
            self.room_metadata = w["room_metadata"]
        after = {p[_IDENTITY]: p for p in map(_person, w["participants"])}
        for identity in before:
            if identity not in after:
                self.history.append((at, identity, "left", "", None, "missing after resync"))
        for identity, p in after.items():
            previous = before.get(identity)
            if previous is None:
                self.history.append((at, identity, "joined", "", None, _starting(p)))
            else:
                self._differences(previous, p, at)
        # In place: `feed` holds the dict.
        self.people.clear()
        self.people.update(after)

    def _differences(self, old: _Person, new: _Person, at: float) -> None:
        identity, append = new[_IDENTITY], self.history.append
        for index, kind in ((_NAME, "name"), (_METADATA, "metadata")):
            if old[index] != new[index]:
                append((at, identity, kind, "", old[index], new[index]))
        a_map: Mapping[str, str] = old[_ATTRIBUTES]
        b_map: Mapping[str, str] = new[_ATTRIBUTES]
        for key in sorted(a_map.keys() | b_map.keys()):
            a, b = a_map.get(key), b_map.get(key)
            if a != b:
                append((at, identity, "attribute", key, a, b))


def _fields(p: ParticipantInfo) -> tuple[Any, ...]:
    return (p.identity, p.sid, p.name, p.metadata, p.attributes, p.is_local, p.active, p.joined_at, p.kind)


_HANDLERS: dict[str, Any] = {
    "joined": StateReplayer._joined,
    "left": StateReplayer._left,
    "active": StateReplayer._active,
    "metadata": StateReplayer._metadata,
    "name": StateReplayer._name,
    "room_metadata": StateReplayer._room_metadata,
    "connection": StateReplayer._connection,
    "snapshot": StateReplayer._snapshot,
}
