"""The room model: typed events in, an always-true picture of the room out.

Pure on purpose: no I/O, no SDK, no Jupyter. Tables, editors and tests read it; nothing else owns room state.

Example::

    state = RoomState("demo")
    state.apply(ParticipantJoined(ParticipantInfo("ann", "PA_1", "Ann", "", frozen_map({"role": "host"})), at=0.0))
    state.apply(AttributesChanged("ann", frozen_map({"role": "guest"}), frozen_map({"role": "guest"}), at=1.0))
    state.to_frame()          # one row per participant, one column per attribute key
    state.history_frame()     # every change with its time
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .condition import wait_until_true
from .errors import InvalidInputError
from .events import (
    AttributesChanged,
    ConnectionChanged,
    ConnectionStatus,
    Event,
    MetadataChanged,
    NameChanged,
    ParticipantActive,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantKind,
    ParticipantLeft,
    RoomMetadataChanged,
    Snapshot,
    frozen_map,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Change", "ChangeKind", "RoomState", "Subscriber", "joined_value", "participants_frame", "starting_state"]

log = logging.getLogger(__name__)

ChangeKind = Literal["joined", "left", "active", "attribute", "metadata", "name", "room_metadata", "connection", "gap"]
Subscriber = Callable[[Event], None]

#: Columns of `to_frame()` that are not attribute keys. Attribute keys that collide get an `attr:` prefix.
FIXED_COLUMNS = ("name", "kind", "sid", "is_local", "active", "joined_at", "metadata")
ATTRIBUTE_PREFIX = "attr:"
# The index name too: an attribute column named "identity" would break `frame.reset_index()`.
_RESERVED = frozenset((*FIXED_COLUMNS, "identity"))


def attribute_column(key: str) -> str:
    """The `to_frame()` column of attribute `key`: the key itself, or `attr:` + key if it is a fixed column's name
    or already starts with `attr:` (so that keys "name" and "attr:name" get distinct columns)."""
    return ATTRIBUTE_PREFIX + key if key in _RESERVED or key.startswith(ATTRIBUTE_PREFIX) else key


def joined_value(p: ParticipantInfo) -> str:
    """A `joined` change's `new`: the participant as first seen, as compact JSON `{"name", "metadata",
    "attributes"}`, so its starting state is in the history. A change it made before this session was told of it
    (a data-only peer is announced on the server's ~3 s tick) is already folded in: that is all the server says."""
    return starting_state(p.name, p.metadata, p.attributes)


def starting_state(name: str, metadata: str, attributes: Mapping[str, str]) -> str:
    """`joined_value` from the fields themselves (the recording's fast replay keeps participants as plain lists)."""
    return json.dumps(
        {"name": name, "metadata": metadata, "attributes": dict(attributes)}, separators=(",", ":"), ensure_ascii=False
    )


@dataclass(frozen=True, slots=True)
class Change:
    """One line of the change history. `at` is Unix time in seconds (a float, like `ParticipantInfo.joined_at`
    and `Message.received_at`); `history_frame()` and `to_frame()` show the same instants as UTC Timestamps.

    For `joined`, `old` is None and `new` is `joined_value(participant)`: its name, metadata and attributes as
    first seen. For `left`, `new` is the reason. Attribute `old`/`new` None means not set (or deleted)."""

    at: float
    identity: str
    """Participant identity ("" for room-level changes)."""
    kind: ChangeKind
    key: str = ""
    """Attribute key, for attribute changes."""
    old: str | None = None
    new: str | None = None


class RoomState:
    """Every participant's identity, name, metadata and attributes, the room metadata, and a bounded history.

    Feed it events with `apply`; subscribe to be told of each applied event. The model is complete (the initial
    state included) as soon as `lk_notebook.join` returns, and a `Snapshot` after a reconnect makes it true again.
    """

    def __init__(self, room: str = "", *, history_limit: int = 10_000) -> None:
        if history_limit < 1:
            raise ValueError("history_limit must be at least 1")
        self.room = room
        self.room_metadata = ""
        self.status = ConnectionStatus.CONNECTING
        self.disconnect_reason = ""
        self._participants: dict[str, ParticipantInfo] = {}
        self._history: deque[Change] = deque(maxlen=history_limit)
        self._subscribers: list[Subscriber] = []
        self.version = 0
        """Increases by one for every applied event; views compare it to know whether to render."""

    # -- reading ------------------------------------------------------------------------------------------------
    @property
    def participants(self) -> Mapping[str, ParticipantInfo]:
        """Identity -> participant, local one included. A read-only view."""
        return self._participants

    @property
    def local(self) -> ParticipantInfo | None:
        """The participant this session joined as, once known."""
        return next((p for p in self._participants.values() if p.is_local), None)

    def __len__(self) -> int:
        return len(self._participants)

    def __contains__(self, identity: object) -> bool:
        return identity in self._participants

    def __iter__(self) -> Iterator[ParticipantInfo]:
        return iter(list(self._participants.values()))

    def get(self, identity: str) -> ParticipantInfo | None:
        return self._participants.get(identity)

    @property
    def history(self) -> tuple[Change, ...]:
        """The most recent changes, oldest first (bounded by `history_limit`)."""
        return tuple(self._history)

    def of_kind(self, kind: ParticipantKind | str) -> list[ParticipantInfo]:
        """The participants of one kind (e.g. "agent"), sorted by identity."""
        try:
            wanted = ParticipantKind(kind)
        except ValueError:
            known = ", ".join(k.value for k in ParticipantKind)
            raise InvalidInputError(f"unknown participant kind {kind!r}; one of: {known}") from None
        return sorted((p for p in self._participants.values() if p.kind is wanted), key=lambda p: p.identity)

    def attribute_keys(self) -> list[str]:
        """Every attribute key in use by anyone, sorted."""
        keys: set[str] = set()
        for p in self._participants.values():
            keys.update(p.attributes)
        return sorted(keys)

    def __repr__(self) -> str:
        return (
            f"RoomState(room={self.room!r}, status={self.status.value}, participants={len(self)}, "
            f"version={self.version})"
        )

    # -- subscription -------------------------------------------------------------------------------------------
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback(event)` after each applied event. Returns a function that unsubscribes.

        Callbacks must be quick (mark a view dirty, not render it); an exception in one is logged and does not
        stop the model or the other subscribers.
        """
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            if callback in self._subscribers:
                self._subscribers.remove(callback)

        return unsubscribe

    async def wait_until(self, predicate: Callable[[RoomState], bool], *, timeout: float) -> bool:
        """Wait until `predicate(self)` is true, checked now and after every applied event. False on timeout.

        An exception from the predicate ends the wait with that exception, whether the first check raises it or
        one after a change does. (A subscriber's exception would only be logged: the same predicate would then
        fail at once in one run and time out in the next, depending on when the room caught up.)
        """
        return await wait_until_true(
            lambda: predicate(self), lambda changed: self.subscribe(lambda _: changed()), timeout=timeout
        )

    # -- applying events ----------------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        """Update the model from one event, record the change, and tell subscribers."""
        self._handler(type(event))(self, event)
        self.version += 1
        if self._subscribers:
            self._notify(event)

    def apply_many(self, events: Iterable[Event]) -> int:
        """`apply` each event in order (the same changes and notifications), with less overhead per event: what
        replaying a recording uses. Returns how many were applied."""
        handlers = _HANDLERS
        n = 0
        for event in events:
            handler = handlers.get(type(event)) or self._handler(type(event))
            handler(self, event)
            self.version += 1
            n += 1
            if self._subscribers:
                self._notify(event)
        return n

    @staticmethod
    def _handler(cls: type) -> Callable[[RoomState, Any], None]:
        # A dict lookup per event, not an isinstance chain: replay applies >= 200k events/s.
        handler = _HANDLERS.get(cls)
        if handler is None:
            handler = next((h for base, h in _HANDLERS.items() if issubclass(cls, base)), None)
            if handler is None:  # pragma: no cover - the Event union is closed; this guards a new event type
                raise TypeError(f"RoomState cannot apply {cls.__name__}")
        return handler

    def _apply_joined(self, event: ParticipantJoined) -> None:
        p = event.participant
        previous = self._participants.get(p.identity)
        self._participants[p.identity] = p
        if previous is None:
            self._history.append(Change(event.at, p.identity, "joined", new=joined_value(p)))
        else:
            self._record_differences(previous, p, event.at)

    def _apply_left(self, event: ParticipantLeft) -> None:
        if self._participants.pop(event.identity, None) is not None:
            self._history.append(Change(event.at, event.identity, "left", new=event.reason))

    def _apply_active(self, event: ParticipantActive) -> None:
        p = self._participants.get(event.identity)
        if p is not None and not p.active:
            self._participants[event.identity] = _with(p, active=True)
            self._history.append(Change(event.at, event.identity, "active"))

    def _apply_metadata(self, event: MetadataChanged) -> None:
        p = self._participants.get(event.identity)
        if p is not None:
            self._participants[event.identity] = _with(p, metadata=event.new)
            self._history.append(Change(event.at, event.identity, "metadata", old=p.metadata, new=event.new))

    def _apply_name(self, event: NameChanged) -> None:
        p = self._participants.get(event.identity)
        if p is not None:
            self._participants[event.identity] = _with(p, name=event.new)
            self._history.append(Change(event.at, event.identity, "name", old=p.name, new=event.new))

    def _apply_room_metadata(self, event: RoomMetadataChanged) -> None:
        old = self.room_metadata
        self.room_metadata = event.new
        self._history.append(Change(event.at, "", "room_metadata", old=old, new=event.new))

    def _apply_connection(self, event: ConnectionChanged) -> None:
        old_status = self.status
        self.status = event.status
        if event.status is ConnectionStatus.DISCONNECTED:
            self.disconnect_reason = event.reason
        self._history.append(Change(event.at, "", "connection", old=old_status.value, new=event.status.value))
        if event.gap is not None:
            # Changes made while away are only known by their result (the resync's differences above).
            self._history.append(Change(event.at, "", "gap", new=f"rejoined after {event.gap:.1f} s offline"))

    def _apply_attributes(self, event: AttributesChanged) -> None:
        p = self._participants.get(event.identity)
        if p is None:
            return
        # The event carries the full attribute set: trust it over incremental bookkeeping.
        self._participants[event.identity] = _with(p, attributes=event.attributes)
        history = self._history
        old_attributes = p.attributes
        for key, value in event.changed.items():
            old = old_attributes.get(key)
            new = value if value != "" else None
            if old != new:
                history.append(Change(event.at, event.identity, "attribute", key=key, old=old, new=new))

    def _apply_snapshot(self, snap: Snapshot) -> None:
        before = self._participants
        self.room = snap.room
        if snap.room_metadata != self.room_metadata:
            self._history.append(Change(snap.at, "", "room_metadata", old=self.room_metadata, new=snap.room_metadata))
            self.room_metadata = snap.room_metadata
        after = {p.identity: p for p in snap.participants}
        # In the order they were known, not set order: that would vary with the hash seed from run to run.
        for identity in before:
            if identity not in after:
                self._history.append(Change(snap.at, identity, "left", new="missing after resync"))
        for identity, p in after.items():
            prev = before.get(identity)
            if prev is None:
                self._history.append(Change(snap.at, identity, "joined", new=joined_value(p)))
            else:
                self._record_differences(prev, p, snap.at)
        self._participants = after

    def _record_differences(self, old: ParticipantInfo, new: ParticipantInfo, at: float) -> None:
        if old.name != new.name:
            self._history.append(Change(at, new.identity, "name", old=old.name, new=new.name))
        if old.metadata != new.metadata:
            self._history.append(Change(at, new.identity, "metadata", old=old.metadata, new=new.metadata))
        for key in sorted(old.attributes.keys() | new.attributes.keys()):
            a, b = old.attributes.get(key), new.attributes.get(key)
            if a != b:
                self._history.append(Change(at, new.identity, "attribute", key=key, old=a, new=b))

    def _notify(self, event: Event) -> None:
        for callback in tuple(self._subscribers):
            try:
                callback(event)
            except Exception:
                log.exception("a RoomState subscriber failed on %s", type(event).__name__)

    # -- frames -------------------------------------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """One row per participant, indexed by identity: name, kind, sid, is_local, active, joined_at (a UTC
        timestamp), metadata, then one column per attribute key (an agent's state is its `lk.agent.state` column).
        Missing keys are empty strings, so "not set" and "deleted" look the same, as they are on the server. Keys that
        collide get an "attr:" prefix (`lk_notebook.state.attribute_column(key)`); select a key that may be absent
        with `frame.reindex(columns=[...])`, not `frame[[...]]`."""
        return participants_frame(self._participants.values(), self.attribute_keys())

    def history_frame(self) -> pd.DataFrame:
        """The change history: at (UTC Timestamp), identity, kind, key, old, new (see `Change`); unset is None."""
        import pandas as pd

        rows, columns = [dataclasses.astuple(c) for c in self._history], ["at", "identity", "kind", "key", "old", "new"]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=columns, dtype=object)
        frame["at"] = pd.to_datetime(frame["at"], unit="s", utc=True)
        return frame


def participants_frame(participants: Iterable[ParticipantInfo], keys: list[str]) -> pd.DataFrame:
    """`RoomState.to_frame` of these participants, with a column per attribute key in `keys`."""
    import pandas as pd

    columns = list(FIXED_COLUMNS) + [attribute_column(k) for k in keys]
    ordered = sorted(participants, key=lambda p: (not p.is_local, p.identity))
    rows = []
    for p in ordered:
        joined = pd.Timestamp(p.joined_at, unit="s", tz="UTC") if p.joined_at is not None else pd.NaT
        row: list[object] = [p.name, p.kind.value, p.sid, p.is_local, p.active, joined, p.metadata]
        row.extend(p.attributes.get(k, "") for k in keys)
        rows.append(row)
    index = pd.Index([p.identity for p in ordered], name="identity", dtype="object")
    frame: pd.DataFrame = pd.DataFrame(rows, columns=columns, index=index)
    # A timezone-aware column even when every value is missing (an empty or all-NaT column has no tz).
    frame["joined_at"] = pd.to_datetime(frame["joined_at"], utc=True)
    return frame


def _with(
    p: ParticipantInfo, *, name: str | None = None, metadata: str | None = None,
    attributes: Mapping[str, str] | None = None, active: bool | None = None,
) -> ParticipantInfo:  # fmt: skip
    """`p` with some fields replaced: direct construction, several times faster than `dataclasses.replace`."""
    return ParticipantInfo(
        p.identity, p.sid, p.name if name is None else name, p.metadata if metadata is None else metadata,
        p.attributes if attributes is None else attributes, p.is_local, p.active if active is None else active,
        p.joined_at, p.kind,
    )  # fmt: skip


_HANDLERS: dict[type, Callable[[RoomState, Any], None]] = {
    AttributesChanged: RoomState._apply_attributes,
    ParticipantJoined: RoomState._apply_joined,
    ParticipantLeft: RoomState._apply_left,
    ParticipantActive: RoomState._apply_active,
    MetadataChanged: RoomState._apply_metadata,
    NameChanged: RoomState._apply_name,
    RoomMetadataChanged: RoomState._apply_room_metadata,
    ConnectionChanged: RoomState._apply_connection,
    Snapshot: RoomState._apply_snapshot,
}


def participant(
    identity: str,
    *,
    sid: str = "",
    name: str = "",
    metadata: str = "",
    attributes: Mapping[str, str] | None = None,
    is_local: bool = False,
    active: bool = True,
    joined_at: float | None = None,
    kind: ParticipantKind | str = ParticipantKind.STANDARD,
) -> ParticipantInfo:
    """Build a ParticipantInfo with a frozen attribute map (handy in tests and fakes)."""
    return ParticipantInfo(
        identity, sid, name, metadata, frozen_map(attributes), is_local, active, joined_at, ParticipantKind(kind)
    )
