"""ObserverView: a room seen through the server API only (no WebRTC), clearly labelled as such."""

from __future__ import annotations

import html

import ipywidgets as w

from ..observer import ApiObserver
from ._live import ErrorLine, Live
from ._text import TextFallback, participants_text
from .table import ParticipantsTable

__all__ = ["ObserverView"]


class ObserverView(TextFallback, w.VBox):  # type: ignore[misc]
    """The label "server API only: no messages", the polling status, and the live participants table.

    Closing the view stops the observer's polling.

    Example::

        ObserverView(lk_notebook.observe("demo"))
    """

    def text_fallback(self) -> str:
        o = self.observer
        head = (
            f"ObserverView of room {o.room_name!r} ({o.label}): {o.state.status.value}, {len(o.state)} participant(s)"
        )
        return head + ("\n" + participants_text(o.state) if len(o.state) else "")

    def __init__(self, observer: ApiObserver, *, hz: float = 4.0) -> None:
        self.observer = observer
        self.label = w.HTML(
            f'<b class="lk-api-only" style="color:#b26a00">{html.escape(observer.label)}</b> '
            f"<span>· {html.escape(observer.room_name)} · polled every {observer.interval:g} s</span>"
        )
        self.status = w.HTML("")
        self.error = ErrorLine()
        self.table = ParticipantsTable(observer.state)
        super().__init__([self.label, self.status, self.error, self.table])
        self.add_class("lk-observer")
        self.live = Live(f"observer {observer.room_name}", self._render, hz=hz, errors=self.error)
        self.live.on_close(observer.state.subscribe(self.live.mark))
        self.live.on_close(observer.on_error(lambda exc: self.error.show_error(exc, where="poll")))
        observer.start()
        self.live.start()

    def _render(self) -> None:
        self.live.dirty = True  # the poll count moves even when nothing changed
        o = self.observer
        p = o.poller
        tracks = ", ".join(f"{t.publisher}/{t.name}" for t in o.data_tracks) or "none"
        self.status.value = (
            f'<span style="color:#555">{o.state.status.value} · {len(o.state)} participant(s) · '
            f"{p.calls} polls, last {p.last_duration * 1000:.0f} ms · next in {p.next_delay:.1f} s</span><br>"
            f'<span class="lk-observer-tracks">data tracks published: {html.escape(tracks)}</span>'
        )
        if o.error is None and self.error.last_error is not None:
            self.error.clear()

    def close(self) -> None:
        self.live.close()
        self.observer.close()
        self.table.close()
        super().close()
