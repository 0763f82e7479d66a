"""Composer: build a data message (payload, topic, reliable or lossy, destinations), see its size against LiveKit's
limits, send it (once, or N at a rate), and copy the same call for Python, JavaScript and the `lk` CLI. Below it,
`streams` (a StreamComposer) sends text streams, files as byte streams and RPC calls."""

from __future__ import annotations

import asyncio
import html
import time
import warnings
from typing import Any

import ipywidgets as w

from .. import limits
from ..errors import InvalidInputError
from ..events import ConnectionChanged, Event, Message, ParticipantJoined, ParticipantLeft, Snapshot
from ..session import Session
from ._live import ErrorLine, Live
from ._message_code import MODES, code_snippets, parse_payload, publish_meter_html
from ._stream_code import code_html
from ._text import TextFallback, session_line
from .streams_rpc import StreamComposer

__all__ = ["MODES", "Composer", "code_snippets", "parse_payload"]

RELIABLE_PROMISE = (
    "reliable: ordered, and retransmitted until it arrives or the connection dies (SCTP with no retransmit limit; "
    'LiveKit\'s docs say "up to three retransmissions", its code sets no limit). A receiver still joining gets it '
    "replayed."
)
LOSSY_PROMISE = (
    "lossy: sent once, unordered, never retransmitted (maxRetransmits 0); dropped for receivers not yet active, and a "
    "message over ~1300 B spans several datagrams and is lost if any one of them is."
)


def _burst_field(kind: Any, value: float, bounds: tuple[float, float], label: str, widths: tuple[str, str]) -> Any:
    """A number field of the burst row: fixed width (`widths`: the field's and its label's), bounded."""
    return kind(
        value=value,
        min=bounds[0],
        max=bounds[1],
        description=label,
        layout={"width": widths[0], "flex": "0 0 auto"},
        style={"description_width": widths[1]},
    )


class Composer(TextFallback, w.VBox):  # type: ignore[misc]
    """Compose and send data messages; see the size against LiveKit's limits and the same call as code.

    Example::

        composer = Composer(session)
        composer.payload.value = "hello"; composer.topic.value = "chat"; composer.send()
        composer.last_sent          # the Message that went out
    """

    def text_fallback(self) -> str:
        return f"Composer (send data, text, bytes, RPC), {session_line(self.session)}"

    def __init__(self, session: Session, *, hz: float = 4.0) -> None:
        self.session = session
        self.mode = w.ToggleButtons(options=list(MODES), value="text", style={"button_width": "72px"})
        self.payload = w.Textarea(placeholder="payload", layout={"width": "100%", "height": "70px"})
        self.topic = w.Combobox(placeholder="topic (optional)", options=[], ensure_option=False, description="topic")
        self.reliable = w.ToggleButtons(options=["reliable", "lossy"], value="reliable", style={"button_width": "80px"})
        self.promise = w.HTML(value="")
        self.destinations = w.SelectMultiple(options=[], rows=4, description="to", layout={"width": "320px"})
        self.destinations_note = w.HTML(value="")
        self.meter = w.HTML(value="")
        self.send_button = w.Button(
            description="Send", button_style="primary", icon="paper-plane", layout={"width": "90px"}
        )
        self.send_button.add_class("lk-send")
        self.burst_count = _burst_field(w.BoundedIntText, 10, (1, 100_000), "N", ("130px", "20px"))
        self.burst_rate = _burst_field(w.BoundedFloatText, 10.0, (0.1, 10_000.0), "per s", ("140px", "40px"))
        self.burst_button = w.Button(
            description="Send N at rate", icon="forward", layout={"width": "150px", "flex": "0 0 auto"}
        )
        self.burst_button.add_class("lk-send-burst")
        self.stop_button = w.Button(description="stop", disabled=True, layout={"width": "60px", "flex": "0 0 auto"})
        self.sent_line = w.HTML(value="")
        self.error = ErrorLine()
        self.code = w.HTML(value="")
        self.streams = StreamComposer(session, hz=hz)
        super().__init__(
            children=[
                w.HTML("<b>send a data message</b>"),
                self.mode,
                self.payload,
                self.topic,
                w.HBox([self.reliable, self.promise]),
                w.HBox([self.destinations, self.destinations_note]),
                self.meter,
                self.send_button,
                w.HBox([self.burst_count, self.burst_rate, self.burst_button, self.stop_button]),
                self.sent_line,
                self.error,
                w.Accordion(children=[self.code], titles=("the same call as code",)),
                self.streams,
            ]
        )
        self.add_class("lk-composer")
        self.last_sent: Message | None = None
        self.sent_count = 0
        self._burst: asyncio.Task[None] | None = None
        self._topics: set[str] = {m.topic for m in session.inbox if m.topic}
        self.live = Live(
            f"composer {session.identity}",
            self._render,
            hz=hz,
            errors=self.error,
            is_finished=lambda: session.closed,
            finished_error=lambda: session.closed_error("send from this composer"),
        )
        self.live.on_close(session.state.subscribe(self._on_event))
        self.live.on_close(session.on_message(self._on_message, include_sent=True))
        for widget in (self.mode, self.payload, self.topic, self.reliable, self.destinations):
            widget.observe(self._on_input, names="value")
        self.send_button.on_click(lambda _b: self.send())
        self.burst_button.on_click(lambda _b: self.send_burst())
        self.stop_button.on_click(lambda _b: self.stop_burst())
        self._on_input()
        self.live.start()

    # -- live inputs ----------------------------------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        # Only membership feeds this view (destinations); attribute storms must not make it re-render.
        if isinstance(event, ParticipantJoined | ParticipantLeft | Snapshot | ConnectionChanged):
            self.live.mark()

    def _on_message(self, msg: Message) -> None:
        if msg.topic and msg.topic not in self._topics and len(self._topics) < 500:
            self._topics.add(msg.topic)
            self.live.mark()

    def _render(self) -> None:
        remote = sorted(p.identity for p in self.session.state if not p.is_local)
        if list(self.destinations.options) != remote:
            keep = tuple(d for d in self.destinations.value if d in remote)
            self.destinations.options = remote
            self.destinations.value = keep
        topics = sorted(self._topics)
        if list(self.topic.options) != topics:
            self.topic.options = topics
        self._on_input()

    def _on_input(self, _change: object = None) -> None:
        reliable = self.reliable.value == "reliable"
        self.promise.value = (
            f'<span style="font-size:12px;color:#444">{html.escape(RELIABLE_PROMISE if reliable else LOSSY_PROMISE)}'
            "</span>"
        )
        dests = tuple(self.destinations.value)
        self.destinations_note.value = (
            '<span style="color:#666">none selected: the whole room</span>'
            if not dests
            else f'<span style="color:#666">only {len(dests)} selected</span>'
        )
        try:
            data = parse_payload(self.mode.value, self.payload.value)
        except InvalidInputError as exc:
            self.meter.value = f'<span style="color:#b00020">{html.escape(str(exc))}</span>'
            self.code.value = ""
            return
        # The check `Session.publish` makes, so the meter and a send agree on what is over which limit.
        check = limits.check_publish(
            data, reliable=reliable, topic=self.topic.value, destinations=dests, identity=self.session.identity
        )
        self.meter.value = publish_meter_html(check)
        snippets = code_snippets(
            data,
            mode=self.mode.value,
            text=self.payload.value,
            reliable=reliable,
            topic=self.topic.value,
            destinations=dests,
            room=self.session.room_name,
            identity=self.session.identity,
        )
        self.code.value = code_html(snippets)

    # -- sending --------------------------------------------------------------------------------------------------
    def _message_args(self) -> tuple[bytes, bool, str | None, tuple[str, ...]]:
        data = parse_payload(self.mode.value, self.payload.value)
        return data, self.reliable.value == "reliable", self.topic.value or None, tuple(self.destinations.value)

    async def _publish(
        self, data: bytes, reliable: bool, topic: str | None, dests: tuple[str, ...]
    ) -> tuple[Message, list[str]]:
        """Publish once; the message and the warnings it raised (shown in the sent line, not the log)."""
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            msg = await self.session.publish(data, reliable=reliable, topic=topic, destinations=dests or None)
        self.last_sent = msg
        self.sent_count += 1
        return msg, [str(c.message) for c in caught]

    def _show_sent(self, msg: Message, notes: list[str], *, count: int = 1) -> None:
        to = ", ".join(msg.destinations) if msg.destinations else "the whole room"
        stamp = time.strftime("%H:%M:%S", time.localtime(msg.received_at))
        what = f"{count} × " if count > 1 else ""
        line = (
            f"sent {what}{msg.size:,} B {msg.kind.value}"
            f"{' on topic ' + repr(msg.topic) if msg.topic else ' (no topic)'} to {to} at {stamp}"
        )
        extra = "".join(f'<div style="color:#b26a00">⚠ {html.escape(n)}</div>' for n in notes)
        self.sent_line.value = f'<div class="lk-sent-line" style="color:#2e7d32">✓ {html.escape(line)}</div>{extra}'

    def send(self) -> asyncio.Task[None] | None:
        """Send the message once (an owned task); what was sent, or why not, shows below the button."""
        try:
            args = self._message_args()
        except InvalidInputError as exc:
            self.error.show_error(exc, where="send")
            return None

        async def go() -> Message:
            msg, notes = await self._publish(*args)
            self._show_sent(msg, notes)
            return msg

        self.error.clear()
        return self.live.run("send", go)

    def send_burst(self, count: int | None = None, rate: float | None = None) -> asyncio.Task[None] | None:
        """Send `count` copies at `rate` per second (defaults: the N and rate fields). `stop_burst()` ends it."""
        n = int(count if count is not None else self.burst_count.value)
        r = float(rate if rate is not None else self.burst_rate.value)
        if n < 1 or r <= 0:
            self.error.show_error(InvalidInputError("N must be >= 1 and the rate > 0"), where="burst")
            return None
        if self._burst is not None and not self._burst.done():
            self.error.show_error(InvalidInputError("a burst is already running; stop it first"), where="burst")
            return None
        try:
            args = self._message_args()
        except InvalidInputError as exc:
            self.error.show_error(exc, where="burst")
            return None

        async def burst() -> None:
            period = 1.0 / r
            start = time.monotonic()
            sent = 0
            notes: set[str] = set()
            try:
                for i in range(n):
                    delay = start + i * period - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    msg, caught = await self._publish(*args)
                    notes.update(caught)
                    sent += 1
                    if sent % 25 == 0 or sent == n:
                        self._show_sent(msg, sorted(notes), count=sent)
            finally:
                self.stop_button.disabled = True
                self.burst_button.disabled = False
                elapsed = time.monotonic() - start
                self.error.show_note(
                    f"burst: {sent} of {n} sent in {elapsed:.2f} s ({sent / max(elapsed, 1e-9):.1f}/s)"
                )

        self.stop_button.disabled = False
        self.burst_button.disabled = True
        self.error.clear()
        self._burst = self.live.run("burst", burst)
        return self._burst

    def stop_burst(self) -> None:
        if self._burst is not None and not self._burst.done():
            self._burst.cancel()

    def describe_last(self) -> str:
        """The sent line as plain text."""
        m = self.last_sent
        return "" if m is None else f"{m.size} B {m.kind.value} topic={m.topic!r} to={list(m.destinations)}"

    def close(self) -> None:
        self.live.close()
        self.streams.close()
        super().close()
