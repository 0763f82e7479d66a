"""Data tracks in a room: who publishes which, subscribing on demand, and live frame rate, sizes and gaps.

A session's `data_tracks` is wired to the SDK before the session connects, so tracks that were already published
when it joined are listed too. Nothing is subscribed until asked: an inspector looks at a track only when told to.

Example::

    session.data_tracks.frame()                     # publisher, name, subscribed, fps, sizes, gaps
    sub = session.data_tracks.subscribe("sensor", "imu")
    await asyncio.sleep(2); sub.stats.snapshot()    # frames per second over the last window, sizes, gaps
    session.data_tracks.unsubscribe("sensor", "imu")
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livekit import rtc

from ._tasks import TaskOwner
from .errors import InvalidInputError, SubscribeError
from .events import PublishedDataTrack

if TYPE_CHECKING:
    import pandas as pd

NO_SUBSCRIBE = (
    "this session's token lacks canSubscribe, so the server announces no data tracks to it and sends none. "
    "Join with Grants(can_subscribe=True) (the default)."
)

__all__ = ["DataTracks", "FrameStats", "PublishedDataTrack", "TrackStats", "TrackSubscription"]


@dataclass(frozen=True, slots=True)
class TrackStats:
    """One reading of a subscription's counters."""

    frames: int
    bytes: int
    fps: float
    """Frames per second over the last `window` seconds (or since the first frame, if younger)."""
    min_size: int
    mean_size: float
    max_size: int
    gaps: int
    """Inter-arrival intervals longer than `gap_factor` times the median of the intervals before them."""
    max_gap_ms: float
    """The longest inter-arrival interval within the window, in milliseconds."""


class FrameStats:
    """Streaming counters for one subscription: O(1) memory per frame kept (a window and the last intervals).

    Pure: feed it `add(arrival, size)`; read `snapshot(now)`.
    """

    def __init__(self, *, window: float = 2.0, gap_factor: float = 3.0, history: int = 64) -> None:
        if window <= 0 or gap_factor <= 1:
            raise ValueError("window must be positive and gap_factor above 1")
        self.window = window
        self.gap_factor = gap_factor
        self.frames = 0
        self.bytes = 0
        self.min_size = 0
        self.max_size = 0
        self.gaps = 0
        self._first: float | None = None
        self._last: float | None = None
        self._recent: deque[tuple[float, float]] = deque()  # (arrival, interval before it) within the window
        self._intervals: deque[float] = deque(maxlen=history)

    def add(self, at: float, size: int) -> None:
        self.frames += 1
        self.bytes += size
        self.min_size = size if self.frames == 1 else min(self.min_size, size)
        self.max_size = max(self.max_size, size)
        interval = 0.0
        if self._last is not None:
            interval = max(0.0, at - self._last)
            # Eight intervals before judging: a median of fewer is noise, not a rhythm.
            if len(self._intervals) >= 8 and interval > self.gap_factor * statistics.median(self._intervals):
                self.gaps += 1
            self._intervals.append(interval)
        else:
            self._first = at
        self._last = at
        self._recent.append((at, interval))
        self._trim(at)

    def _trim(self, now: float) -> None:
        horizon = now - self.window
        while self._recent and self._recent[0][0] < horizon:
            self._recent.popleft()

    def snapshot(self, now: float | None = None) -> TrackStats:
        now = time.time() if now is None else now
        self._trim(now)
        span = self.window if self._first is None else min(self.window, max(now - self._first, 1e-3))
        in_window = len(self._recent)
        # The interval before the window's first frame started outside the window: not a gap inside it.
        inner = [iv for _, iv in list(self._recent)[1:]]
        return TrackStats(
            frames=self.frames,
            bytes=self.bytes,
            fps=in_window / span if in_window else 0.0,
            min_size=self.min_size,
            mean_size=self.bytes / self.frames if self.frames else 0.0,
            max_size=self.max_size,
            gaps=self.gaps,
            max_gap_ms=max(inner, default=0.0) * 1000,
        )


class TrackSubscription:
    """A live subscription to one remote data track; its reader is a task owned by the session."""

    def __init__(self, track: PublishedDataTrack, stats: FrameStats) -> None:
        self.track = track
        self.stats = stats
        self.error: BaseException | None = None
        """Why the subscription ended, if it failed (shown by the views)."""
        self.ended = False
        self.last_payload: bytes = b""
        self._task: asyncio.Task[None] | None = None

    async def _read(self, remote: rtc.RemoteDataTrack) -> None:
        stream = remote.subscribe()
        try:
            async for frame in stream:
                self.last_payload = frame.payload
                self.stats.add(time.time(), len(frame.payload))
        except rtc.SubscribeDataTrackError as exc:
            self.error = SubscribeError(
                f"the subscription to {self.track.publisher}/{self.track.name} ended: {exc.message}",
                publisher=self.track.publisher,
                track=self.track.name,
            )
            raise self.error from exc
        finally:
            self.ended = True
            stream.close()

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def __repr__(self) -> str:
        s = self.stats.snapshot()
        return f"<TrackSubscription {self.track.publisher}/{self.track.name} {s.frames} frames, {s.fps:.1f}/s>"


class DataTracks:
    """The room's remote data tracks, by (publisher, name); subscriptions on demand."""

    def __init__(self, room: rtc.Room, tasks: TaskOwner) -> None:
        self._room = room
        self._tasks = tasks
        self._remote: dict[tuple[str, str], tuple[PublishedDataTrack, rtc.RemoteDataTrack]] = {}
        self._subscriptions: dict[tuple[str, str], TrackSubscription] = {}
        self._listeners: list[Callable[[], None]] = []
        self.version = 0
        """Increases when a track is published, unpublished, subscribed or unsubscribed."""
        self.attach(room)

    def attach(self, room: rtc.Room) -> None:
        """Follow `room` (a session's rejoin connects a new one): the old room's tracks and subscriptions are gone
        with it; the new room announces the tracks published there as it connects."""
        for key in list(self._remote):
            self._drop(key)
        self._room = room
        room.on("data_track_published", self._on_published)
        room.on("data_track_unpublished", self._on_unpublished)
        room.on("participant_disconnected", self._on_participant_left)

    # -- SDK events -----------------------------------------------------------------------------------------------
    def _on_published(self, remote: rtc.RemoteDataTrack) -> None:
        info = PublishedDataTrack(remote.publisher_identity, remote.info.name, remote.info.sid)
        self._remote[(info.publisher, info.name)] = (info, remote)
        self._changed()

    def _on_unpublished(self, sid: str) -> None:
        for key, (info, _) in list(self._remote.items()):
            if info.sid == sid:
                self._drop(key)

    def _on_participant_left(self, p: rtc.RemoteParticipant) -> None:
        for key in [k for k in self._remote if k[0] == p.identity]:
            self._drop(key)

    def _drop(self, key: tuple[str, str]) -> None:
        self._remote.pop(key, None)
        sub = self._subscriptions.pop(key, None)
        if sub is not None:
            sub.close()
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        for listener in tuple(self._listeners):
            listener()

    # -- reading --------------------------------------------------------------------------------------------------
    def on_change(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call `listener()` when the set of tracks or subscriptions changes. Returns an unsubscribe function."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener) if listener in self._listeners else None

    @property
    def can_subscribe(self) -> bool:
        """False when the token lacks canSubscribe: the server then announces no data tracks and sends none."""
        return bool(self._room.local_participant.permissions.can_subscribe)

    @property
    def published(self) -> list[PublishedDataTrack]:
        """Every remote data track now published, sorted by publisher and name."""
        return sorted((info for info, _ in self._remote.values()), key=lambda t: (t.publisher, t.name))

    def subscription(self, publisher: str, name: str) -> TrackSubscription | None:
        return self._subscriptions.get((publisher, name))

    def frame(self) -> pd.DataFrame:
        """One row per published track: publisher, name, sid, subscribed, frames, fps, sizes, gaps."""
        import pandas as pd

        rows = []
        for t in self.published:
            sub = self._subscriptions.get((t.publisher, t.name))
            s = sub.stats.snapshot() if sub is not None else None
            rows.append(
                {
                    "publisher": t.publisher,
                    "name": t.name,
                    "sid": t.sid,
                    "subscribed": sub is not None,
                    "frames": s.frames if s else 0,
                    "fps": s.fps if s else 0.0,
                    "mean_size": s.mean_size if s else 0.0,
                    "max_size": s.max_size if s else 0,
                    "gaps": s.gaps if s else 0,
                    "max_gap_ms": s.max_gap_ms if s else 0.0,
                }
            )
        columns = ["publisher", "name", "sid", "subscribed", "frames", "fps", "mean_size", "max_size", "gaps"]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=[*columns, "max_gap_ms"])
        return frame

    # -- subscribing ----------------------------------------------------------------------------------------------
    def subscribe(self, publisher: str, name: str, *, window: float = 2.0) -> TrackSubscription:
        """Start receiving `publisher`'s track `name` and counting its frames. Returns the live subscription
        (the existing one if already subscribed).

        Raises:
            InvalidInputError: no such track is published now.
            SubscribeError: this session's token lacks canSubscribe (the server would send nothing).
        """
        key = (publisher, name)
        existing = self._subscriptions.get(key)
        if existing is not None and not existing.ended:
            return existing
        if not self.can_subscribe:
            raise SubscribeError(
                f"cannot subscribe to {publisher}/{name}: {NO_SUBSCRIBE}", publisher=publisher, track=name
            )
        entry = self._remote.get(key)
        if entry is None:
            listed = ", ".join(f"{t.publisher}/{t.name}" for t in self.published) or "none"
            raise InvalidInputError(f"no data track {publisher}/{name} is published in this room (published: {listed})")
        info, remote = entry
        sub = TrackSubscription(info, FrameStats(window=window))
        sub._task = self._tasks.spawn(sub._read(remote), name=f"data track {publisher}/{name}")
        self._subscriptions[key] = sub
        self._changed()
        return sub

    def unsubscribe(self, publisher: str, name: str) -> None:
        """Stop receiving a track (no error if it was not subscribed)."""
        sub = self._subscriptions.pop((publisher, name), None)
        if sub is not None:
            sub.close()
            self._changed()
