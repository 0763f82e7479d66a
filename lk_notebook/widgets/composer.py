"""Composer: build a data message (payload, topic, reliable or lossy, destinations), see its size against LiveKit's
limits, send it (once, or N at a rate), and copy the same call for Python, JavaScript and the `lk` CLI. Below it,
`streams` (a StreamComposer) sends text streams, files as byte streams and RPC calls."""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import json
import time
import warnings
from collections.abc import Sequence

import ipywidgets as w

from .. import limits
from ..errors import InvalidInputError
from ..events import ConnectionChanged, Event, Message, ParticipantJoined, ParticipantLeft, Snapshot
from ..session import Session
from ._live import ErrorLine, Live
from ._text import TextFallback, session_line
from .streams_rpc import StreamComposer

__all__ = ["MODES", "Composer", "code_snippets", "parse_payload"]

MODES = ("text", "JSON", "hex", "base64")

RELIABLE_PROMISE = (
    "reliable: ordered, and retransmitted until it arrives or the connection dies (SCTP with no retransmit limit; "
    'LiveKit\'s docs say "up to three retransmissions", its code sets no limit). A receiver still joining gets it '
    "replayed."
)
LOSSY_PROMISE = (
    "lossy: sent once, unordered, never retransmitted (maxRetransmits 0); dropped for receivers not yet active, and a "
    "message over ~1300 B spans several datagrams and is lost if any one of them is."
)


def parse_payload(mode: str, text: str) -> bytes:
    """The bytes a Composer input means: text as UTF-8, JSON validated (sent as typed), hex or base64 decoded."""
    if mode == "text":
        return text.encode("utf-8")
    if mode == "JSON":
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"payload is not valid JSON: {exc}") from exc
        return text.encode("utf-8")
    if mode == "hex":
        cleaned = "".join(text.split()).removeprefix("0x")
        try:
            return bytes.fromhex(cleaned)
        except ValueError as exc:
            raise InvalidInputError(f"payload is not valid hex ({exc}); e.g. 'de ad be ef'") from exc
    if mode == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError(f"payload is not valid base64: {exc}") from exc
    raise InvalidInputError(f"unknown payload mode {mode!r}; one of {', '.join(MODES)}")


def _py_bytes(data: bytes, mode: str, text: str) -> str:
    if mode in ("text", "JSON"):
        return f"{text!r}.encode()"
    return f"bytes.fromhex({data.hex()!r})"


def _js_bytes(data: bytes, mode: str, text: str) -> str:
    if mode in ("text", "JSON"):
        return f"new TextEncoder().encode({json.dumps(text, ensure_ascii=False)})"
    return f"Uint8Array.from(atob({json.dumps(base64.b64encode(data).decode())}), (c) => c.charCodeAt(0))"


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def code_snippets(
    data: bytes,
    *,
    mode: str,
    text: str,
    reliable: bool,
    topic: str,
    destinations: Sequence[str],
    room: str,
    identity: str,
) -> dict[str, str]:
    """The same send as code: lk_notebook, Python (rtc SDK), JavaScript (client SDK), the `lk` CLI (where one
    exists)."""
    py_args = [_py_bytes(data, mode, text), f"reliable={reliable}"]
    if topic:
        py_args.append(f"topic={topic!r}")
    if destinations:
        py_args.append(f"destination_identities={list(destinations)!r}")
    python = f"await room.local_participant.publish_data(\n    {', '.join(py_args)},\n)"
    nb_args = [repr(text) if mode in ("text", "JSON") else f"bytes.fromhex({data.hex()!r})"]
    if not reliable:
        nb_args.append("reliable=False")
    if topic:
        nb_args.append(f"topic={topic!r}")
    if destinations:
        nb_args.append(f"destinations={list(destinations)!r}")
    notebook = f"await session.publish({', '.join(nb_args)})"
    js_opts = [f"reliable: {'true' if reliable else 'false'}"]
    if topic:
        js_opts.append(f"topic: {json.dumps(topic, ensure_ascii=False)}")
    if destinations:
        js_opts.append(f"destinationIdentities: {json.dumps(list(destinations), ensure_ascii=False)}")
    javascript = (
        f"await room.localParticipant.publishData(\n  {_js_bytes(data, mode, text)},\n  {{ {', '.join(js_opts)} }},\n);"
    )
    if mode not in ("text", "JSON"):
        cli = "# the lk CLI sends text only: no equivalent for a binary payload"
    else:
        lines = []
        if reliable:
            # `lk room send-data` sends through the server API: receivers see the sender as the server, not you.
            flags = f"--room {_sh(room)}"
            if topic:
                flags += f" --topic {_sh(topic)}"
            for d in destinations:
                flags += f" --identity {_sh(d)}"
            lines.append(
                f"# from the server (receivers see no participant as sender):\nlk room send-data {flags} {_sh(text)}"
            )
            if not topic and not destinations:
                lines.append(
                    f"# as a participant (joins, publishes once, reliable):\n"
                    f"lk room join --identity {_sh(identity + '-cli')} --publish-data {_sh(text)} {_sh(room)}"
                )
        else:
            lines.append("# the lk CLI has no lossy send")
        cli = "\n".join(lines)
    return {"lk_notebook": notebook, "Python": python, "JavaScript": javascript, "lk CLI": cli}


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
        self.burst_count = w.BoundedIntText(
            value=10,
            min=1,
            max=100_000,
            description="N",
            layout={"width": "130px", "flex": "0 0 auto"},
            style={"description_width": "20px"},
        )
        self.burst_rate = w.BoundedFloatText(
            value=10.0,
            min=0.1,
            max=10_000.0,
            description="per s",
            layout={"width": "140px", "flex": "0 0 auto"},
            style={"description_width": "40px"},
        )
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
        packet = limits.packet_size(data, topic=self.topic.value, destinations=dests, identity=self.session.identity)
        advised = limits.RELIABLE_ADVISED_BYTES if reliable else limits.LOSSY_ADVISED_BYTES
        from .editor import meter_html

        self.meter.value = meter_html(
            len(data),
            limit=limits.SDK_MAX_PACKET_BYTES,
            marks=((advised, f"over LiveKit's advice of {advised:,} B for {self.reliable.value}"),),
            label="payload: ",
        ) + (
            f'<span style="font-size:11px;color:#666">encoded packet ≤ {packet:,} B (the SDK refuses over '
            f"{limits.SDK_MAX_PACKET_BYTES:,}); advice: lossy ≤ {limits.LOSSY_ADVISED_BYTES:,} B, reliable ≤ "
            f"{limits.RELIABLE_ADVISED_BYTES:,} B</span>"
        )
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
        self.code.value = "".join(
            f'<div class="lk-code" data-lang="{html.escape(lang)}"><b>{html.escape(lang)}</b>'
            f'<pre style="user-select:all;background:#f6f8fa;padding:4px;margin:2px 0 8px 0">'
            f"{html.escape(code)}</pre></div>"
            for lang, code in snippets.items()
        )

    # -- sending --------------------------------------------------------------------------------------------------
    def _message_args(self) -> tuple[bytes, bool, str | None, tuple[str, ...]]:
        data = parse_payload(self.mode.value, self.payload.value)
        return data, self.reliable.value == "reliable", self.topic.value or None, tuple(self.destinations.value)

    async def _publish(self, data: bytes, reliable: bool, topic: str | None, dests: tuple[str, ...]) -> Message:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            msg = await self.session.publish(data, reliable=reliable, topic=topic, destinations=dests or None)
        self.last_sent = msg
        self.sent_count += 1
        notes = [str(c.message) for c in caught]
        self._show_sent(msg, notes)
        return msg

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
            return await self._publish(*args)

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
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        msg = await self.session.publish(
                            args[0], reliable=args[1], topic=args[2], destinations=args[3] or None
                        )
                    notes.update(str(c.message) for c in caught)
                    sent += 1
                    self.sent_count += 1
                    self.last_sent = msg
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
