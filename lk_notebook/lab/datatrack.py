"""The rig's data track: published by the sender, subscribed by the receiver, frames handed to the rig's sink.

Published once, on the first data-track run (`Rig.prepare_data_track`), and kept for later runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from livekit import rtc

from .._tasks import TaskOwner
from ..errors import LabError
from ..session import Session

__all__ = ["DataTrackLink", "require_data_track_sdk"]


def require_data_track_sdk() -> None:
    if not hasattr(rtc.LocalParticipant, "publish_data_track") or not hasattr(rtc, "DataTrackFrame"):
        raise LabError(
            "this livekit SDK has no data tracks (LocalParticipant.publish_data_track); upgrade livekit (>= 1.2), "
            "or leave data_track out of the modes."
        )


class DataTrackLink:
    """The sender's data track and the receiver's subscription; every frame goes to `deliver(payload, now_ns)`."""

    def __init__(self, deliver: Callable[[bytes, int], None], tasks: TaskOwner) -> None:
        self._deliver = deliver
        self._tasks = tasks
        self._track: rtc.LocalDataTrack | None = None
        self._ready: asyncio.Event | None = None
        self._remote: dict[str, rtc.RemoteDataTrack] = {}
        self._seen = asyncio.Event()
        self._error: str | None = None

    def watch(self, receiver: Session) -> None:
        """Call when the receiver joins: data_track_published may fire before the sender's publish returns."""
        receiver.room.on("data_track_published", self._on_published)

    def _on_published(self, track: rtc.RemoteDataTrack) -> None:
        # May fire before publish_data_track() returns to the sender side: keep it by name for prepare().
        self._remote[track.info.name] = track
        self._seen.set()

    async def _read(self, track: rtc.RemoteDataTrack) -> None:
        try:
            # A large buffer, so that frames are lost on the network or in the SFU, not in our reader.
            stream = track.subscribe(buffer_size=4096)
        except Exception as exc:
            self._error = f"subscribing to the data track failed: {exc}"
            if self._ready is not None:
                self._ready.set()
            raise
        if self._ready is not None:
            self._ready.set()
        try:
            async for frame in stream:
                self._deliver(bytes(frame.payload), time.monotonic_ns())
        except rtc.SubscribeDataTrackError as exc:
            self._error = f"the data track subscription ended: {exc.message}"
        finally:
            stream.close()

    async def prepare(self, sender: Session, name: str) -> rtc.LocalDataTrack:
        """Publish the track as `name` and subscribe the receiver (once); LabError if the server or SDK cannot."""
        if self._track is not None:
            return self._track
        lp = sender.room.local_participant
        require_data_track_sdk()
        self._ready = asyncio.Event()
        try:
            self._track = await asyncio.wait_for(lp.publish_data_track(name=name), 10)
        except (asyncio.TimeoutError, Exception) as exc:
            raise LabError(
                f"the server or SDK refused to publish a data track ({exc!r}). Data tracks need livekit-server "
                f">= 1.13 with enable_data_tracks (on by default) and a livekit SDK with data tracks; leave "
                f"data_track out of the modes otherwise."
            ) from exc
        name = self._track.info.name
        deadline = time.monotonic() + 10
        while name not in self._remote:
            self._seen.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise LabError("the receiver never saw the lab's data track published (10 s); data tracks unusable")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._seen.wait(), left)
        self._tasks.spawn(self._read(self._remote[name]), name="data track reader")
        await asyncio.wait_for(self._ready.wait(), 10)
        if self._error:
            raise LabError(self._error)
        return self._track
