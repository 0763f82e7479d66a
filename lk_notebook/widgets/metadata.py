"""RoomMetadataView: the room's metadata, live, and an editor that sets it through the server API."""

from __future__ import annotations

import html
import json

import ipywidgets as w

from ..errors import InvalidInputError
from ..events import Event, RoomMetadataChanged
from ..session import Session
from ._live import ErrorLine, Live
from ._text import TextFallback, session_line

__all__ = ["RoomMetadataView", "pretty"]


def pretty(text: str) -> tuple[str, bool]:
    """(text pretty-printed if it is a JSON object or array, whether it was)."""
    try:
        value = json.loads(text)
    except (ValueError, TypeError):
        return text, False
    if isinstance(value, dict | list):
        return json.dumps(value, indent=2, ensure_ascii=False), True
    return text, False


class RoomMetadataView(TextFallback, w.VBox):  # type: ignore[misc]
    """The room metadata as it changes (pretty JSON when it is JSON). With API credentials, an editor sets it
    through the server API (participants cannot set room metadata themselves).

    Example::

        view = RoomMetadataView(session)
        view.editor.value = '{"topic": "intro"}'; view.apply()
    """

    def text_fallback(self) -> str:
        meta = self.session.state.room_metadata
        return f"RoomMetadataView, {session_line(self.session)}; room metadata {meta[:200]!r}"

    def __init__(self, session: Session, *, hz: float = 4.0) -> None:
        self.session = session
        self.display = w.HTML(value="")
        self.editor = w.Textarea(placeholder="new room metadata", layout={"width": "100%", "height": "80px"})
        self.json_mode = w.Checkbox(value=False, description="must be JSON", indent=False)
        self.load_button = w.Button(description="edit current", tooltip="copy the current metadata into the editor")
        self.apply_button = w.Button(
            description="Update room metadata", button_style="warning", layout={"width": "190px"}
        )
        self.error = ErrorLine()
        self.can_edit = session.credentials is not None
        editor_box = w.VBox(
            [self.editor, w.HBox([self.json_mode, self.load_button, self.apply_button]), self.error]
            if self.can_edit
            else [w.HTML('<span style="color:#666">read-only: editing needs an API key and secret</span>')]
        )
        super().__init__(children=[w.HTML("<b>room metadata</b>"), self.display, editor_box])
        self.add_class("lk-room-metadata")
        self.updates = 0
        self.live = Live(
            f"room metadata {session.room_name}",
            self._render,
            hz=hz,
            errors=self.error,
            is_finished=lambda: session.closed,
            finished_error=lambda: session.closed_error("edit room metadata from this view"),
        )
        self.live.on_close(session.state.subscribe(self._on_event))
        self.load_button.on_click(lambda _b: self.load_current())
        self.apply_button.on_click(lambda _b: self.apply())
        self.live.start()

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RoomMetadataChanged):
            self.updates += 1
        self.live.mark()

    @property
    def text(self) -> str:
        return self.session.state.room_metadata

    def _render(self) -> None:
        text, is_json = pretty(self.text)
        if not text:
            body = '<span style="color:#999">(empty)</span>'
        else:
            body = f'<pre style="margin:0;max-height:200px;overflow:auto">{html.escape(text)}</pre>'
        kind = "JSON" if is_json else "text"
        self.display.value = f'<div class="lk-room-metadata-value" data-kind="{kind}">{body}</div>'

    def load_current(self) -> None:
        self.editor.value = pretty(self.text)[0]

    def apply(self) -> None:
        """Send the editor's text as the new room metadata (server API); errors show inline."""
        value = self.editor.value
        if self.json_mode.value:
            try:
                json.loads(value)
            except ValueError as exc:
                self.error.show_error(InvalidInputError(f"not valid JSON: {exc}"), where="room metadata")
                return
        if value == "":
            self.error.show_error(
                InvalidInputError('LiveKit treats "" as "no change"; set "{}" or " " to clear it'),
                where="room metadata",
            )
            return

        async def update() -> None:
            await self.session.admin.update_room_metadata(self.session.room_name, value)

        self.live.run(
            "update room metadata",
            update,
            on_ok=lambda _r: self.error.show_note("room metadata sent; the view updates when the server echoes it"),
            busy="updating…",
        )

    def close(self) -> None:
        self.live.close()
        super().close()
