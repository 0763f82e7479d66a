"""DataTracksView: the room's data tracks (who publishes which), a Subscribe button each, live frame rate and sizes."""

from __future__ import annotations

import html

import ipywidgets as w

from ..datatracks import NO_SUBSCRIBE, PublishedDataTrack, TrackStats
from ..errors import SubscribeError
from ..session import Session
from ._live import ErrorLine, Live
from ._text import TextFallback, session_line

__all__ = ["DataTracksView", "describe_stats"]


def describe_stats(s: TrackStats) -> str:
    """One line: rate, frames, sizes and gaps."""
    return (
        f"{s.fps:.1f} frames/s · {s.frames} frames · {s.mean_size:.0f} B mean ({s.min_size}-{s.max_size}) · "
        f"{s.gaps} gaps, longest {s.max_gap_ms:.0f} ms"
    )


class _TrackRow(w.HBox):  # type: ignore[misc]
    def __init__(self, track: PublishedDataTrack) -> None:
        self.track = track
        self.label = w.HTML(
            f"<b>{html.escape(track.publisher)}</b> / <code>{html.escape(track.name)}</code>",
            layout={"width": "260px"},
        )
        self.button = w.Button(description="Subscribe", icon="play", layout={"width": "120px"})
        self.button.add_class("lk-track-subscribe")
        self.stats = w.HTML("")
        self.stats.add_class("lk-track-stats")
        super().__init__([self.label, self.button, self.stats])
        self.add_class("lk-track-row")
        self.add_class(f"lk-track-{track.publisher}-{track.name}".replace(" ", "_"))


class DataTracksView(TextFallback, w.VBox):  # type: ignore[misc]
    """Every remote data track in the session's room; Subscribe / Unsubscribe per track; stats at `hz`.

    Example::

        DataTracksView(session)
    """

    def text_fallback(self) -> str:
        tracks = self.tracks.published
        lines = [f"DataTracksView, {session_line(self.session)}; {len(tracks)} data track(s)"]
        for t in tracks[:20]:
            on = " (subscribed)" if self.tracks.subscription(t.publisher, t.name) is not None else ""
            lines.append(f"  {t.publisher}: {t.name}{on}")
        return "\n".join(lines)

    def __init__(self, session: Session, *, hz: float = 2.0) -> None:
        self.session = session
        self.tracks = session.data_tracks
        self.header = w.HTML("")
        self.error = ErrorLine()
        self.rows = w.VBox([])
        super().__init__([self.header, self.rows, self.error])
        self.add_class("lk-data-tracks")
        self._rows: dict[tuple[str, str], _TrackRow] = {}
        self._version = -1
        self.live = Live(
            f"data tracks {session.room_name}",
            self._render,
            hz=hz,
            errors=self.error,
            is_finished=lambda: session.closed,
            finished_error=lambda: session.closed_error("subscribe from this view"),
        )
        self.live.on_close(self.tracks.on_change(self.live.mark))
        self.live.start()
        self.live.render_now()

    def toggle(self, publisher: str, name: str) -> None:
        """What the button does: subscribe, or unsubscribe when subscribed. Errors show under the list."""
        if self.session.closed:  # a left session's view says why and does nothing
            self.error.show_error(self.session.closed_error(f"subscribe to {publisher}/{name}"), where="data tracks")
            return
        try:
            if self.tracks.subscription(publisher, name) is None:
                self.tracks.subscribe(publisher, name)
            else:
                self.tracks.unsubscribe(publisher, name)
            self.error.clear()
        except Exception as exc:
            self.error.show_error(exc, where=f"subscribe {publisher}/{name}")
        self.live.mark()

    def _render(self) -> None:
        self.live.dirty = True  # stats move on their own: render every tick
        if self.tracks.version != self._version:
            self._version = self.tracks.version
            self._rebuild()
        for key, row in self._rows.items():
            sub = self.tracks.subscription(*key)
            if sub is None:
                row.button.description, row.button.icon = "Subscribe", "play"
                row.stats.value = '<span style="color:#666">not subscribed</span>'
                continue
            row.button.description, row.button.icon = "Unsubscribe", "stop"
            text = html.escape(describe_stats(sub.stats.snapshot()))
            if sub.error is not None:
                text += f' <span style="color:#b00020">⚠ {html.escape(str(sub.error))}</span>'
            row.stats.value = text

    def _rebuild(self) -> None:
        published = self.tracks.published
        wanted = {(t.publisher, t.name): t for t in published}
        for key in list(self._rows):
            if key not in wanted:
                self._rows.pop(key).close()
        for key, track in wanted.items():
            if key not in self._rows:
                row = _TrackRow(track)
                row.button.on_click(lambda _b, k=key: self.toggle(*k))
                self._rows[key] = row
        self.rows.children = [self._rows[k] for k in sorted(self._rows)]
        n = len(published)
        if not self.tracks.can_subscribe:
            self.error.show_error(SubscribeError(NO_SUBSCRIBE, publisher="", track=""), where="data tracks")
        self.header.value = (
            f"<b>data tracks</b> · {n} published" if n else "<b>data tracks</b> · none published in this room"
        )

    def close(self) -> None:
        self.live.close()
        for row in self._rows.values():
            row.close()
        super().close()
