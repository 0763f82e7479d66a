"""One joined room: the SDK's `rtc.Room` behind typed events, a live `RoomState`, state changes and data messages.

Example::

    session = await lk_notebook.join("demo", identity="ann", attributes={"role": "host"})
    session.state.to_frame()                         # everyone's attributes and metadata, live
    await session.set_attributes({"status": "away"})
    await session.publish({"hello": "room"}, topic="chat")
    async for msg in session.messages(topic="chat"):
        print(msg.sender, msg.text)
    await session.leave()
"""

from __future__ import annotations

import asyncio
import logging
import time
import warnings
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from livekit import rtc
from livekit.rtc.participant import PublishDataError

from . import limits
from ._logging import scrub as _scrub
from ._logging import scrubbed_cause as _scrubbed_cause
from ._tasks import TaskOwner
from .config import Credentials
from .datatracks import DataTracks
from .errors import (
    CredentialsError,
    InvalidInputError,
    JoinError,
    JoinTimeoutError,
    LkNotebookError,
    PublishError,
    RoomGoneError,
    SessionClosedError,
    SizeWarning,
    TooLargeError,
    UnknownDestinationWarning,
)
from .events import (
    AttributesChanged,
    ConnectionChanged,
    ConnectionStatus,
    DataKind,
    Message,
    MetadataChanged,
    NameChanged,
    ParticipantActive,
    ParticipantInfo,
    ParticipantJoined,
    ParticipantLeft,
    RoomMetadataChanged,
    Snapshot,
    frozen_map,
    participant_kind,
)
from .join_errors import classify_join_error
from .own_state import OwnState
from .rejoin import RejoinStatus, rejoin_loop, should_rejoin
from .routing import ErrorCallback, MessageCallback, RawDataHandler, Router
from .rpc import RpcRecorder, wrap_handler
from .sending import StreamsAndRpc
from .state import RoomState
from .streams import StreamReceiver

if TYPE_CHECKING:
    import pandas as pd

    from .admin import ServerAPI

__all__ = ["RawDataHandler", "Session"]

log = logging.getLogger("lk_notebook")


SERVER_SENDER = "server"
DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
"""The server's reason when another connection joins the room with the same identity."""

TokenFactory = Callable[[ParticipantInfo | None], str]
"""`factory(last_local_info)` -> a token for rejoining."""


def _info(p: rtc.Participant, *, is_local: bool) -> ParticipantInfo:
    joined = p.joined_at
    return ParticipantInfo(
        identity=p.identity,
        sid=p.sid,
        name=p.name,
        metadata=p.metadata,
        attributes=frozen_map(p.attributes),
        is_local=is_local,
        active=is_local or p.state == rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE,
        joined_at=joined.timestamp() if joined is not None else None,
        kind=participant_kind(rtc.ParticipantKind.Name(p.kind)),
    )


class Session(OwnState, StreamsAndRpc):
    """A participant in one LiveKit room. Create with `await lk_notebook.join(...)`; use as `async with`.

    `state` is the live `RoomState` (complete when `join` returns); `status` the connection state;
    `room` the underlying `rtc.Room` for anything this class does not cover. Text and byte streams and RPC
    (`send_text`, `stream_text`, `send_bytes`, `stream_bytes`, `send_file`, `perform_rpc`, `register_rpc_method`)
    come from `StreamsAndRpc` (sending.py); every stream on any topic and every RPC call is recorded. Setting
    your own attributes, metadata and name (`set_attributes`, `set_metadata`, `set_name`) comes from `OwnState`
    (own_state.py).
    """

    def __init__(
        self,
        room_name: str,
        identity: str,
        *,
        url: str,
        credentials: Credentials | None,
        history_limit: int = 10_000,
        inbox_limit: int = 1_000,
        confirm_timeout: float = 5.0,
        hidden: bool = False,
        rejoin: bool = False,
        token_factory: TokenFactory | None = None,
    ) -> None:
        self.room_name = room_name
        self.identity = identity
        self.url = url
        self.credentials = credentials
        self.confirm_timeout = confirm_timeout
        """Seconds to wait for the server to echo a state change before calling it refused."""
        self.hidden = hidden
        """Joined with the hidden grant (an inspector): invisible to others, publishes nothing, no media."""
        self.state = RoomState(room_name, history_limit=history_limit)
        self.room = rtc.Room()
        self.tasks = TaskOwner(f"session {identity}@{room_name}", on_error=self._report)
        # Wired before connecting: tracks already published when we join are announced during connect.
        self.data_tracks = DataTracks(self.room, self.tasks)
        self.errors: deque[tuple[float, str, BaseException]] = deque(maxlen=100)
        self._error_callbacks: list[ErrorCallback] = []
        self.router = Router(identity, inbox_limit=inbox_limit, report=self._report)
        """Where received and sent messages, streams and RPC calls go: records, listeners, handlers."""
        self._streams = StreamReceiver(self.router, spawn=self.tasks.spawn)
        self._streams.attach(self.room)
        self._admin: ServerAPI | None = None
        self._left = False
        self._release_task: asyncio.Task[None] | None = None
        self.rejoin = RejoinStatus(enabled=rejoin)
        """What rejoining after lost connections has done (see lk_notebook.rejoin)."""
        self._token_factory = token_factory
        self._rejoin_task: asyncio.Task[None] | None = None
        self._connect_timeout = 20.0
        self._pending_attributes: dict[str, str] = {}
        """Own attribute values sent but not echoed yet (e.g. after confirm=False): the no-op check needs them."""
        self._wire()

    # -- the adapter: SDK callbacks -> typed events ---------------------------------------------------------------
    def _wire(self) -> None:
        r = self.room
        r.on("participant_connected", self._on_participant_connected)
        r.on("participant_disconnected", self._on_participant_disconnected)
        r.on("participant_active", self._on_participant_active)
        r.on("participant_attributes_changed", self._on_attributes)
        r.on("participant_metadata_changed", self._on_metadata)
        r.on("participant_name_changed", self._on_name)
        r.on("room_metadata_changed", self._on_room_metadata)
        r.on("data_received", self._on_data)
        r.on("reconnecting", self._on_reconnecting)
        r.on("reconnected", self._on_reconnected)
        r.on("disconnected", self._on_disconnected)

    def _is_local(self, p: rtc.Participant) -> bool:
        return p.identity == self.identity

    def _on_participant_connected(self, p: rtc.RemoteParticipant) -> None:
        self.state.apply(ParticipantJoined(_info(p, is_local=False), at=time.time()))

    def _on_participant_disconnected(self, p: rtc.RemoteParticipant) -> None:
        reason = rtc.DisconnectReason.Name(p.disconnect_reason) if p.disconnect_reason is not None else ""
        self.state.apply(ParticipantLeft(p.identity, reason, at=time.time()))

    def _on_participant_active(self, p: rtc.RemoteParticipant) -> None:
        self.state.apply(ParticipantActive(p.identity, at=time.time()))

    def _on_attributes(self, changed: dict[str, str], p: rtc.Participant) -> None:
        if p.identity == self.identity:
            for key in changed:  # the server has spoken for these keys: its value is the truth now
                self._pending_attributes.pop(key, None)
        self.state.apply(AttributesChanged(p.identity, frozen_map(changed), frozen_map(p.attributes), time.time()))

    def _on_metadata(self, p: rtc.Participant, old: str, new: str) -> None:
        self.state.apply(MetadataChanged(p.identity, old, new, at=time.time()))

    def _on_name(self, p: rtc.Participant, old: str, new: str) -> None:
        self.state.apply(NameChanged(p.identity, old, new, at=time.time()))

    def _on_room_metadata(self, old: str, new: str) -> None:
        self.state.apply(RoomMetadataChanged(old, new, at=time.time()))

    def _on_reconnecting(self) -> None:
        self.state.apply(ConnectionChanged(ConnectionStatus.RECONNECTING, at=time.time()))

    def _on_reconnected(self) -> None:
        # Events may have been missed while the signal connection was down: rebuild from what the SDK now knows
        # (it refreshes participants from the server on reconnect), then mark connected.
        self.state.apply(self._snapshot())
        self.state.apply(ConnectionChanged(ConnectionStatus.CONNECTED, at=time.time()))

    def _on_disconnected(self, reason: int) -> None:
        name = rtc.DisconnectReason.Name(reason) if reason in rtc.DisconnectReason.values() else str(reason)  # type: ignore[arg-type]
        if self.rejoin.active:
            return  # a failed attempt's room: the rejoin loop goes on
        if not self._left and self.rejoin.enabled and should_rejoin(name):
            self._rejoin_task = self.tasks.spawn(
                rejoin_loop(self.state, self.rejoin, name, self._rejoin_once, self._give_up), name="rejoin"
            )
            return
        self._give_up(name, None)

    def _give_up(self, name: str, error: BaseException | None) -> None:
        if self.state.status is not ConnectionStatus.DISCONNECTED:
            self.state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=time.time(), reason=name))
        if not self._left:
            problem: LkNotebookError
            if name == DUPLICATE_IDENTITY:
                problem = SessionClosedError(
                    f"removed by the server ({name}): another connection joined room {self.room_name!r} as "
                    f"{self.identity!r} (e.g. the join cell ran again). That newer session is the live one; this "
                    f"one is closed."
                )
            elif name == "ROOM_DELETED":
                problem = RoomGoneError(
                    f"room {self.room_name!r} was deleted on the server ({name}) while {self.identity!r} was in it; "
                    f"it no longer exists (joining again would create a new, empty room)."
                )
            elif error is not None:
                problem = SessionClosedError(f"disconnected ({name}) and could not rejoin: {error}")
            else:
                problem = SessionClosedError(f"disconnected by the server ({name}); join again")
            self._report("connection", problem)
            self.router.end()
            # Nothing of a session the server ended may keep running: its tasks and server-API client go now.
            self._release_task = asyncio.get_running_loop().create_task(self._release())

    async def _release(self) -> None:
        await self.tasks.aclose()
        if self._admin is not None:
            await self._admin.aclose()
            self._admin = None

    def _on_data(self, packet: rtc.DataPacket) -> None:
        sender = packet.participant.identity if packet.participant is not None else SERVER_SENDER
        kind = DataKind.RELIABLE if packet.kind == rtc.DataPacketKind.KIND_RELIABLE else DataKind.LOSSY
        self.router.on_packet(packet.data, sender=sender, topic=packet.topic or "", kind=kind, at=time.time())

    def _snapshot(self) -> Snapshot:
        parts = [_info(self.room.local_participant, is_local=True)]
        parts.extend(_info(p, is_local=False) for p in self.room.remote_participants.values())
        return Snapshot(self.room_name, self.room.metadata, tuple(parts), at=time.time())

    # -- errors ---------------------------------------------------------------------------------------------------
    def _report(self, where: str, exc: BaseException) -> None:
        self.errors.append((time.time(), where, exc))
        log.warning("%s: %s", where, exc)
        for cb in tuple(self._error_callbacks):
            try:
                cb(where, exc)
            except Exception:
                log.exception("error callback failed")

    def on_error(self, callback: ErrorCallback) -> Callable[[], None]:
        """Be told of background failures (`callback(where, exception)`). Returns an unsubscribe function."""
        self._error_callbacks.append(callback)
        return lambda: self._error_callbacks.remove(callback) if callback in self._error_callbacks else None

    # -- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def status(self) -> ConnectionStatus:
        return self.state.status

    @property
    def closed(self) -> bool:
        return self._left or self.state.status is ConnectionStatus.DISCONNECTED

    @property
    def disconnect_reason(self) -> str:
        """Why the session ended ("" while it is not disconnected): "left", "join failed", or the server's
        `DisconnectReason` name. `DUPLICATE_IDENTITY` means a newer connection took this identity: rejoining
        would evict that one in turn, so nothing should rejoin such a session automatically."""
        return self.state.disconnect_reason if self.state.status is ConnectionStatus.DISCONNECTED else ""

    def closed_error(self, action: str) -> SessionClosedError:
        """The error for trying to `action` on this closed session: it says why the session is closed."""
        reason = self.disconnect_reason
        if self._left or reason in ("", "left"):
            why = f"has left room {self.room_name!r}"
        else:
            why = f"was disconnected from room {self.room_name!r} ({reason})"
        return SessionClosedError(
            f"cannot {action}: session {self.identity!r} {why}. Join again with lk_notebook.join(...)."
        )

    def _require_open(self, action: str) -> None:
        if self.closed:
            raise self.closed_error(action)

    async def _connect(self, token: str, *, timeout: float) -> None:
        self._connect_timeout = timeout
        try:
            await self._connect_room(token, timeout=timeout)
        except JoinError:
            await self._abandon()
            raise
        self.state.apply(self._snapshot())
        self.state.apply(ConnectionChanged(ConnectionStatus.CONNECTED, at=time.time()))

    async def _rejoin_once(self) -> None:
        """One rejoin attempt: a new rtc.Room with the same handlers, a fresh token, then the room's snapshot."""
        if self._token_factory is None:
            raise CredentialsError("this session has no way to get a token again; join again by hand")
        self.room = rtc.Room()
        # The same handlers as the first room: data tracks and streams here, the rest in _wire and _connect_room.
        self.data_tracks.attach(self.room)
        self._streams.attach(self.room)
        self._wire()
        await self._connect_room(self._token_factory(self.state.local), timeout=self._connect_timeout)
        self.state.apply(self._snapshot())

    async def _connect_room(self, token: str, *, timeout: float) -> None:
        # An inspector subscribes to no media (data tracks it subscribes to on demand, through data_tracks).
        opts = rtc.RoomOptions(auto_subscribe=not self.hidden, connect_timeout=min(timeout, 10.0))
        try:
            await asyncio.wait_for(self.room.connect(self.url, token, opts), timeout)
        except asyncio.TimeoutError as exc:
            raise JoinTimeoutError(
                f"joining {self.room_name!r} at {self.url} did not complete within {timeout:.0f} s. The server "
                f"answered but media setup (ICE) did not finish: check that UDP reaches it.",
                url=self.url,
                room=self.room_name,
            ) from exc
        except rtc.ConnectError as exc:
            refused: rtc.ConnectError | None = exc
        else:
            refused = None
        if refused is not None:
            # Raised outside the except block, with a scrubbed stand-in as the cause: the SDK's error quotes the
            # token, and even `from None` would keep it reachable as __context__.
            error = await classify_join_error(self.url, self.room_name, token, str(refused))
            raise error from _scrubbed_cause(refused)
        self.room.local_participant.add_rpc_interceptor(RpcRecorder(self.router, identity=self.identity))
        # The router keeps the registered RPC methods; a rejoin's new room must answer them too.
        for method, handler in self.router.rpc_methods.items():
            self.room.local_participant.register_rpc_method(method, wrap_handler(method, handler))  # type: ignore[arg-type]

    async def _abandon(self) -> None:
        self._left = True
        self.state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=time.time(), reason="join failed"))
        try:
            await self.room.disconnect()
        except Exception:  # the room never connected; nothing to release beyond best effort
            log.debug("disconnect after failed join", exc_info=True)

    async def leave(self) -> None:
        """Disconnect and stop every background task. Safe to call twice."""
        if self._left:
            return
        self._left = True
        if self._rejoin_task is not None:
            # First, so that no attempt connects a new room after the disconnect below.
            self._rejoin_task.cancel()
            await asyncio.gather(self._rejoin_task, return_exceptions=True)
        try:
            await self.room.disconnect()
        finally:
            await self.tasks.aclose()
            if self._admin is not None:
                await self._admin.aclose()
                self._admin = None
            self.router.end()
            if self.state.status is not ConnectionStatus.DISCONNECTED:
                self.state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=time.time(), reason="left"))

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.leave()

    def __repr__(self) -> str:
        return (
            f"<Session {self.identity!r}{' (hidden)' if self.hidden else ''} in {self.room_name!r} at {self.url} "
            f"{self.status.value}, "
            f"{len(self.state)} participants>"
        )

    # -- waiting on state ---------------------------------------------------------------------------------------
    async def wait_for(self, predicate: Callable[[RoomState], bool], *, timeout: float = 5.0) -> bool:
        """Wait until `predicate(state)` is true (checked now and after every change). False on timeout.

        A participant you wait on may not be in the room yet, so guard lookups: `"bob" in s and s.get("bob")...`.
        An exception from the predicate ends the wait with that exception (see RoomState.wait_until).
        """
        return await self.state.wait_until(predicate, timeout=timeout)

    # -- data messages --------------------------------------------------------------------------------------------
    async def publish(
        self,
        payload: limits.Payload,
        *,
        reliable: bool = True,
        topic: str | None = None,
        destinations: Sequence[str] | None = None,
    ) -> Message:
        """Send a data message to the room, or only to `destinations` (identities). Returns what was sent.

        `payload`: str (UTF-8), bytes, or a dict/list (sent as compact JSON). Over the SDK's hard limit: an error
        before sending. Over LiveKit's advice (15 KiB reliable, ~1300 B lossy): a SizeWarning. Unknown
        destination identities: an UnknownDestinationWarning (the server silently drops those).
        """
        self._require_open("publish")
        if self.hidden:
            raise PublishError(
                f"{self.identity!r} is inspecting {self.room_name!r} hidden and publishes nothing; join without "
                f"hidden=True to send."
            )
        data = limits.encode_payload(payload)
        if topic is not None and not isinstance(topic, str):
            raise InvalidInputError(f"topic must be a string, not {type(topic).__name__}")
        if isinstance(destinations, str):
            raise InvalidInputError("destinations must be a list of identities, not a single string")
        dests = tuple(destinations or ())
        for d in dests:
            if not isinstance(d, str) or not d:
                raise InvalidInputError(f"destination identities must be non-empty strings; got {d!r}")
        unknown = [d for d in dests if d not in self.state]
        if unknown:
            warnings.warn(
                UnknownDestinationWarning(
                    f"{', '.join(map(repr, unknown))} not in room {self.room_name!r} now; the server drops data "
                    f"for absent identities without telling anyone."
                ),
                stacklevel=2,
            )
        size = limits.packet_size(data, topic=topic or "", destinations=dests, identity=self.identity)
        mode = "reliable" if reliable else "lossy"
        if size > limits.SDK_MAX_PACKET_BYTES:
            raise TooLargeError(
                f"{mode} message of {len(data)} bytes encodes to {size} bytes, over the SDK's "
                f"{limits.SDK_MAX_PACKET_BYTES}-byte limit; nothing was sent. Split it, or use a data stream "
                f"(room.local_participant.send_bytes / stream_text), which chunks large payloads.",
                size=size,
                limit=limits.SDK_MAX_PACKET_BYTES,
                what=f"{mode} message",
            )
        advised = limits.RELIABLE_ADVISED_BYTES if reliable else limits.LOSSY_ADVISED_BYTES
        if len(data) > advised:
            why = (
                "large reliable messages delay every message behind them (head-of-line blocking)"
                if reliable
                else "a lossy message spread over several datagrams is lost if any one of them is"
            )
            warnings.warn(
                SizeWarning(f"{mode} message of {len(data)} bytes is over LiveKit's advice of {advised}: {why}."),
                stacklevel=2,
            )
        try:
            await self.room.local_participant.publish_data(
                data, reliable=reliable, destination_identities=list(dests), topic=topic or ""
            )
        except PublishDataError as exc:
            raise PublishError(f"the SDK refused the {mode} message: {_scrub(str(exc))}") from exc
        kind = DataKind.RELIABLE if reliable else DataKind.LOSSY
        msg = Message(self.identity, topic or "", kind, data, time.time(), destinations=dests, sent=True)
        self.router.deliver(msg)
        return msg

    def messages(self, *, topic: str | None = None, maxsize: int = 1_000) -> AsyncIterator[Message]:
        """Received messages from now on, as an async iterator (optionally one topic only). It ends when the
        session leaves. If the consumer falls behind by `maxsize` messages, the oldest are dropped."""
        self._require_open("receive messages")
        return self.router.messages(topic=topic, maxsize=maxsize)

    def on_message(
        self, callback: MessageCallback, *, topic: str | None = None, include_sent: bool = False
    ) -> Callable[[], None]:
        """Call `callback(message)` for each received (and, with `include_sent`, sent) message. Returns an
        unsubscribe function. Callbacks run on the event loop: keep them quick."""
        return self.router.on_message(callback, topic=topic, include_sent=include_sent)

    def add_raw_handler(self, topic: str, handler: RawDataHandler) -> Callable[[], None]:
        """Hand every message on `topic` straight to `handler(payload, sender, kind, arrival)`, bypassing the
        inbox and callbacks. For high-rate consumers such as the delivery lab. Returns a remove function."""
        return self.router.add_raw_handler(topic, handler)

    @property
    def inbox(self) -> tuple[Message, ...]:
        """The most recent messages, received and sent, oldest first (at most `inbox_limit`; see `inbox_dropped`)."""
        return self.router.inbox

    @property
    def inbox_dropped(self) -> int:
        """How many messages the inbox has let go, oldest first, to stay within `inbox_limit`."""
        return self.router.inbox_dropped

    def messages_frame(self, *, include_sent: bool = False) -> pd.DataFrame:
        """Recent messages as a DataFrame: sender, topic, kind, size, payload (text where UTF-8), received_at."""
        return self.router.messages_frame(include_sent=include_sent)

    # -- server API ----------------------------------------------------------------------------------------------
    @property
    def admin(self) -> ServerAPI:
        """The server API with this session's credentials (not available when joined with a bare token)."""
        if self.credentials is None:
            raise CredentialsError(
                "this session joined with a token only; the server API needs an API key and secret "
                "(pass them, or set LIVEKIT_API_KEY / LIVEKIT_API_SECRET, and use lk_notebook.ServerAPI)."
            )
        if self._admin is None:
            # After leave() nothing would close a new client (its HTTP session would leak, with a warning at exit).
            self._require_open("use session.admin (use `async with lk_notebook.ServerAPI(...)` instead)")
            from .admin import ServerAPI

            self._admin = ServerAPI(self.credentials)
        return self._admin
