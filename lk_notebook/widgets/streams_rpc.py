"""Stream and RPC views: send a text stream, a file as a byte stream, or an RPC call (the Composer shows these), and
register RPC methods the notebook answers (the Dashboard shows that).

Example::

    sc = StreamComposer(session)
    sc.text.value = "hello"; sc.send_text()
    sc.rpc_destination.value = "bob"; sc.rpc_method.value = "echo"; sc.call_rpc()   # response and latency shown
    RpcMethods(session).register("echo")                                            # answered by echo
"""

from __future__ import annotations

import asyncio
import html
import sys
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..errors import InvalidInputError
from ..events import RpcRecord, StreamRecord
from ..session import Session
from ._live import ErrorLine, Live
from ._stream_code import code_html, rpc_snippets, stream_snippets

__all__ = ["RpcMethods", "StreamComposer"]

AGENT_TOPICS = ["lk.chat", "lk.transcription"]


def _button(label: str, css: str, icon: str) -> w.Button:
    b = w.Button(description=label, button_style="primary", icon=icon, layout={"width": "150px"})
    b.add_class(css)
    return b


class StreamComposer(w.VBox):  # type: ignore[misc]
    """Three tabs: a text stream (sent at once, or word by word at a pace to watch it arrive), a file as a byte
    stream (`FileUpload`), an RPC call (response and round-trip time shown). Each with its code."""

    def __init__(self, session: Session, *, hz: float = 4.0) -> None:
        self.session = session
        self.error = ErrorLine()
        # text stream
        self.text = w.Textarea(placeholder="text to stream", layout={"width": "100%", "height": "60px"})
        self.text_topic = w.Combobox(value="lk.chat", options=AGENT_TOPICS, ensure_option=False, description="topic")
        self.word_delay = w.BoundedFloatText(
            value=0.0, min=0.0, max=5.0, step=0.05, description="s / word", style={"description_width": "60px"}
        )
        self.text_button = _button("Send text stream", "lk-send-text", "paper-plane")
        self.text.add_class("lk-stream-text")
        self.text_code = w.HTML()
        # byte stream
        self.upload = w.FileUpload(multiple=False, description="file")
        self.bytes_topic = w.Text(value="files", description="topic")
        self.bytes_button = _button("Send file", "lk-send-bytes", "upload")
        self.bytes_code = w.HTML()
        # RPC
        self.rpc_destination = w.Dropdown(options=[], description="to")
        self.rpc_method = w.Text(value="echo", description="method")
        self.rpc_payload = w.Textarea(value="hello", placeholder="payload (str)", layout={"width": "100%"})
        self.rpc_timeout = w.BoundedFloatText(value=10.0, min=0.1, max=600.0, description="timeout s")
        self.rpc_button = _button("Call", "lk-rpc-call", "phone")
        self.rpc_method.add_class("lk-rpc-method")
        self.rpc_payload.add_class("lk-rpc-payload")
        self.rpc_result = w.HTML()
        self.rpc_result.add_class("lk-rpc-result")
        self.rpc_code = w.HTML()
        self.sent_line = w.HTML()
        tabs = w.Tab(
            children=[
                w.VBox([self.text, w.HBox([self.text_topic, self.word_delay]), self.text_button, self.text_code]),
                w.VBox([w.HBox([self.upload, self.bytes_topic]), self.bytes_button, self.bytes_code]),
                w.VBox(
                    [
                        w.HBox([self.rpc_destination, self.rpc_method]),
                        self.rpc_payload,
                        w.HBox([self.rpc_timeout, self.rpc_button]),
                        self.rpc_result,
                        self.rpc_code,
                    ]
                ),
            ],
            titles=("text stream", "byte stream / file", "RPC call"),
        )
        super().__init__(children=[w.HTML("<b>send a stream or an RPC call</b>"), tabs, self.sent_line, self.error])
        self.add_class("lk-stream-composer")
        self.last_rpc: RpcRecord | None = None
        self.last_stream: StreamRecord | None = None
        self.live = Live(
            f"stream composer {session.identity}",
            self._render,
            hz=hz,
            errors=self.error,
            is_finished=lambda: session.closed,
        )
        self.live.on_close(session.state.subscribe(self.live.mark))
        for widget in (self.text, self.text_topic, self.upload, self.bytes_topic):
            widget.observe(self._code, names="value")
        for widget in (self.rpc_destination, self.rpc_method, self.rpc_payload, self.rpc_timeout):
            widget.observe(self._code, names="value")
        self.text_button.on_click(lambda _b: self.send_text())
        self.bytes_button.on_click(lambda _b: self.send_file())
        self.rpc_button.on_click(lambda _b: self.call_rpc())
        self._code()
        self.live.start()

    def _render(self) -> None:
        remote = sorted(p.identity for p in self.session.state if not p.is_local)
        if list(self.rpc_destination.options) != remote:
            keep = self.rpc_destination.value
            self.rpc_destination.options = remote
            self.rpc_destination.value = keep if keep in remote else (remote[0] if remote else None)

    def _file(self) -> tuple[str, bytes] | None:
        files = self.upload.value
        if not files:
            return None
        f = files[0]
        return str(f["name"]), bytes(f["content"])

    def _code(self, _change: object = None) -> None:
        self.text_code.value = code_html(
            stream_snippets(text=self.text.value, name="", topic=self.text_topic.value, destinations=(), size=0)
        )
        picked = self._file()
        name, data = picked if picked is not None else ("file.bin", b"")
        self.bytes_code.value = code_html(
            stream_snippets(text=None, name=name, topic=self.bytes_topic.value, destinations=(), size=len(data))
        )
        self.rpc_code.value = code_html(
            rpc_snippets(
                destination=self.rpc_destination.value or "",
                method=self.rpc_method.value,
                payload=self.rpc_payload.value,
                timeout=float(self.rpc_timeout.value),
            )
        )

    def _done(self, record: StreamRecord) -> None:
        self.last_stream = record
        kind = "text" if record.is_text else f"file {record.name!r}"
        self.sent_line.value = (
            f'<div class="lk-stream-sent-line" style="color:#2e7d32">✓ sent {kind} stream, {record.received:,} B on '
            f"{html.escape(repr(record.topic))}</div>"
        )

    def send_text(self) -> asyncio.Task[None] | None:
        """Send the text as one text stream, or word by word (`s / word` > 0) so the receiver sees it grow."""
        text, topic, delay = self.text.value, self.text_topic.value, float(self.word_delay.value)

        async def go() -> StreamRecord:
            if delay <= 0:
                return await self.session.send_text(text, topic=topic)
            async with await self.session.stream_text(topic=topic, total_size=len(text.encode())) as writer:
                words = text.split(" ")
                for i, word in enumerate(words):
                    await writer.write(word if i == len(words) - 1 else word + " ")
                    await asyncio.sleep(delay)
            return writer.record

        self.error.clear()
        return self.live.run("send text stream", go, on_ok=self._done)

    def send_file(self) -> asyncio.Task[None] | None:
        """Send the uploaded file as a byte stream."""
        picked = self._file()
        if picked is None:
            self.error.show_error(InvalidInputError("choose a file first"), where="send file")
            return None
        name, data = picked
        topic = self.bytes_topic.value

        async def go() -> StreamRecord:
            return await self.session.send_bytes(data, topic=topic, name=name)

        self.error.clear()
        return self.live.run("send file", go, on_ok=self._done)

    def call_rpc(self) -> asyncio.Task[None] | None:
        """Call the method; the response (or LiveKit's error code) and the round-trip time show below."""
        dest, method, payload = self.rpc_destination.value, self.rpc_method.value, self.rpc_payload.value
        timeout = float(self.rpc_timeout.value)
        if not dest:
            self.error.show_error(InvalidInputError("no one to call: nobody else is in the room"), where="RPC")
            return None

        async def go() -> RpcRecord:
            return await self.session.perform_rpc(dest, method, payload, timeout=timeout)

        def ok(record: RpcRecord) -> None:
            self.last_rpc = record
            self.rpc_result.value = (
                f'<div style="color:#2e7d32">✓ {html.escape(dest)} answered in <b>{(record.latency or 0) * 1000:.1f} ms'
                f"</b>: <code>{html.escape((record.response or '')[:200])}</code></div>"
            )

        self.error.clear()
        self.rpc_result.value = '<span style="color:#1976d2">calling…</span>'
        return self.live.run("RPC", go, on_ok=ok, errors=self.error)

    def close(self) -> None:
        self.live.close()
        super().close()


class RpcMethods(w.VBox):  # type: ignore[misc]
    """Register RPC methods this notebook answers: by echo, or by a function defined in the notebook."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.method = w.Text(placeholder="method name", description="method")
        self.answer = w.Dropdown(options=["echo", "a notebook function"], value="echo", description="answer by")
        self.function = w.Text(placeholder="function name, e.g. handle", description="function")
        self.register_button = w.Button(description="Register", icon="plus", layout={"width": "110px"})
        self.register_button.add_class("lk-rpc-register")
        self.listing = w.HTML()
        self.error = ErrorLine()
        super().__init__(
            children=[
                w.HTML("<b>RPC methods this notebook answers</b>"),
                w.HBox([self.method, self.answer]),
                self.function,
                self.register_button,
                self.listing,
                self.error,
            ]
        )
        self.add_class("lk-rpc-methods")
        self.register_button.on_click(lambda _b: self.register_from_form())
        self._render()

    def register(self, method: str, function: Callable[[Any], Any] | None = None) -> None:
        """Answer `method` with `function(invocation)`, or by echoing the payload when None."""
        handler: Callable[[Any], Any] = function if function is not None else (lambda call: call.payload)
        self.session.register_rpc_method(method, handler)
        self._render()

    def register_from_form(self) -> None:
        try:
            method = self.method.value.strip()
            function = None
            if self.answer.value != "echo":
                function = _notebook_function(self.function.value.strip())
            self.register(method, function)
            self.error.clear()
        except Exception as exc:
            self.error.show_error(exc, where="register RPC method")

    def _render(self) -> None:
        methods = sorted(self.session.router.rpc_methods)
        self.listing.value = (
            "registered: " + ", ".join(f"<code>{html.escape(m)}</code>" for m in methods) if methods else "none yet"
        )


def _notebook_function(name: str) -> Callable[[Any], Any]:
    """A callable defined in the notebook (the kernel's `__main__`), looked up when registering."""
    found = getattr(sys.modules.get("__main__"), name, None) if name.isidentifier() else None
    if not callable(found):
        raise InvalidInputError(
            f"no function {name!r} in the notebook: define `def {name or 'handle'}(call): return call.payload` first"
        )
    return found  # type: ignore[no-any-return]
