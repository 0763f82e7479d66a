"""Watching a room through the server API only, for where WebRTC cannot connect (Binder allows no outbound UDP).

`ApiObserver` polls `list_participants` (and the room's metadata through `list_rooms`) and turns each difference
into the same typed events a Session produces, so its `state` is a RoomState the same tables read. It carries no
messages, streams or RPC: those travel over WebRTC only. Changes between two polls that undo each other are not
seen; what is seen is at most one polling interval old.

Example::

    observer = ApiObserver("demo")
    observer.start()
    ParticipantsTable(observer.state)
    ...
    await observer.aclose()
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence

from . import events as ev
from ._tasks import TaskOwner
from .admin import ParticipantCache, ServerAPI
from .errors import AdminError, InvalidInputError, RoomGoneError
from .poll import Poller
from .state import RoomState

__all__ = ["LABEL", "ApiObserver", "diff_participants"]

_Poll = tuple[str, list[ev.ParticipantInfo], list[ev.PublishedDataTrack]]
"""One poll's answer: the room's metadata, its participants, their data tracks."""

LABEL = "server API only: no messages"
"""How every view of an observer is labelled: it sees state, never data, streams or RPC."""


def diff_participants(
    before: Mapping[str, ev.ParticipantInfo], after: Sequence[ev.ParticipantInfo], at: float
) -> list[ev.Event]:
    """The events that turn `before` into `after` (two `list_participants` answers). Pure."""
    events: list[ev.Event] = []
    now = {p.identity: p for p in after}
    for identity in sorted(before.keys() - now.keys()):
        events.append(ev.ParticipantLeft(identity, "gone from list_participants", at))
    for identity, p in sorted(now.items()):
        old = before.get(identity)
        if old is None:
            events.append(ev.ParticipantJoined(p, at))
            continue
        if old is p:  # unchanged on the server (the admin cache hands back the same object)
            continue
        if old.sid != p.sid:  # left and came back between two polls
            events.append(ev.ParticipantLeft(identity, "rejoined", at))
            events.append(ev.ParticipantJoined(p, at))
            continue
        if p.active and not old.active:
            events.append(ev.ParticipantActive(identity, at))
        if old.name != p.name:
            events.append(ev.NameChanged(identity, old.name, p.name, at))
        if old.metadata != p.metadata:
            events.append(ev.MetadataChanged(identity, old.metadata, p.metadata, at))
        if dict(old.attributes) != dict(p.attributes):
            changed = {k: v for k, v in p.attributes.items() if old.attributes.get(k) != v}
            changed.update({k: "" for k in old.attributes.keys() - p.attributes.keys()})  # "" = deleted
            events.append(ev.AttributesChanged(identity, ev.frozen_map(changed), p.attributes, at))
    return events


class ApiObserver:
    """A room's participants and metadata, kept true by polling the server API every `interval` seconds."""

    def __init__(
        self,
        room: str,
        *,
        admin: ServerAPI | None = None,
        interval: float = 1.0,
        history_limit: int = 10_000,
        own_admin: bool | None = None,
    ) -> None:
        if not isinstance(room, str) or not room:
            raise InvalidInputError("room must be a non-empty string")
        self.room_name = room
        self.label = LABEL
        self.admin = admin or ServerAPI()
        self._own_admin = admin is None if own_admin is None else own_admin
        """Close the server API client on close (True when this observer made it, or was handed it to own)."""
        self._closer = TaskOwner(f"api observer {room} (closing)")
        """Releases the server API client after a synchronous close(); short, so never cancelled."""
        self.interval = interval
        self.state = RoomState(room, history_limit=history_limit)
        self._cache: ParticipantCache = {}
        self.data_tracks: list[ev.PublishedDataTrack] = []
        """Who publishes which data track, as of the last poll (frames need WebRTC: an inspector)."""
        self.error: BaseException | None = None
        """The last failure (None after a successful poll)."""
        self._error_callbacks: list[Callable[[BaseException], None]] = []
        self.poller: Poller[_Poll] = Poller(
            self._fetch,
            on_result=self._apply,
            on_error=self._failed,
            name=f"api observer {room}",
            interval=interval,
        )

    def __repr__(self) -> str:
        return (
            f"<ApiObserver {self.room_name!r} ({self.label}) {self.state.status.value}, {len(self.state)} participants>"
        )

    async def _fetch(self) -> _Poll:
        rooms = await self.admin.list_rooms([self.room_name])
        if not rooms:
            raise RoomGoneError(
                f"room {self.room_name!r} does not exist on {self.admin.credentials.http_url} (deleted, or closed "
                f"after it emptied). Still polling: it shows again if the room is created again."
            )
        try:
            participants, tracks = await self.admin.participants_and_data_tracks(self.room_name, cache=self._cache)
        except AdminError as exc:
            if exc.status == 404:  # deleted between the two calls
                raise RoomGoneError(f"room {self.room_name!r} was deleted while being observed") from exc
            raise
        return rooms[0].metadata, participants, tracks

    def _apply(self, result: _Poll) -> None:
        metadata, participants, self.data_tracks = result
        at = time.time()
        self.error = None
        if self.state.status is not ev.ConnectionStatus.CONNECTED:
            self.state.apply(ev.ConnectionChanged(ev.ConnectionStatus.CONNECTED, at))
        if metadata != self.state.room_metadata:
            self.state.apply(ev.RoomMetadataChanged(self.state.room_metadata, metadata, at))
        for event in diff_participants(self.state.participants, participants, at):
            self.state.apply(event)

    def _failed(self, exc: BaseException) -> None:
        self.error = exc
        if isinstance(exc, RoomGoneError):
            at = time.time()
            self.data_tracks = []
            for identity in list(self.state.participants):
                self.state.apply(ev.ParticipantLeft(identity, "room gone", at))
            if self.state.status is not ev.ConnectionStatus.DISCONNECTED:
                self.state.apply(ev.ConnectionChanged(ev.ConnectionStatus.DISCONNECTED, at, reason="room gone"))
        for callback in tuple(self._error_callbacks):
            callback(exc)

    def on_error(self, callback: Callable[[BaseException], None]) -> Callable[[], None]:
        """Be told of each failed poll. Returns an unsubscribe function."""
        self._error_callbacks.append(callback)
        return lambda: self._error_callbacks.remove(callback) if callback in self._error_callbacks else None

    def start(self) -> bool:
        """Start polling on the running loop (False without one)."""
        return self.poller.start()

    async def poll_once(self) -> None:
        """One poll now (raises what it met, after showing it in the state and views)."""
        await self.poller.poll_once()

    def close(self) -> None:
        """Stop polling (needs no await); the server API client it owns is released in the background."""
        self.poller.close()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # no loop: the client (bound to a loop when first used) was never opened
        if self._own_admin:
            self._closer.spawn(self.admin.aclose(), name="close server API client")

    async def aclose(self) -> None:
        await self.poller.aclose()
        if self._own_admin:
            await self.admin.aclose()
        await self._closer.aclose()
