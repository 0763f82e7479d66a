"""StateEditor: edit your own attributes and metadata, or (admin mode) anyone's through the server API."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping

import ipywidgets as w

from .. import limits
from ..errors import InvalidInputError
from ..events import Event, ParticipantInfo
from ..session import Session
from ._forms import KeyValueRows
from ._live import ErrorLine, Live
from ._text import TextFallback, session_line

__all__ = ["StateEditor", "attribute_changes", "meter_html"]


def attribute_changes(current: Mapping[str, str], rows: list[tuple[str, str]]) -> dict[str, str]:
    """What to send so the attributes become `rows`: changed and new keys, and "" for every removed key.

    A row whose value is "" deletes its key, as LiveKit does. Duplicate keys: the last row wins.
    """
    wanted = dict(rows)
    changes = {k: v for k, v in wanted.items() if current.get(k) != v and not (v == "" and k not in current)}
    for key in current:
        if key not in wanted:
            changes[key] = ""
    return changes


def meter_html(size: int, *, limit: int, marks: tuple[tuple[int, str], ...] = (), label: str = "") -> str:
    """A horizontal size bar: green under every mark, amber over a mark, red over the limit."""
    scale = max(limit, size, 1)
    pct = min(100.0, 100.0 * size / scale)
    colour = "#2e7d32"
    note = ""
    for mark, text in marks:
        if size > mark:
            colour, note = "#b26a00", text
    if size > limit:
        colour, note = "#b00020", f"over the {limit:,} B limit"
    ticks = "".join(
        f'<div title="{html.escape(text)}" style="position:absolute;left:{100.0 * m / scale:.2f}%;top:0;bottom:0;'
        f'border-left:1px dashed #555"></div>'
        for m, text in marks
    )
    return (
        f'<div class="lk-meter" data-size="{size}" style="display:flex;align-items:center;gap:8px">'
        f'<div style="position:relative;width:240px;height:10px;background:#eee;border:1px solid #ccc">'
        f'<div style="width:{pct:.2f}%;height:100%;background:{colour}"></div>{ticks}</div>'
        f'<span style="font-size:12px;color:{colour}">{html.escape(label)}{size:,} / {limit:,} B'
        f"{' · ' + html.escape(note) if note else ''}</span></div>"
    )


class StateEditor(TextFallback, w.VBox):  # type: ignore[misc]
    """Edit attributes (add, edit, delete rows; a value of "" deletes) and metadata (text or validated JSON) with
    a size meter against the 64 KiB attribute limit. Admin mode edits any participant through the server API.
    Refusals (e.g. a token without canUpdateOwnMetadata) are shown inline.

    Example::

        editor = StateEditor(session)
        editor.attributes.add_row("status", "away"); editor.apply_attributes()
    """

    def text_fallback(self) -> str:
        local = self.session.state.local
        mine = "" if local is None else f"; own attributes {dict(local.attributes)}, metadata {local.metadata[:80]!r}"
        return f"StateEditor, {session_line(self.session)}{mine}"

    def __init__(self, session: Session, *, hz: float = 4.0) -> None:
        self.session = session
        self.admin_mode = w.Checkbox(value=False, description="admin (server API): edit anyone", indent=False)
        self.target = w.Dropdown(description="participant", options=[session.identity], value=session.identity)
        self.attributes = KeyValueRows(on_change=self._on_rows_changed)
        self.meter = w.HTML(value="")
        self.reload_button = w.Button(description="reload", tooltip="discard edits and show the current state")
        self.apply_attrs_button = w.Button(description="Apply attributes", button_style="primary")
        self.metadata = w.Textarea(placeholder="metadata", layout={"width": "100%", "height": "80px"})
        self.metadata_mode = w.ToggleButtons(options=["text", "JSON"], value="text", style={"button_width": "60px"})
        self.metadata_check = w.HTML(value="")
        self.apply_meta_button = w.Button(description="Apply metadata", button_style="primary")
        self.error = ErrorLine()
        if session.credentials is None:
            self.admin_mode.disabled = True
            self.admin_mode.description = "admin mode needs an API key and secret"
        super().__init__(
            children=[
                w.HTML("<b>edit state</b>"),
                w.HBox([self.admin_mode, self.target]),
                self.attributes,
                self.meter,
                w.HBox([self.apply_attrs_button, self.reload_button]),
                w.HBox([w.HTML("metadata"), self.metadata_mode, self.metadata_check]),
                self.metadata,
                self.apply_meta_button,
                self.error,
            ]
        )
        self.add_class("lk-state-editor")
        self._loaded: ParticipantInfo | None = None
        self._edited = False
        self._meta_edited = False
        self.live = Live(
            f"state editor {session.identity}",
            self._render,
            hz=hz,
            errors=self.error,
            is_finished=lambda: session.closed,
            finished_error=lambda: session.closed_error("edit state from this view"),
        )
        self.live.on_close(session.state.subscribe(self._on_event))
        self.admin_mode.observe(self._on_admin_mode, names="value")
        self.target.observe(lambda _c: self.reload(), names="value")
        self.metadata.observe(self._on_metadata_changed, names="value")
        self.metadata_mode.observe(self._on_metadata_changed, names="value")
        self.reload_button.on_click(lambda _b: self.reload())
        self.apply_attrs_button.on_click(lambda _b: self.apply_attributes())
        self.apply_meta_button.on_click(lambda _b: self.apply_metadata())
        self.reload()
        self.live.start()

    # -- state ----------------------------------------------------------------------------------------------------
    @property
    def identity(self) -> str:
        return str(self.target.value or self.session.identity)

    def current(self) -> ParticipantInfo | None:
        return self.session.state.get(self.identity)

    def reload(self) -> None:
        """Show the target's current attributes and metadata, discarding edits."""
        p = self.current()
        self._loaded = p
        self.attributes.set_items(dict(p.attributes) if p is not None else {})
        self.metadata.value = p.metadata if p is not None else ""
        self._edited = False
        self._meta_edited = False
        self._update_meter()

    def _on_event(self, _event: Event) -> None:
        self.live.mark()

    def _on_rows_changed(self) -> None:
        self._edited = True
        self._update_meter()

    def _on_metadata_changed(self, _change: object = None) -> None:
        self._meta_edited = True
        self._check_metadata()

    def _on_admin_mode(self, change: Mapping[str, object]) -> None:
        self.live.mark()
        if not change["new"]:
            self.target.value = self.session.identity
        self._render()

    def _render(self) -> None:
        if self.admin_mode.value:
            options = sorted(self.session.state.participants) or [self.session.identity]
        else:
            options = [self.session.identity]
        if list(self.target.options) != options:
            keep = self.target.value if self.target.value in options else self.session.identity
            self.target.options = options
            self.target.value = keep if keep in options else options[0]
        self.target.disabled = not self.admin_mode.value
        p = self.current()
        # Follow the live state until the user starts editing; never overwrite edits.
        if p is not self._loaded and p is not None:
            if not self._edited:
                self.attributes.set_items(dict(p.attributes))
                self._edited = False
            if not self._meta_edited:
                self.metadata.value = p.metadata
                self._meta_edited = False
            self._loaded = p
        self._update_meter()

    def _update_meter(self) -> None:
        p = self.current()
        current = p.attributes if p is not None else {}
        changes = attribute_changes(current, self.attributes.items())
        size = limits.attributes_size(limits.merged_attributes(current, changes))
        self.meter.value = meter_html(
            size, limit=limits.MAX_ATTRIBUTES_BYTES, marks=((48 * 1024, "close to the limit"),), label="attributes: "
        )

    def _check_metadata(self) -> str | None:
        """The metadata to send, or None (with the reason shown) if JSON mode and it is not valid JSON."""
        text = str(self.metadata.value)
        size = len(text.encode("utf-8"))
        if self.metadata_mode.value == "JSON":
            try:
                json.loads(text)
            except ValueError as exc:
                self.metadata_check.value = f'<span style="color:#b00020">invalid JSON: {html.escape(str(exc))}</span>'
                return None
            self.metadata_check.value = f'<span style="color:#2e7d32">valid JSON · {size:,} B</span>'
        else:
            self.metadata_check.value = f'<span style="color:#666">{size:,} B</span>'
        return text

    # -- actions --------------------------------------------------------------------------------------------------
    def apply_attributes(self) -> None:
        p = self.current()
        current = p.attributes if p is not None else {}
        changes = attribute_changes(current, self.attributes.items())
        if not changes:
            self.error.show_note("no attribute changes")
            return
        identity = self.identity
        admin = bool(self.admin_mode.value)

        async def send() -> None:
            if admin:
                await self.session.admin.update_participant(self.session.room_name, identity, attributes=changes)
            else:
                await self.session.set_attributes(changes)

        def done(_r: None) -> None:
            self._edited = False
            self.error.show_note(f"attributes of {identity} updated ({len(changes)} key(s))")
            self.live.mark()

        self.live.run("set attributes", send, on_ok=done, busy="sending attributes…")

    def apply_metadata(self) -> None:
        text = self._check_metadata()
        if text is None:
            self.error.show_error(InvalidInputError("metadata is not valid JSON (JSON mode)"), where="set metadata")
            return
        identity = self.identity
        admin = bool(self.admin_mode.value)

        async def send() -> None:
            if admin:
                await self.session.admin.update_participant(self.session.room_name, identity, metadata=text)
            else:
                await self.session.set_metadata(text)

        def done(_r: None) -> None:
            self._meta_edited = False
            self.error.show_note(f"metadata of {identity} updated")
            self.live.mark()

        self.live.run("set metadata", send, on_ok=done, busy="sending metadata…")

    def close(self) -> None:
        self.live.close()
        super().close()
