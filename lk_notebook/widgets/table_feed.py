"""TableFeed: what the participants table sends next, computed from what changed, not by rescanning the room.

Pure (no widget, no I/O): the table feeds it the RoomState's events and sends what it returns. Its work per message
is proportional to what changed since the last one (plus one page of the first load), never to the room's size:

- an `AttributesChanged` names the keys it changed: those cells are sent with their values from the event's full
  attribute set (what RoomState stores), with no comparison (comparing 20 keys per changed row was most of a
  render at 10,000 changes/s);
- a join, leave, name, metadata or active change compares that one row;
- columns grow from the keys events name; only a deleted key, a leave or a `Snapshot` rescans the room for them;
- the first load goes out in pages of `page_rows` rows, one page per message (local participant first, then by
  identity: the rows a fresh view shows first), so a 10,000-row room is never one 6 MB message.
"""

from __future__ import annotations

import itertools
import math
import operator
from typing import cast

from .. import events as ev
from ..state import RoomState
from .protocol import TableDelta, TableReset, TableRow

__all__ = ["TableFeed", "row_fields"]

PAGE_ROWS = 500
"""Rows per message of the first load: ~300 kB and a few ms of encoding at 20 attributes (bench/table.py)."""


def _scalars(p: ev.ParticipantInfo) -> TableRow:
    joined = p.joined_at
    return {
        "n": p.name,
        "k": p.kind.value,
        "j": None if joined is None or not math.isfinite(joined) else round(joined * 1000),
        "m": p.metadata,
        "l": p.is_local,
        "v": p.active,
    }


def row_fields(p: ev.ParticipantInfo) -> TableRow:
    """The wire form of one participant (`protocol.TableRow`)."""
    row = _scalars(p)
    row["a"] = dict(p.attributes)
    return row


_SCALAR_SOURCES = operator.attrgetter("name", "kind", "joined_at", "metadata", "is_local", "active")
"""What `_scalars` reads: compared first, because most changes are attributes only (building both rows' scalars
for every changed row made a render of 1,000 attribute changes/s a third slower, bench/table.py)."""


def _row_delta(old: ev.ParticipantInfo, new: ev.ParticipantInfo) -> TableRow | None:
    delta: TableRow = {}
    if _SCALAR_SOURCES(old) != _SCALAR_SOURCES(new):
        before, after = _scalars(old), _scalars(new)
        delta = cast(TableRow, {key: value for key, value in after.items() if before.get(key) != value})
    if old.attributes is not new.attributes:
        a_old, a_new = old.attributes, new.attributes
        changed: dict[str, str | None] = {k: v for k, v in a_new.items() if a_old.get(k) != v}
        for k in a_old.keys() - a_new.keys():
            changed[k] = None  # deleted
        if changed:
            delta["a"] = changed
    return delta or None


class TableFeed:
    """The kernel's side of one table: `note(event)` per event, then `reset()` for a new view or `next()`.

    Example::

        feed = TableFeed(state)
        unsubscribe = state.subscribe(feed.note)
        send(feed.reset())              # a view said hello: first page, columns, how many rows are still to come
        while True:
            message = feed.next()       # changed cells, joins/leaves, and the next page while loading
            if message is not None:
                send(message)
    """

    def __init__(self, state: RoomState, *, page_rows: int = PAGE_ROWS) -> None:
        if page_rows < 1:
            raise ValueError("page_rows must be at least 1")
        self.state = state
        self.page_rows = page_rows
        self._sent: dict[str, ev.ParticipantInfo] = {}
        """Each row as the view last got it."""
        self._unsent: dict[str, None] = {}
        """Rows of the first load not sent yet, in page order (a dict: ordered, O(1) removal)."""
        self._columns: list[str] = []
        self._column_set: frozenset[str] = frozenset()
        self._cells: dict[str, dict[str, str | None]] = {}
        """Identity -> {attribute key: value, None when deleted} changed by events since the last message."""
        self._rows: set[str] = set()
        """Identities whose whole row is compared (joined, left, name, metadata, active)."""
        self._new_keys: set[str] = set()
        self._rescan_columns = False
        self._full = False

    @property
    def loading(self) -> int:
        """Rows of the first load still to be sent (0 once the view has every row)."""
        return len(self._unsent)

    def note(self, event: ev.Event) -> None:
        """Remember what `event` changed (cheap: called for every applied event)."""
        if isinstance(event, ev.AttributesChanged):
            cells = self._cells.get(event.identity)
            if cells is None:
                cells = self._cells[event.identity] = {}
            now = event.attributes
            for key in event.changed:
                value = cells[key] = now.get(key)
                if value is None:
                    self._rescan_columns = True  # deleted: is anyone else still using the key?
                elif key not in self._column_set:
                    self._new_keys.add(key)
        elif isinstance(event, ev.ParticipantJoined):
            self._rows.add(event.participant.identity)
            self._new_keys.update(k for k in event.participant.attributes if k not in self._column_set)
        elif isinstance(event, ev.ParticipantLeft):
            self._rows.add(event.identity)
            self._rescan_columns = True  # its keys may have been nobody else's
        elif isinstance(event, ev.MetadataChanged | ev.NameChanged | ev.ParticipantActive):
            self._rows.add(event.identity)
        elif isinstance(event, ev.Snapshot):
            self._full = True
        # ConnectionChanged, RoomMetadataChanged: not part of the table

    def discard(self) -> None:
        """Forget what changed (nobody is watching: the next view starts with a reset)."""
        self._cells.clear()
        self._rows.clear()
        self._new_keys.clear()
        self._full = self._rescan_columns = False

    def reset(self) -> TableReset:
        """Everything anew for a new view: the columns, the first page, and how many rows are still to come."""
        self.discard()
        participants = self.state.participants
        self._sent = {}
        ordered = sorted(participants.values(), key=lambda p: (not p.is_local, p.identity))
        self._unsent = dict.fromkeys(p.identity for p in ordered)
        self._set_columns(self.state.attribute_keys())
        rows = self._page()
        return {"t": "reset", "cols": self._columns, "rows": rows, "more": len(self._unsent)}

    def next(self) -> TableDelta | None:
        """What changed since the last message (and the next page while loading); None when nothing did."""
        participants = self.state.participants
        cells, rows, full = self._cells, self._rows, self._full
        self._cells, self._rows, self._full = {}, set(), False
        upserts: dict[str, TableRow] = {}
        removed: list[str] = []
        if full:  # a resync: any row may differ
            rows = set(participants) | set(self._sent) | set(self._unsent)
            self._rescan_columns = True
        for identity in rows:
            self._compare_row(identity, upserts, removed)
        sent = self._sent
        for identity, changed in cells.items():
            # Rows compared whole carry their cells already; rows the view has not got yet come in full later.
            if identity in rows or identity not in sent:
                continue
            upserts[identity] = {"a": changed}
            p = participants.get(identity)
            if p is not None:
                # The room's own object: the one replaced is freed (holding 10,000 stale rows doubled what the
                # garbage collector walks), and a later whole-row comparison starts from what the view has.
                sent[identity] = p
        message: TableDelta = {"t": "delta"}
        if upserts:
            message["up"] = upserts
        if removed:
            message["rm"] = sorted(removed)
        columns = self._next_columns()
        if columns is not None:
            message["cols"] = columns
        if self._unsent:
            message["pg"] = self._page()
            message["more"] = len(self._unsent)
        return message if len(message) > 1 else None

    # -- internals ----------------------------------------------------------------------------------------------
    def _compare_row(self, identity: str, upserts: dict[str, TableRow], removed: list[str]) -> None:
        p = self.state.participants.get(identity)
        prev = self._sent.get(identity)
        if p is None:
            self._unsent.pop(identity, None)
            if prev is not None:
                removed.append(identity)
                del self._sent[identity]
            return
        if prev is None:
            if identity not in self._unsent:  # joined since the reset (rows still to load come with their page)
                upserts[identity] = row_fields(p)
                self._sent[identity] = p
            return
        if prev is not p:
            delta = _row_delta(prev, p)
            if delta is not None:
                upserts[identity] = delta
            self._sent[identity] = p

    def _page(self) -> dict[str, TableRow]:
        participants = self.state.participants
        batch = list(itertools.islice(self._unsent, self.page_rows))
        page: dict[str, TableRow] = {}
        for identity in batch:
            del self._unsent[identity]
            p = participants.get(identity)
            if p is not None:
                page[identity] = row_fields(p)
                self._sent[identity] = p
        return page

    def _next_columns(self) -> list[str] | None:
        if self._rescan_columns:
            columns = self.state.attribute_keys()
        elif self._new_keys:
            columns = sorted(self._column_set | self._new_keys)
        else:
            return None
        self._rescan_columns = False
        self._new_keys.clear()
        if columns == self._columns:
            return None
        self._set_columns(columns)
        return columns

    def _set_columns(self, columns: list[str]) -> None:
        self._columns = columns
        self._column_set = frozenset(columns)
