"""ParticipantsTable: every participant's identity, kind (agent state), name, join time, metadata and attributes, live.

An anywidget with a static ES module (`static/table.js`, no build step). The kernel (`TableFeed`) keeps what it last
sent and, at a fixed rate, sends only the difference (rows added or removed, changed cells) as one custom message
per render; the first load goes in pages. The front end keeps every row in a plain JS model, puts only the visible
ones in the DOM, highlights the changed cells, and sorts and filters on its own. Nothing about the rows is a synced
trait, so saved widget state stays small and a busy room costs bytes proportional to what changed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeGuard

import anywidget
import traitlets

from ..events import ConnectionChanged, ConnectionStatus, Event
from ..session import Session
from ..state import RoomState
from ._live import Live, describe_error
from ._static import STATIC, es_module
from ._text import TextFallback, participants_text
from .protocol import TABLE_WIRE, TableDelta, TableHello, TableReset
from .table_feed import PAGE_ROWS, TableFeed, _row_delta, row_fields  # noqa: F401 - _row_delta: old import path

__all__ = ["ParticipantsTable", "row_fields"]


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

    def __init__(
        self, source: Session | RoomState, *, hz: float = 6.0, page_rows: int = PAGE_ROWS, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.session = source if isinstance(source, Session) else None
        self.state: RoomState = source.state if isinstance(source, Session) else source
        self.room = self.state.room
        self.feed = TableFeed(self.state, page_rows=page_rows)
        self._need_reset = False
        self._ready = False
        """True once a browser view has said hello: nothing is sent before (nobody would receive it)."""
        self.bytes_sent = 0
        self.messages_sent = 0
        self.last_bytes = 0
        """Size of the last message sent (its JSON), e.g. the first page of a reset."""
        self.last_message: TableReset | TableDelta | None = None
        self.live = Live(f"table {self.state.room}", self._render, hz=hz, errors=self, is_finished=self._finished)
        self.live.on_close(self.state.subscribe(self._on_event))
        self.on_msg(self._on_front_end)
        self._update_status()
        self.live.start()

    # -- kernel side --------------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        self.feed.note(event)
        if isinstance(event, ConnectionChanged):
            self._update_status()
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
        self.last_bytes = len(encoded.encode("utf-8"))
        self.bytes_sent += self.last_bytes
        self.messages_sent += 1
        self.last_message = message
        self.send(message)

    def _render(self) -> None:
        if not self._ready:
            self.feed.discard()
            return
        if self._need_reset:
            self._need_reset = False
            message: TableReset | TableDelta | None = self.feed.reset()
        else:
            message = self.feed.next()
        if message is not None:
            self._send_json(message)  # one message per render at most: Jupyter Server's output limit is per message
        if self.feed.loading:
            self.live.mark()  # the next page on the next tick

    def show_error(self, exc: BaseException, *, where: str = "") -> None:
        self.error = f"{where}: {describe_error(exc)}" if where else describe_error(exc)

    # -- public ---------------------------------------------------------------------------------------------------
    @property
    def stats(self) -> dict[str, float]:
        """Renders done, messages and bytes sent to the browser, seconds spent rendering."""
        return self.live.stats(messages=self.messages_sent, bytes_sent=self.bytes_sent)

    def render_now(self) -> None:
        """Push pending changes at once (the render task does this on its own)."""
        self.live.render_now()

    def close(self) -> None:
        self.live.close()
        super().close()
