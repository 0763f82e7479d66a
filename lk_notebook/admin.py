"""The server API (RoomService over Twirp): rooms, room metadata, any participant's state, server-sent data.

Example::

    async with ServerAPI() as admin:                       # credentials resolved like join()
        await admin.create_room("demo", metadata='{"topic": "intro"}')
        await admin.update_participant("demo", "ann", attributes={"role": "moderator"})
        await admin.send_data("demo", {"notice": "closing soon"}, topic="system")
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, TypeVar

import aiohttp
from livekit import api
from livekit.protocol import models
from livekit.protocol import room as room_proto

from . import limits
from .config import Credentials, resolve_credentials
from .errors import AdminError, InvalidInputError
from .events import ParticipantInfo, ParticipantKind, PublishedDataTrack, frozen_map, participant_kind

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["RoomSummary", "ServerAPI", "metadata_preview", "rooms_frame"]

T = TypeVar("T")

# How long closing a ServerAPI waits for the answers of calls in flight before it closes their connections.
CLOSE_GRACE_S = 10.0


@dataclass(frozen=True, slots=True)
class RoomSummary:
    """A room as the server lists it."""

    name: str
    sid: str
    metadata: str
    num_participants: int
    created_at: float
    """Unix time (seconds, with milliseconds where the server gives them)."""
    empty_timeout: int
    num_publishers: int = 0


def _room(r: models.Room) -> RoomSummary:
    created = r.creation_time_ms / 1000 if r.creation_time_ms else float(r.creation_time)
    return RoomSummary(r.name, r.sid, r.metadata, r.num_participants, created, r.empty_timeout, r.num_publishers)


ParticipantCache = dict[str, tuple[str, int, ParticipantInfo]]
"""identity -> (sid, server version, converted participant): see `ServerAPI.participants_and_data_tracks`."""

METADATA_PREVIEW = 80
"""Characters of room metadata shown in room lists (the full text is one `list_rooms` away)."""


def metadata_preview(metadata: str, limit: int = METADATA_PREVIEW) -> str:
    """The first `limit` characters of `metadata` on one line, with "…" when cut."""
    flat = " ".join(metadata.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def rooms_frame(rooms: Sequence[RoomSummary]) -> pd.DataFrame:
    """Rooms as a DataFrame indexed by name: participants, publishers, created_at (UTC), metadata preview, sid."""
    import pandas as pd

    ordered = sorted(rooms, key=lambda r: r.name)
    frame: pd.DataFrame = pd.DataFrame(
        {
            "participants": [r.num_participants for r in ordered],
            "publishers": [r.num_publishers for r in ordered],
            "created_at": pd.to_datetime([r.created_at for r in ordered], unit="s", utc=True),
            "metadata": [metadata_preview(r.metadata) for r in ordered],
            "sid": [r.sid for r in ordered],
        },
        index=pd.Index([r.name for r in ordered], name="room", dtype="object"),
    )
    return frame


_ACTIVE = models.ParticipantInfo.State.ACTIVE
# Looked up once: an observer converts every participant of a 500-person room on every poll.
_KINDS = {number: participant_kind(name) for name, number in models.ParticipantInfo.Kind.items()}


def _participant(p: models.ParticipantInfo) -> ParticipantInfo:
    return ParticipantInfo(
        identity=p.identity,
        sid=p.sid,
        name=p.name,
        metadata=p.metadata,
        attributes=frozen_map(p.attributes),
        active=p.state == _ACTIVE,
        joined_at=p.joined_at_ms / 1000 if p.joined_at_ms else float(p.joined_at) if p.joined_at else None,
        kind=_KINDS.get(p.kind, ParticipantKind.STANDARD),
    )


def stale_connection(exc: BaseException) -> bool:
    """Whether `exc` is aiohttp finding a pooled keep-alive connection closed by the server as it sent a request.

    The server closes an idle keep-alive connection on its own timer; when its FIN crosses our next request, aiohttp
    reports the request on that connection as "Server disconnected" (a clean close), "Connection reset by peer"
    (ECONNRESET) or "Cannot write to closing transport". A refused or failed connect (`ClientConnectorError`) is
    not this: a new connection failed, and trying again at once would fail the same way.
    """
    if isinstance(exc, aiohttp.ClientConnectorError):
        return False
    if isinstance(exc, (aiohttp.ServerDisconnectedError, aiohttp.ClientConnectionResetError)):
        return True
    return isinstance(exc, aiohttp.ClientOSError) and exc.errno == errno.ECONNRESET


class ServerAPI:
    """Async server API client for one deployment. Create inside the running loop (a notebook cell is fine).

    Credentials: a `Credentials`, else resolved like `join()` (arguments, LIVEKIT_* variables, local server).
    """

    def __init__(
        self,
        credentials: Credentials | None = None,
        *,
        url: str | None = None,
        api_key: str | None = None,
        api_secret: str | None = None,
    ) -> None:
        self.credentials = credentials or resolve_credentials(url, api_key, api_secret)
        self._api: api.LiveKitAPI | None = None
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"<ServerAPI {self.credentials.http_url} key={self.credentials.api_key!r}>"

    @property
    def _client(self) -> api.LiveKitAPI:
        if self._api is None:
            # LiveKitAPI binds an aiohttp session to the running loop: create it lazily, inside the loop.
            c = self.credentials
            self._api = api.LiveKitAPI(c.http_url, c.api_key, c.api_secret)
        return self._api

    async def aclose(self) -> None:
        """Close the HTTP client once the calls in flight have their answers (at most `CLOSE_GRACE_S`).

        A session closes its client when the server ends it, and `session.admin.delete_room(session.room_name)` ends
        it while the delete's answer is on its way: closing at once broke that call (CI: "Session is closed" from
        aiohttp, after the room was deleted).
        """
        if self._in_flight:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._idle.wait(), CLOSE_GRACE_S)
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    async def __aenter__(self) -> ServerAPI:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def _call(self, operation: str, request: Callable[[], Awaitable[T]], *, repeatable: bool) -> T:
        """Await `request()`, mapping failures to `AdminError`; a repeatable request is sent again once when the
        pooled connection it went out on turned out to be closed by the server (`stale_connection`)."""
        self._in_flight += 1
        self._idle.clear()
        try:
            return await self._call_once(operation, request, repeatable=repeatable)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._idle.set()

    async def _call_once(self, operation: str, request: Callable[[], Awaitable[T]], *, repeatable: bool) -> T:
        try:
            return await self._send(request, repeatable=repeatable)
        except api.TwirpError as exc:
            if exc.status in (401, 403):
                # The server answers a bad signature with an empty "unknown" Twirp error: say what it means.
                raise AdminError(
                    f"{operation} failed: the server refused the API key and secret (HTTP {exc.status}, "
                    f"unauthenticated). Check that LIVEKIT_API_KEY / LIVEKIT_API_SECRET match the server's keys.",
                    operation=operation,
                    status=exc.status,
                ) from exc
            if exc.message:
                detail = f"{exc.code}: {exc.message}"
            else:  # not LiveKit's own error (it always says what): "unknown: " alone would tell nothing
                detail = f"HTTP {exc.status} with no LiveKit error in the answer"
                if exc.status >= 500:
                    detail += " (a proxy in front of the server answered, or the server is restarting or overloaded)"
            raise AdminError(f"{operation} failed: {detail}", operation=operation, status=exc.status) from exc
        except (OSError, asyncio.TimeoutError) as exc:
            raise AdminError(
                f"{operation} failed: cannot reach {self.credentials.http_url} ({exc})", operation=operation
            ) from exc
        except Exception as exc:
            if type(exc).__module__.startswith("aiohttp"):
                raise AdminError(f"{operation} failed: {exc}", operation=operation) from exc
            raise

    @staticmethod
    async def _send(request: Callable[[], Awaitable[T]], *, repeatable: bool) -> T:
        try:
            return await request()
        except aiohttp.ClientConnectionError as exc:
            if not (repeatable and stale_connection(exc)):
                raise
        # CI once failed delete_room with "Server disconnected": aiohttp reused a keep-alive connection the server
        # had just closed, and aiohttp itself never resends a POST (only idempotent HTTP methods). The new attempt
        # opens a fresh connection.
        return await request()

    # -- rooms ----------------------------------------------------------------------------------------------------
    async def create_room(
        self,
        name: str,
        *,
        metadata: str | None = None,
        empty_timeout: int | None = None,
        node_id: str | None = None,
    ) -> RoomSummary:
        """Create a room (or return the existing one), optionally with metadata.

        `node_id` pins a new room to that node of a multi-node deployment (`LocalCluster.node_ids`). LiveKit keeps a
        room on the node already hosting it while that node reports (within 5 s), and does not check the id.
        """
        req = room_proto.CreateRoomRequest(name=name)
        if node_id is not None:
            req.node_id = node_id
        if metadata is not None:
            req.metadata = limits.check_metadata(metadata)
        if empty_timeout is not None:
            req.empty_timeout = empty_timeout
        return _room(await self._call("create_room", lambda: self._client.room.create_room(req), repeatable=True))

    async def list_rooms(self, names: Sequence[str] | None = None) -> list[RoomSummary]:
        req = room_proto.ListRoomsRequest(names=list(names or []))
        res = await self._call("list_rooms", lambda: self._client.room.list_rooms(req), repeatable=True)
        return [_room(r) for r in res.rooms]

    async def rooms_frame(self, names: Sequence[str] | None = None) -> pd.DataFrame:
        """Every room on the server (or those named) as a DataFrame: participants, publishers, created_at (a
        tz-aware UTC timestamp), a metadata preview and the sid, indexed by room name.

        The counts are the server's own and lag: livekit-server 1.13 refreshes them about every 5 s (measured: a
        room with two participants listed 0 for the first 5 s). `list_participants` is exact.

        Example::

            await admin.rooms_frame()
        """
        return rooms_frame(await self.list_rooms(names))

    async def delete_room(self, name: str) -> None:
        req = room_proto.DeleteRoomRequest(room=name)
        await self._call("delete_room", lambda: self._client.room.delete_room(req), repeatable=True)

    async def update_room_metadata(self, room: str, metadata: str) -> RoomSummary:
        """Set the room's metadata; every participant gets a RoomMetadataChanged event."""
        value = limits.check_metadata(metadata)
        req = room_proto.UpdateRoomMetadataRequest(room=room, metadata=value)
        return _room(
            await self._call(
                "update_room_metadata", lambda: self._client.room.update_room_metadata(req), repeatable=True
            )
        )

    # -- participants ---------------------------------------------------------------------------------------------
    async def list_participants(self, room: str) -> list[ParticipantInfo]:
        return (await self.participants_and_data_tracks(room))[0]

    async def participants_and_data_tracks(
        self, room: str, *, cache: ParticipantCache | None = None
    ) -> tuple[list[ParticipantInfo], list[PublishedDataTrack]]:
        """Everyone in `room` (sorted by identity) and every data track they publish, from one `list_participants`.

        With a `cache` (kept by the caller between polls), a participant whose server-side version has not moved
        is not converted again: an observer of a 500-person room then spends its time on what changed.
        """
        req = room_proto.ListParticipantsRequest(room=room)
        res = await self._call("list_participants", lambda: self._client.room.list_participants(req), repeatable=True)
        tracks = [PublishedDataTrack(p.identity, t.name, t.sid) for p in res.participants for t in p.data_tracks]
        if cache is None:
            people = [_participant(p) for p in res.participants]
        else:
            people = []
            fresh: ParticipantCache = {}
            for p in res.participants:
                hit = cache.get(p.identity)
                # The server bumps `version` on every change to a participant (state, name, metadata, attributes).
                info = hit[2] if hit is not None and hit[0] == p.sid and hit[1] == p.version else _participant(p)
                fresh[p.identity] = (p.sid, p.version, info)
                people.append(info)
            cache.clear()
            cache.update(fresh)  # participants who left drop out
        people.sort(key=lambda p: p.identity)
        return people, sorted(tracks, key=lambda t: (t.publisher, t.name))

    async def update_participant(
        self,
        room: str,
        identity: str,
        *,
        attributes: Mapping[str, str] | None = None,
        metadata: str | None = None,
        name: str | None = None,
    ) -> ParticipantInfo:
        """Change anyone's attributes (value "" deletes a key), metadata or name. Needs no permission of theirs."""
        req = room_proto.UpdateParticipantRequest(room=room, identity=identity)
        if attributes is not None:
            # The merged size is the server's to check (we do not know their current set); validate types here.
            clean = limits.check_attributes({}, attributes)
            for k, v in clean.items():
                req.attributes[k] = v
        if metadata is not None:
            value = limits.check_metadata(metadata)
            if value == "":
                raise InvalidInputError('LiveKit treats empty metadata as \'no change\'; set "{}" or " " instead.')
            req.metadata = value
        if name is not None:
            req.name = name
        return _participant(
            await self._call("update_participant", lambda: self._client.room.update_participant(req), repeatable=True)
        )

    async def remove_participant(self, room: str, identity: str) -> None:
        req = room_proto.RoomParticipantIdentity(room=room, identity=identity)
        await self._call("remove_participant", lambda: self._client.room.remove_participant(req), repeatable=True)

    # -- data -----------------------------------------------------------------------------------------------------
    async def send_data(
        self,
        room: str,
        payload: limits.Payload,
        *,
        reliable: bool = True,
        topic: str | None = None,
        destinations: Sequence[str] | None = None,
    ) -> None:
        """Send a data message from the server. Receivers get it without a sender (`Message.sender` None), exactly
        like a packet from a participant they have not been told of yet or from a hidden one: nothing in it says
        it came from the server."""
        data = limits.encode_payload(payload)
        # The server proto's enum is the inverse of the client SDK's (RELIABLE=0, LOSSY=1 here).
        kind = models.DataPacket.Kind.RELIABLE if reliable else models.DataPacket.Kind.LOSSY
        req = room_proto.SendDataRequest(
            room=room, data=data, kind=kind, destination_identities=list(destinations or [])
        )
        if topic:
            req.topic = topic
        # Not repeatable: a request the server read before the connection dropped has delivered its packet, and a
        # second attempt would deliver it twice (a room or participant update sets a value, so repeating it is a
        # no-op).
        await self._call("send_data", lambda: self._client.room.send_data(req), repeatable=False)
