"""One joined room: the SDK's `rtc.Room` behind typed events, a live `RoomState`, state changes and data messages.

Example::

    session = await lk_notebook.join("demo", identity="ann", attributes={"role": "host"})
    session.state.to_frame()                         # everyone's attributes and metadata, live
    await session.set_attributes({"status": "away"})
    await session.publish({"hello": "room"}, topic="chat")
    bob = await session.wait_for_participant("bob", timeout=10)   # peers show up on the server's ~3 s tick
    msg = await session.next_message(topic="chat", timeout=10)     # WaitTimeoutError if nothing comes
    await session.leave()
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import TYPE_CHECKING

from livekit import rtc

from ._delegate import delegate
from ._logging import scrubbed_cause
from ._tasks import TaskOwner
from .agents.tracker import AgentsTracker
from .config import Credentials
from .datatracks import DataTracks
from .errors import CredentialsError, JoinTimeoutError, SessionClosedError
from .events import ConnectionChanged, ConnectionStatus, Message, ParticipantInfo, RpcRecord, StreamRecord
from .join_errors import classify_join_error
from .lifecycle import DUPLICATE_IDENTITY, Lifecycle, LifecycleGuard, ended_by_server
from .messaging import Messaging
from .native_exit import quiet_native_exit
from .own_participant import OwnParticipant
from .own_state import OwnStateWriter
from .rejoin import Rejoiner, RejoinStatus
from .room_events import RoomEvents
from .routing import ErrorLog, RawDataHandler, Router
from .rpc import RpcCalls, answer_grace
from .senders import SenderLookup
from .state import RoomState
from .stream_sender import StreamSender
from .streams import StreamReceiver
from .waiting import Waiting

if TYPE_CHECKING:
    from .admin import ServerAPI

# DUPLICATE_IDENTITY is kept importable from here (it lived here; widgets import it). SERVER_SENDER is gone on
# purpose: a packet without a sender is not provably the server's (see Message.sender).
__all__ = ["DUPLICATE_IDENTITY", "RawDataHandler", "Session"]

log = logging.getLogger("lk_notebook")

TokenFactory = Callable[[ParticipantInfo | None], str]
"""`factory(last_local_info)` -> a token for rejoining."""


class Session(AbstractAsyncContextManager["Session"]):
    """A participant in one LiveKit room. Create with `await lk_notebook.join(...)`; use as `async with`.

    `state` is the live `RoomState` (complete when `join` returns); `status` the connection state; `lifecycle`
    the session's own phase; `room` the underlying `rtc.Room` for anything this class does not cover. Its methods
    are those of the helpers it holds (below), each given what it needs. Every stream on any topic and every RPC
    call is recorded.
    """

    def __init__(
        self, room_name: str, identity: str, *, url: str, credentials: Credentials | None, history_limit: int = 10_000,
        inbox_limit: int = 1_000, confirm_timeout: float = 5.0, hidden: bool = False, rejoin: bool = False,
        token_factory: TokenFactory | None = None,
    ) -> None:  # fmt: skip
        self.room_name, self.identity, self.url, self.credentials = room_name, identity, url, credentials
        self.hidden = hidden
        """Joined with the hidden grant (an inspector): invisible to others, publishes nothing, no media. Its own
        `state` leaves it out too, so the room it shows is the room everyone else sees."""
        self.state = RoomState(room_name, history_limit=history_limit)
        self.room = rtc.Room()
        self._error_log = ErrorLog()
        self.errors = self._error_log.entries
        """Recent background failures as (time, where, exception), oldest first (see `on_error`)."""
        self.tasks = TaskOwner(f"session {identity}@{room_name}", on_error=self._error_log.report)
        # Wired before connecting: tracks already published when we join are announced during connect.
        self.data_tracks = DataTracks(self.room, self.tasks)
        self.router = Router(identity, inbox_limit=inbox_limit, report=self._error_log.report)
        """Where received and sent messages, streams and RPC calls go: records, listeners, handlers."""
        self.lifecycle = LifecycleGuard(room_name, identity, self.state)

        def local() -> rtc.LocalParticipant:  # the current room's: a rejoin replaces the room
            return self.room.local_participant

        me = OwnParticipant(local, identity, room_name, self.state, self.router, self.lifecycle)
        self._own = OwnStateWriter(me, confirm_timeout=confirm_timeout)
        self._messaging = Messaging(me, hidden=hidden)
        self._sender = StreamSender(me)
        self._rpc = RpcCalls(me)
        self._receiver = StreamReceiver(self.router, spawn=self.tasks.spawn)
        self.agents = AgentsTracker(
            self.state, self._receiver, own_identity=identity, hidden=hidden, sender=self._sender
        )
        """The LiveKit Agents agents in the room, decoded live: identity -> AgentView (lk_notebook.agents)."""
        self._waiting = Waiting(self.state, self.router, identity=identity)
        self._events = RoomEvents(
            identity, self.state, self.router, self.lifecycle, own_echo=self._own.echoed, on_disconnected=self._lost,
            hidden=hidden,
        )  # fmt: skip
        self._admin = AdminHandle(credentials, self.lifecycle)
        self.sender_lookup = SenderLookup.watching(self)
        """Fills `Message.sender_candidates` (only with API credentials: it asks the server who is in the room)."""
        self._release_task: asyncio.Task[None] | None = None
        self.rejoin = RejoinStatus(enabled=rejoin)
        """What rejoining after lost connections has done (see lk_notebook.rejoin)."""
        self._rejoiner = Rejoiner(
            self.state, self.rejoin, token_factory, spawn=self.tasks.spawn, connect=self._rejoin, give_up=self._give_up
        )
        self._connect_timeout = 20.0
        self._receiver.attach(self.room)
        self._events.wire(self.room)

    # -- what the helpers do, as the session's own methods ------------------------------------------------------
    on_error = delegate(ErrorLog.on_error, "_error_log")
    set_attributes = delegate(OwnStateWriter.set_attributes, "_own")
    set_metadata = delegate(OwnStateWriter.set_metadata, "_own")
    set_name = delegate(OwnStateWriter.set_name, "_own")
    publish = delegate(Messaging.publish, "_messaging")
    messages = delegate(Messaging.messages, "_messaging")
    on_message = delegate(Messaging.on_message, "_messaging")
    add_raw_handler = delegate(Messaging.add_raw_handler, "_messaging")
    messages_frame = delegate(Messaging.messages_frame, "_messaging")
    next_message = delegate(Messaging.next_message, "_messaging")
    next_stream = delegate(Waiting.next_stream, "_waiting")
    wait_for = delegate(Waiting.wait_for, "_waiting")
    wait_for_participant = delegate(Waiting.wait_for_participant, "_waiting")
    send_text = delegate(StreamSender.send_text, "_sender")
    stream_text = delegate(StreamSender.stream_text, "_sender")
    send_bytes = delegate(StreamSender.send_bytes, "_sender")
    stream_bytes = delegate(StreamSender.stream_bytes, "_sender")
    send_file = delegate(StreamSender.send_file, "_sender")
    register_text_stream_handler = delegate(StreamReceiver.register_text_stream_handler, "_receiver")
    register_byte_stream_handler = delegate(StreamReceiver.register_byte_stream_handler, "_receiver")
    unregister_text_stream_handler = delegate(StreamReceiver.unregister_text_stream_handler, "_receiver")
    unregister_byte_stream_handler = delegate(StreamReceiver.unregister_byte_stream_handler, "_receiver")
    keep_streams_in = delegate(StreamReceiver.keep_streams_in, "_receiver")
    on_stream = delegate(StreamReceiver.on_stream, "_receiver")
    perform_rpc = delegate(RpcCalls.perform_rpc, "_rpc")
    register_rpc_method = delegate(RpcCalls.register_rpc_method, "_rpc")
    unregister_rpc_method = delegate(RpcCalls.unregister_rpc_method, "_rpc")
    on_rpc = delegate(RpcCalls.on_rpc, "_rpc")

    @property
    def inbox(self) -> tuple[Message, ...]:
        """The most recent messages, received and sent, oldest first (at most `inbox_limit`; see `inbox_dropped`)."""
        return self.router.inbox

    @property
    def inbox_dropped(self) -> int:
        """How many messages the inbox has let go, oldest first, to stay within `inbox_limit`."""
        return self.router.inbox_dropped

    @property
    def streams(self) -> tuple[StreamRecord, ...]:
        """The latest record of each recent stream, received and sent, oldest first (bounded)."""
        return self.router.streams

    @property
    def rpc_calls(self) -> tuple[RpcRecord, ...]:
        """Recent RPC calls made and answered, oldest first (bounded)."""
        return self.router.rpc_calls

    @property
    def confirm_timeout(self) -> float:
        """Seconds to wait for the server to echo a state change before calling it refused."""
        return self._own.confirm_timeout

    @confirm_timeout.setter
    def confirm_timeout(self, seconds: float) -> None:
        self._own.confirm_timeout = seconds

    @property
    def rpc_payload_limit(self) -> int:
        """Largest RPC payload `perform_rpc` sends (bytes); see `RpcCalls.payload_limit`."""
        return self._rpc.payload_limit

    @rpc_payload_limit.setter
    def rpc_payload_limit(self, size: int) -> None:
        self._rpc.payload_limit = size

    # -- lifecycle ------------------------------------------------------------------------------------------------
    @property
    def status(self) -> ConnectionStatus:
        return self.state.status

    @property
    def closed(self) -> bool:
        return self.lifecycle.closed

    @property
    def disconnect_reason(self) -> str:
        """Why the session ended ("" while it is not disconnected): "left" (this session's `leave()`), "join
        failed", or the server's `DisconnectReason` name (e.g. "ROOM_DELETED", "PARTICIPANT_REMOVED",
        "SERVER_SHUTDOWN"). (`state.disconnect_reason` keeps what the SDK reported, "CLIENT_INITIATED" after a
        leave.) `DUPLICATE_IDENTITY` means a newer connection took this identity: rejoining
        would evict that one in turn, so nothing should rejoin such a session automatically."""
        if self.lifecycle.closed_by in ("left", "join failed"):
            # leave() makes the SDK report CLIENT_INITIATED, which would hide that this session chose to go.
            return self.lifecycle.closed_by
        return self.lifecycle.disconnect_reason

    def closed_error(self, action: str) -> SessionClosedError:
        """The error for trying to `action` on this closed session: it says why the session is closed."""
        return self.lifecycle.closed_error(action)

    async def _connect(self, token: str, *, timeout: float) -> None:
        self._connect_timeout = timeout
        self.lifecycle.loop = asyncio.get_running_loop()
        self.lifecycle.move(Lifecycle.CONNECTING)
        try:
            await self._connect_room(token, timeout=timeout)
        except BaseException:  # a JoinError, or the cell interrupted mid-join: never a half-connected room
            await self._abandon()
            raise
        self.state.apply(ConnectionChanged(ConnectionStatus.CONNECTED, at=time.time()))

    async def _connect_room(self, token: str, *, timeout: float) -> None:
        """Connect the current room, then make the state the room's snapshot: connected."""
        await connect_room(self.room, self.url, token, room_name=self.room_name, timeout=timeout, hidden=self.hidden)
        self._rpc.attach(self.room.local_participant)
        self.state.apply(self._events.snapshot(self.room))
        self.lifecycle.move(Lifecycle.CONNECTED)

    def _lost(self, reason: str) -> None:
        """The SDK gave up the room: rejoin if this session should, else it is closed."""
        if self._rejoiner.lost(reason, closed=self.closed):
            self.lifecycle.move(Lifecycle.RECONNECTING)
        else:
            self._give_up(reason, None)

    async def _rejoin(self, token: str) -> None:
        """One rejoin attempt: a new rtc.Room with the same handlers, then the room's snapshot."""
        self.room = rtc.Room()
        self.data_tracks.attach(self.room)
        self._receiver.attach(self.room)
        self._events.wire(self.room)
        await self._connect_room(token, timeout=self._connect_timeout)

    def _give_up(self, reason: str, error: BaseException | None) -> None:
        was_closed = self.closed
        self.lifecycle.close(reason)
        if self.state.status is not ConnectionStatus.DISCONNECTED:
            self.state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=time.time(), reason=reason))
        if not was_closed:
            self._error_log.report(
                "connection", ended_by_server(reason, room_name=self.room_name, identity=self.identity, error=error)
            )
            self.router.end()
            # Nothing of a session the server ended may keep running: its tasks and server-API client go now.
            self._release_task = asyncio.get_running_loop().create_task(self._release())
            # Nobody may await it (no leave() after the server ended the session): its failure is reported.
            self._release_task.add_done_callback(self._error_log.report_task("releasing the session"))

    async def _release(self) -> None:
        self.agents.close()
        await self.tasks.aclose()
        await self._admin.aclose()

    async def _abandon(self) -> None:
        self.lifecycle.close("join failed")
        self.state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=time.time(), reason="join failed"))
        with contextlib.suppress(Exception):  # the room never connected: nothing to release beyond best effort
            await self.room.disconnect()

    async def leave(self) -> None:
        """Disconnect and stop every background task. Safe to call twice. Right after a handler answered an RPC
        call, waits up to `rpc.ANSWER_GRACE_S` (0.5 s) so that the answer gets out first."""
        if not self.closed:
            # an answer a handler just gave is still on its way out through the native layer
            await asyncio.sleep(answer_grace(self.router.rpc_calls, time.time()))
        if self.closed:
            if self._release_task is not None:  # ended by the server: what it runs may not have stopped yet
                await self._release_task
            return
        self.lifecycle.close("left")
        await self._rejoiner.stop()
        try:
            await self.room.disconnect()
        finally:
            await self._release()
            self.router.end()
            if self.state.status is not ConnectionStatus.DISCONNECTED:
                self.state.apply(ConnectionChanged(ConnectionStatus.DISCONNECTED, at=time.time(), reason="left"))

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.leave()

    def __repr__(self) -> str:
        return (
            f"<Session {self.identity!r}{' (hidden)' if self.hidden else ''} in {self.room_name!r} at {self.url} "
            f"{self.status.value}, {len(self.state)} participants>"
        )

    @property
    def admin(self) -> ServerAPI:
        """The server API with this session's credentials (not available when joined with a bare token)."""
        return self._admin.get()


async def connect_room(room: rtc.Room, url: str, token: str, *, room_name: str, timeout: float, hidden: bool) -> None:
    """Connect `room`; a refusal or timeout raises the JoinError that says why (the token never appears in it)."""
    # An inspector subscribes to no media (data tracks it subscribes to on demand, through data_tracks).
    opts = rtc.RoomOptions(auto_subscribe=not hidden, connect_timeout=min(timeout, 10.0))
    quiet_native_exit()  # before the first native request: see native_exit (a refused join aborted at exit in CI)
    try:
        await asyncio.wait_for(room.connect(url, token, opts), timeout)
    except asyncio.TimeoutError as exc:
        raise JoinTimeoutError(
            f"joining {room_name!r} at {url} did not complete within {timeout:.0f} s. The server answered but media "
            f"setup (ICE) did not finish: check that UDP reaches it.",
            url=url,
            room=room_name,
        ) from exc
    except rtc.ConnectError as exc:
        refused: rtc.ConnectError | None = exc
    else:
        refused = None
    if refused is not None:
        # Raised outside the except block, with a scrubbed stand-in as the cause: the SDK's error quotes the
        # token, and even `from None` would keep it reachable as __context__.
        error = await classify_join_error(url, room_name, token, str(refused))
        raise error from scrubbed_cause(refused)


class AdminHandle:
    """A session's server-API client: made on first use with its credentials, closed when the session ends."""

    def __init__(self, credentials: Credentials | None, guard: LifecycleGuard) -> None:
        self._credentials = credentials
        self._guard = guard
        self._api: ServerAPI | None = None

    def get(self) -> ServerAPI:
        if self._credentials is None:
            raise CredentialsError(
                "this session joined with a token only; the server API needs an API key and secret "
                "(pass them, or set LIVEKIT_API_KEY / LIVEKIT_API_SECRET, and use lk_notebook.ServerAPI)."
            )
        if self._api is None:
            # After leave() nothing would close a new client (its HTTP session would leak, with a warning at exit).
            self._guard.require_open("use session.admin (use `async with lk_notebook.ServerAPI(...)` instead)")
            from .admin import ServerAPI

            self._api = ServerAPI(self._credentials)
        return self._api

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None
