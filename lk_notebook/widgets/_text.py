"""Plain-text fallbacks: what a front end shows when it cannot draw the widget.

VS Code drops widget views when a notebook is reloaded, nbconvert and GitHub render no widgets, and a terminal
IPython has none: all of them show the output's `text/plain`. ipywidgets puts a truncated `repr()` of the widget's
traits there (`VBox(children=(HBox(...`), which says nothing. Each view says instead what it showed: the room,
who is in it, the connection. Never a token or secret (nothing here reads credentials beyond their source name).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..events import ConnectionStatus
    from ..state import RoomState

__all__ = ["SessionLike", "TextFallback", "participants_text", "session_line"]

MAX_ROWS = 20


class SessionLike(Protocol):
    """What a status line reads of a session (a live Session, or a recording's ReplaySource)."""

    @property
    def room_name(self) -> str: ...
    @property
    def identity(self) -> str: ...
    @property
    def status(self) -> ConnectionStatus: ...
    @property
    def state(self) -> RoomState: ...


def session_line(session: SessionLike | None) -> str:
    if session is None:
        return "not joined"
    return (
        f"room {session.room_name!r} as {session.identity!r}: {session.status.value}, "
        f"{len(session.state)} participant(s)"
    )


def participants_text(state: RoomState, *, rows: int = MAX_ROWS) -> str:
    """One line per participant (local first): identity, name and attributes, at most `rows` lines."""
    ordered = sorted(state.participants.values(), key=lambda p: (not p.is_local, p.identity))
    lines = []
    for p in ordered[:rows]:
        you = " (you)" if p.is_local else ""
        name = f" {p.name!r}" if p.name else ""
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(p.attributes.items()))
        lines.append(f"  {p.identity}{you}{name}" + (f": {attrs}" if attrs else ""))
    if len(ordered) > rows:
        lines.append(f"  … and {len(ordered) - rows} more")
    return "\n".join(lines)


class TextFallback:
    """Mixin for widgets: `text/plain` (and `repr`) from `text_fallback()` instead of the traits' repr."""

    def text_fallback(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.text_fallback()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        bundle = super()._repr_mimebundle_(**kwargs)  # type: ignore[misc]
        data = bundle[0] if isinstance(bundle, tuple) else bundle  # anywidget: (data, metadata); ipywidgets: data
        if isinstance(data, dict):
            data["text/plain"] = self.text_fallback()  # in full: ipywidgets cuts it at 110 characters
        return bundle
