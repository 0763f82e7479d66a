"""MessageLog: data messages as they arrive (and, optionally, those sent), with a topic filter, pause and clear;
below them, text and byte streams with their progress, and RPC calls with their answers and latency."""

from __future__ import annotations

import html
import json
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol

import ipywidgets as w

from ..errors import SessionClosedError
from ..events import Message, RpcRecord, StreamRecord
from ._live import ErrorLine, Live
from ._stream_code import CLIP_STYLE, rpc_rows_html, stream_rows_html
from ._text import SessionLike, TextFallback, session_line

__all__ = ["MessageLog", "MessageSource", "preview"]


class MessageSource(SessionLike, Protocol):
    """What MessageLog reads: a live Session, or a recording's ReplaySource (`lk_notebook.Replay`)."""

    @property
    def closed(self) -> bool: ...
    @property
    def inbox(self) -> tuple[Message, ...]: ...
    @property
    def streams(self) -> tuple[StreamRecord, ...]: ...
    @property
    def rpc_calls(self) -> tuple[RpcRecord, ...]: ...
    def on_message(
        self, callback: Callable[[Message], None], *, topic: str | None = None, include_sent: bool = False
    ) -> Callable[[], None]: ...
    def on_stream(self, callback: Callable[[StreamRecord], None]) -> Callable[[], None]: ...
    def on_rpc(self, callback: Callable[[RpcRecord], None]) -> Callable[[], None]: ...
    def closed_error(self, action: str) -> SessionClosedError: ...


ALL_TOPICS = "(all topics)"


def preview(payload: bytes, *, limit: int = 120) -> tuple[str, str]:
    """(kind, short text): "JSON" compact, "text" as is, or "hex" for bytes that are not UTF-8."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        shown = payload[: limit // 3].hex(" ")
        return "hex", shown + (" …" if len(payload) > limit // 3 else "")
    kind = "text"
    stripped = text.strip()
    if stripped[:1] in ("{", "["):
        try:
            text = json.dumps(json.loads(stripped), separators=(",", ":"), ensure_ascii=False)
            kind = "JSON"
        except ValueError:
            pass
    return kind, text[:limit] + ("…" if len(text) > limit else "")


def clock(at: float) -> str:
    """HH:MM:SS.mmm in local time."""
    return time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"


UNKNOWN_SENDER = "unknown"
"""What the views show for a packet that came without a sender (`Message.sender` None)."""
UNKNOWN_SENDER_TIP = (
    "This packet came without a sender. It is one of: a participant this session has not been told of yet (the "
    "server announces one without media tracks on its ~3 s tick), the server API's SendData, or a hidden "
    "participant. Nothing in the packet tells them apart."
)


def sender_cell(m: Message) -> str:
    """The sender column's HTML: the identity, or "unknown" with the possible sources as its tooltip."""
    if m.sent:
        return html.escape(f"→ {', '.join(m.destinations) or 'room'}")
    if m.sender is not None:
        return html.escape(m.sender)
    tip = UNKNOWN_SENDER_TIP
    if m.sender_candidates is not None:
        listed = ", ".join(m.sender_candidates) or "nobody (so the server API or a hidden participant)"
        tip += f" The server listed, not yet known here: {listed}."
    return f'<span title="{html.escape(tip)}" style="color:#888;font-style:italic">{UNKNOWN_SENDER}</span>'


def _row(m: Message) -> str:
    kind, text = preview(m.payload)
    side = "lk-sent" if m.sent else "lk-received"
    return (
        f'<tr class="{side}"><td>{clock(m.received_at)}</td><td>{sender_cell(m)}</td>'
        f"<td>{html.escape(m.topic)}</td><td>{m.kind.value}</td><td style='text-align:right'>{m.size:,}</td>"
        f"<td><span style='{CLIP_STYLE}'><span style='color:#888'>{kind}</span> <code>{html.escape(text)}</code></span>"
        "</td></tr>"
    )


class MessageLog(TextFallback, w.VBox):  # type: ignore[misc]
    """Received (and optionally sent) messages: time, sender, topic, kind, size and a preview.

    Memory is bounded (`limit` messages kept; older ones dropped). Paused, new messages are counted, not kept.

    Example::

        log = MessageLog(session, include_sent=True)
        log.messages          # what it holds, oldest first
    """

    def text_fallback(self) -> str:
        recent = [m for m in self.session.inbox if not m.sent][-5:]
        lines = [f"  {m.sender or UNKNOWN_SENDER} → {m.topic or '(no topic)'} {m.kind.value} {m.size} B: "
                 f"{(m.text or '<binary>')[:60]}" for m in recent]  # fmt: skip
        head = f"MessageLog, {session_line(self.session)}; {self.received} message(s) received"
        return "\n".join([head, *lines])

    def __init__(
        self,
        session: MessageSource,
        *,
        include_sent: bool = False,
        limit: int = 1_000,
        show: int = 100,
        hz: float = 4.0,
    ) -> None:
        self.session = session
        self.topic_filter = w.Dropdown(options=[ALL_TOPICS], value=ALL_TOPICS, description="topic")
        self.show_sent = w.Checkbox(value=include_sent, description="show sent", indent=False)
        self.pause = w.ToggleButton(value=False, description="pause", icon="pause")
        self.clear_button = w.Button(description="clear", icon="trash")
        self.summary = w.HTML(value="")
        self.table = w.HTML(value="")
        self.streams_table = w.HTML(value="")
        self.rpc_table = w.HTML(value="")
        self.error = ErrorLine()
        super().__init__(
            children=[
                w.HTML("<b>messages</b>"),
                w.HBox([self.topic_filter, self.show_sent, self.pause, self.clear_button]),
                self.summary,
                self.error,
                self.table,
                w.HTML("<b>streams</b>"),
                self.streams_table,
                w.HTML("<b>RPC calls</b>"),
                self.rpc_table,
            ]
        )
        self.add_class("lk-message-log")
        self.limit = limit
        self.show_rows = show
        self._messages: deque[Message] = deque(maxlen=limit)
        # Each kept message's table row, built once: messages never change, and rebuilding ~100 rows (escaping,
        # JSON previews, clock strings) at every render took ~16 ms of the loop at 500 messages/s.
        self._rows: deque[str] = deque(maxlen=limit)
        self._topics: list[str] = []
        self.received = 0
        self.missed_while_paused = 0
        for m in session.inbox:
            self._add(m)
        self.live = Live(
            f"message log {session.identity}",
            self._render,
            hz=hz,
            errors=self.error,
            is_finished=lambda: session.closed,
            finished_error=lambda: session.closed_error("receive into this view"),
        )
        self.live.on_close(session.on_message(self._on_message, include_sent=True))
        # Streams and RPC records live on the session's router (bounded there); this view only re-renders.
        self.live.on_close(session.on_stream(self.live.mark))
        self.live.on_close(session.on_rpc(self.live.mark))
        for widget in (self.topic_filter, self.show_sent):
            widget.observe(lambda _c: self.live.mark(), names="value")
        self.pause.observe(lambda _c: self.live.mark(), names="value")
        self.clear_button.on_click(lambda _b: self.clear())
        self.live.start()

    def _add(self, msg: Message) -> None:
        self._messages.append(msg)
        self._rows.append(_row(msg))
        if msg.topic and msg.topic not in self._topics and len(self._topics) < 200:
            self._topics.append(msg.topic)

    def _on_message(self, msg: Message) -> None:
        self.received += 1
        if self.pause.value:
            self.missed_while_paused += 1
        else:
            self._add(msg)
        self.live.mark()

    @property
    def messages(self) -> tuple[Message, ...]:
        return tuple(self._messages)

    def visible(self) -> list[Message]:
        """The messages the filters let through, oldest first."""
        topic = self.topic_filter.value
        sent = self.show_sent.value
        return [m for m in self._messages if (sent or not m.sent) and (topic == ALL_TOPICS or m.topic == topic)]

    def clear(self) -> None:
        self._messages.clear()
        self._rows.clear()
        self.missed_while_paused = 0
        self.live.mark()

    def _render(self) -> None:
        options = [ALL_TOPICS, *sorted(self._topics)]
        if list(self.topic_filter.options) != options:
            keep = self.topic_filter.value
            self.topic_filter.options = options
            self.topic_filter.value = keep if keep in options else ALL_TOPICS
        topic, sent = self.topic_filter.value, self.show_sent.value
        rows: list[str] = []
        shown = 0
        for m, row in zip(reversed(self._messages), reversed(self._rows), strict=True):  # newest first
            if (sent or not m.sent) and (topic == ALL_TOPICS or m.topic == topic):
                shown += 1
                if len(rows) < self.show_rows:
                    rows.append(row)
        head = "<tr><th>time</th><th>from</th><th>topic</th><th>kind</th><th>bytes</th><th>preview</th></tr>"
        self.table.value = (
            '<div style="max-height:260px;overflow:auto">'
            '<table class="lk-messages" style="font-size:12px;white-space:nowrap">'
            f"<thead>{head}</thead><tbody>{''.join(rows)}</tbody></table></div>"
        )
        streams = [r for r in self.session.streams if sent or not r.sent][-self.show_rows :][::-1]
        self.streams_table.value = f'<div style="max-height:200px;overflow:auto">{stream_rows_html(streams)}</div>'
        calls = [r for r in self.session.rpc_calls if sent or not r.outgoing][-self.show_rows :][::-1]
        self.rpc_table.value = f'<div style="max-height:200px;overflow:auto">{rpc_rows_html(calls)}</div>'
        paused = f" · paused ({self.missed_while_paused} not kept)" if self.pause.value else ""
        self.summary.value = (
            f'<span style="color:#666">{shown} shown of {len(self._messages)} kept (max {self.limit}); '
            f"{self.received} received since opened{paused}</span>"
        )

    def close(self) -> None:
        self.live.close()
        super().close()
