"""ParticipantsTable: every participant's identity, kind (agent state), name, join time, metadata and attributes, live.

An anywidget with a static ES module (`static/table.js`, no build step). The kernel keeps what it last sent and,
at a fixed rate, sends only the difference (rows added or removed, changed cells) as a custom message; the front
end applies it in place, highlights the changed cells, and sorts and filters on its own. Nothing about the rows is
a synced trait, so saved widget state stays small and a busy room costs bytes proportional to what changed.
"""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Mapping
from typing import Any, TypeGuard, cast

import anywidget
import traitlets

from ..events import (
    AttributesChanged,
    ConnectionChanged,
    ConnectionStatus,
    Event,
    MetadataChanged,
    NameChanged,
    ParticipantActive,
    ParticipantInfo,
)
from ..session import Session
from ..state import RoomState
from ._live import Live, describe_error
from ._static import STATIC, es_module
from ._text import TextFallback, participants_text
from .protocol import TABLE_WIRE, TableDelta, TableHello, TableReset, TableRow

__all__ = ["ParticipantsTable", "row_fields"]


def _scalars(p: ParticipantInfo) -> TableRow:
    joined = p.joined_at
    return {
        "n": p.name,
        "k": p.kind.value,
        "j": None if joined is None or not math.isfinite(joined) else round(joined * 1000),
        "m": p.metadata,
        "l": p.is_local,
        "v": p.active,
    }


def row_fields(p: ParticipantInfo) -> TableRow:
    """The wire form of one participant (`protocol.TableRow`)."""
    row = _scalars(p)
    row["a"] = dict(p.attributes)
    return row


_SCALAR_SOURCES = operator.attrgetter("name", "kind", "joined_at", "metadata", "is_local", "active")
"""What `_scalars` reads: compared first, because most changes are attributes only (building both rows' scalars
for every changed row made a render of 1,000 attribute changes/s a third slower, bench/table.py)."""


def _row_delta(old: ParticipantInfo, new: ParticipantInfo) -> TableRow | None:
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


def _is_hello(content: object) -> TypeGuard[TableHello]:
    return isinstance(content, Mapping) and content.get("t") == "hello"


class ParticipantsTable(TextFallback, anywidget.AnyWidget):
    """A live, sortable, filterable table of the room. Pass a Session (or a bare RoomState, for tests/benchmarks).

    Example::

        table = ParticipantsTable(session)      # last expression in a cell: shows it
        table.stats                             # renders, bytes sent, ...
        table.close()                           # stops its render task
    """

    _esm = es_module("table.js")
    _css = STATIC / "table.css"

    room = traitlets.Unicode("").tag(sync=True)
    status = traitlets.Unicode("").tag(sync=True)
    """Connection status line shown above the table."""
    flash_ms = traitlets.Int(1200).tag(sync=True)
    """How long a changed cell stays highlighted in the browser."""
    max_height = traitlets.Unicode("420px").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    """The last failure of this view (shown in red above the table), "" when none."""
    wire = traitlets.Dict(TABLE_WIRE).tag(sync=True)
    """How the front end reads the messages (`protocol.TABLE_WIRE`): it declares no key or constant of its own."""

    def text_fallback(self) -> str:
        s = self.state
        head = f"ParticipantsTable of room {s.room!r}: {s.status.value}, {len(s)} participant(s)"
        return head + ("\n" + participants_text(s) if len(s) else "")

    def __init__(self, source: Session | RoomState, *, hz: float = 6.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.session = source if isinstance(source, Session) else None
        self.state: RoomState = source.state if isinstance(source, Session) else source
        self.room = self.state.room
        self._sent: dict[str, ParticipantInfo] = {}
        self._sent_columns: list[str] = []
        self._column_set: frozenset[str] = frozenset()
        self._dirty: set[str] = set()
        self._full = True
        self._columns_dirty = True
        self._need_reset = False
        self._ready = False
        """True once a browser view has said hello: nothing is sent before (nobody would receive it)."""
        self.bytes_sent = 0
        self.messages_sent = 0
        self.last_message: TableReset | TableDelta | None = None
        self.live = Live(f"table {self.state.room}", self._render, hz=hz, errors=self, is_finished=self._finished)
        self.live.on_close(self.state.subscribe(self._on_event))
        self.on_msg(self._on_front_end)
        self._update_status()
        self.live.start()

    # -- kernel side --------------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        # Note what changed so a render looks at those rows only (500 rows x 20 keys is too many to rescan at
        # 1,000 changes/s); anything that changes membership asks for a full comparison.
        if isinstance(event, AttributesChanged):
            self._dirty.add(event.identity)
            if not self._columns_dirty:
                known = self._column_set
                self._columns_dirty = any(v == "" or k not in known for k, v in event.changed.items())
        elif isinstance(event, MetadataChanged | NameChanged | ParticipantActive):
            self._dirty.add(event.identity)
        elif isinstance(event, ConnectionChanged):
            self._update_status()
        else:  # joined, left, snapshot, room metadata: cheap enough to compare everything
            self._full = True
        self.live.mark()

    def _finished(self) -> bool:
        return self.session is not None and self.session.closed

    def _update_status(self) -> None:
        s = self.state
        text = s.status.value
        if s.status is ConnectionStatus.DISCONNECTED and s.disconnect_reason:
            text += f" ({s.disconnect_reason})"
        self.status = text

    def _on_front_end(self, _widget: object, content: Mapping[str, Any], _buffers: object) -> None:
        if _is_hello(content):
            # A new view (or a reloaded page) has nothing: give it everything once, deltas afterwards.
            self._ready = True
            self._need_reset = True
            self.live.mark()
            if not self.live.running:
                self.live.render_now()

    def _send_json(self, message: TableReset | TableDelta) -> None:
        encoded = json.dumps(message, separators=(",", ":"), ensure_ascii=False)
        self.bytes_sent += len(encoded.encode("utf-8"))
        self.messages_sent += 1
        self.last_message = message
        self.send(message)

    def _render(self) -> None:
        if not self._ready:
            self._dirty.clear()
            return
        participants = self.state.participants
        full, dirty = self._full or self._need_reset, self._dirty
        self._full, self._dirty = False, set()
        if full or self._columns_dirty:
            self._columns_dirty = False
            columns = self.state.attribute_keys()
        else:
            columns = self._sent_columns
        if self._need_reset:
            self._need_reset = False
            self._sent = dict(participants)
            self._set_columns(columns)
            rows = {identity: row_fields(p) for identity, p in participants.items()}
            self._send_json({"t": "reset", "cols": columns, "rows": rows})
            return
        upserts: dict[str, TableRow] = {}
        removed: list[str] = []
        candidates = participants.keys() | self._sent.keys() if full else dirty
        for identity in candidates:
            p = participants.get(identity)
            prev = self._sent.get(identity)
            if p is None:
                if prev is not None:
                    removed.append(identity)
                    del self._sent[identity]
                continue
            if prev is None:
                upserts[identity] = row_fields(p)
            elif prev is not p:
                delta = _row_delta(prev, p)
                if delta is not None:
                    upserts[identity] = delta
            self._sent[identity] = p
        message: TableDelta = {"t": "delta"}
        if upserts:
            message["up"] = upserts
        if removed:
            message["rm"] = sorted(removed)
        if columns != self._sent_columns:
            message["cols"] = columns
            self._set_columns(columns)
        if len(message) > 1:
            self._send_json(message)

    def _set_columns(self, columns: list[str]) -> None:
        self._sent_columns = columns
        self._column_set = frozenset(columns)

    def show_error(self, exc: BaseException, *, where: str = "") -> None:
        self.error = f"{where}: {describe_error(exc)}" if where else describe_error(exc)

    # -- public ---------------------------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, float]:
        """Renders done, messages and bytes sent to the browser, seconds spent rendering."""
        return {
            "renders": self.live.renders,
            "messages": self.messages_sent,
            "bytes": self.bytes_sent,
            "render_seconds": self.live.render_seconds,
        }

    def render_now(self) -> None:
        """Push pending changes at once (the render task does this on its own)."""
        self.live.render_now()

    def close(self) -> None:
        self.live.close()
        super().close()
