"""Replay: a recording in the live room's views (ParticipantsTable, MessageLog), with a time slider, play/pause
and speed. No server, no network: the file is the whole input (it runs on Binder)."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
import time
from pathlib import Path
from typing import Any

import ipywidgets as w

from .._tasks import TaskOwner
from ..recording.recording import Recording, Time
from ..recording.source import ReplaySource
from ..state import RoomState
from ._text import TextFallback, participants_text
from .messages import MessageLog
from .table import ParticipantsTable

__all__ = ["Replay"]

SPEEDS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0)
TICK_S = 0.1
"""How often playing advances (the views render at their own rates)."""


class Replay(TextFallback, w.VBox):  # type: ignore[misc]
    """Scrub or play a recording through the same views as a live room.

    Example::

        rec = lk_notebook.Recording("room.lkrec")
        replay = lk_notebook.Replay(rec)     # last expression in a cell: shows it
        replay.seek(rec.start + dt.timedelta(seconds=5))
        replay.state.to_frame()              # the room at that instant
    """

    def text_fallback(self) -> str:
        s = self.source
        head = f"Replay of room {s.room_name!r} at +{s.position - s.start:.1f} s of {s.end - s.start:.1f} s"
        return head + ("\n" + participants_text(s.state) if len(s.state) else "")

    def __init__(self, recording: Recording | str | Path, *, speed: float = 1.0, **kwargs: Any) -> None:
        self.recording = recording if isinstance(recording, Recording) else Recording(recording)
        self._owns_recording = not isinstance(recording, Recording)  # opened here from a path: closed here
        self.source = ReplaySource(self.recording)
        duration = max(self.source.end - self.source.start, 0.001)
        self.slider = w.FloatSlider(
            value=0.0, min=0.0, max=duration, step=min(0.1, duration / 100), description="t (s)",
            continuous_update=False, readout_format=".1f", layout={"width": "60%"},
        )  # fmt: skip
        self.play_button = w.ToggleButton(value=False, description="play", icon="play")
        self.speed = w.Dropdown(options=[(f"{s:g}x", s) for s in SPEEDS], value=speed, description="speed")
        self.clock = w.HTML(value="")
        self.room_line = w.HTML(value="")
        """The room's status and metadata at the position (the read-only part of RoomMetadataView)."""
        self.table = ParticipantsTable(self.source.state)
        self.messages = MessageLog(self.source)
        self.controls = w.HBox([self.play_button, self.speed, self.slider, self.clock])
        super().__init__(children=[self.controls, self.room_line, self.table, self.messages], **kwargs)
        self.add_class("lk-replay")
        self.tasks = TaskOwner(f"replay {self.source.room_name}")
        self._task: asyncio.Task[None] | None = None
        self._moving = False
        """True while the replay itself moves the slider (so its observer does not seek again)."""
        self.slider.observe(self._on_slider, names="value")
        self.play_button.observe(self._on_play, names="value")
        self._show_clock()

    # -- the room at a time --------------------------------------------------------------------------------------
    @property
    def state(self) -> RoomState:
        """The RoomState shown (the same object the table renders)."""
        return self.source.state

    @property
    def position(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.source.position, dt.timezone.utc)

    def seek(self, t: Time) -> None:
        """Show the room at `t` (a datetime, or Unix seconds); the message log restarts from the messages then."""
        self.source.seek(t)
        self._rebuild_log()
        self._sync_slider()

    def step(self, seconds: float) -> int:
        """Play `seconds` of the recording forward at once (what play does every tick). Returns records played."""
        played = self.source.advance(self.source.position + seconds)
        self._sync_slider()
        return played

    # -- widgets -------------------------------------------------------------------------------------------------
    def _rebuild_log(self) -> None:
        old = self.messages
        self.messages = MessageLog(self.source)
        self.children = [self.controls, self.room_line, self.table, self.messages]
        old.close()

    def _sync_slider(self) -> None:
        self._moving = True
        try:
            self.slider.value = self.source.position - self.source.start
        finally:
            self._moving = False
        self._show_clock()

    def _show_clock(self) -> None:
        at = self.position
        self.clock.value = f"<code>{at:%Y-%m-%d %H:%M:%S}.{at.microsecond // 1000:03d} UTC</code>"
        s = self.source.state
        meta = html.escape(s.room_metadata[:500]) or "<i>(none)</i>"
        self.room_line.value = f"room <b>{html.escape(s.room)}</b>: {s.status.value}; room metadata <code>{meta}</code>"

    def _on_slider(self, change: dict[str, Any]) -> None:
        if not self._moving:
            self.seek(self.source.start + float(change["new"]))

    def _on_play(self, change: dict[str, Any]) -> None:
        if change["new"]:
            if self.source.position >= self.source.end:
                self.seek(self.source.start)
            try:
                asyncio.get_running_loop()
            except RuntimeError:  # no running loop (a script): play does nothing
                pass
            else:
                self._task = self.tasks.spawn(self._play(), name="play")  # a closed replay says so here
            self.play_button.icon, self.play_button.description = "pause", "pause"
        else:
            self._stop_task()
            self.play_button.icon, self.play_button.description = "play", "play"

    async def _play(self) -> None:
        last = time.monotonic()
        while self.source.position < self.source.end:
            await asyncio.sleep(TICK_S)
            now = time.monotonic()
            self.step((now - last) * float(self.speed.value))
            last = now
        self.play_button.value = False

    def _stop_task(self) -> None:
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None

    def close(self) -> None:
        self._stop_task()
        self.table.close()
        self.messages.close()
        if self._owns_recording:
            self.recording.close()
        super().close()
