"""Where a `Session` is in its life, and the one place that says what cannot be done in its current state.

The phases are the session's own (as httpx's `ClientState`): `RoomState.status` is what the room looks like from
the connection (it is also a `RoomState` without a session, as `ApiObserver`'s), while a session that has left can
never be used again whatever its state says. Every "cannot do X now" error comes from `LifecycleGuard`.

Example::

    guard = LifecycleGuard("demo", "ann", state)
    guard.move(Lifecycle.CONNECTED)
    guard.close("left")
    guard.require_open("publish")          # SessionClosedError: "cannot publish: session 'ann' is closed (has left...)"
"""

from __future__ import annotations

import asyncio
import enum

from .errors import EventLoopError, LkNotebookError, RoomGoneError, SessionClosedError
from .events import ConnectionStatus
from .state import RoomState

__all__ = ["DUPLICATE_IDENTITY", "Lifecycle", "LifecycleGuard", "ended_by_server"]

DUPLICATE_IDENTITY = "DUPLICATE_IDENTITY"
"""The server's reason when another connection joins the room with the same identity."""


class Lifecycle(str, enum.Enum):
    """A session's phase. Only CLOSED refuses work: while RECONNECTING the SDK queues what it can."""

    NEW = "new"
    """Created, not connected yet (`join` connects it)."""
    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    """The SDK is resuming, or the session is rejoining with a new room."""
    CLOSED = "closed"
    """Left, failed to join, or ended by the server: final."""


class LifecycleGuard:
    """Holds a session's `Lifecycle` and builds the error for anything its phase refuses."""

    def __init__(self, room_name: str, identity: str, state: RoomState) -> None:
        self.room_name = room_name
        self.identity = identity
        self.state = state
        self.phase = Lifecycle.NEW
        self.closed_by = ""
        """Why it closed: "left", "join failed" (the session's own doing) or the server's `DisconnectReason`."""
        self.loop: asyncio.AbstractEventLoop | None = None
        """The event loop the session joined on: the SDK delivers its events there, so it must keep running."""

    def move(self, phase: Lifecycle) -> None:
        """Enter a phase before CLOSED (`close` ends it); nothing reopens a closed session (a late SDK callback
        after `leave()` cannot)."""
        if self.phase is not Lifecycle.CLOSED:
            self.phase = phase

    def close(self, reason: str) -> None:
        """Enter CLOSED for `reason` (the first reason stays: the SDK's CLIENT_INITIATED after a leave does not
        replace "left")."""
        if self.phase is not Lifecycle.CLOSED:
            self.phase, self.closed_by = Lifecycle.CLOSED, reason

    @property
    def closed(self) -> bool:
        return self.phase is Lifecycle.CLOSED

    @property
    def disconnect_reason(self) -> str:
        return self.state.disconnect_reason if self.state.status is ConnectionStatus.DISCONNECTED else ""

    def closed_error(self, action: str) -> SessionClosedError:
        """The error for trying to `action` now: it names the phase and why the session is closed."""
        if self.closed_by in ("", "left", "join failed"):
            why = f"has left room {self.room_name!r}"
        else:
            why = f"was disconnected from room {self.room_name!r} ({self.closed_by})"
        return SessionClosedError(
            f"cannot {action}: session {self.identity!r} is {self.phase.value} ({why}). "
            f"Join again with lk_notebook.join(...)."
        )

    def require_open(self, action: str) -> None:
        if self.closed:
            raise self.closed_error(action)
        self.require_live_loop(action)

    def require_live_loop(self, action: str) -> None:
        """EventLoopError if the loop the session joined on has stopped: nothing would receive the server's
        answers (each `run_sync` or `asyncio.run` call in a script makes a new loop and stops it at the end)."""
        loop = self.loop
        if loop is None or (loop.is_running() and not loop.is_closed()):
            return
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return
        raise EventLoopError(
            f"cannot {action}: session {self.identity!r} joined {self.room_name!r} on an event loop that is no "
            f"longer running (it {'was closed' if loop.is_closed() else 'stopped'} after that call), so the "
            f"server's answers would never be received. In a script, do all the work in one coroutine: "
            f"`asyncio.run(main())` with `await lk_notebook.join(...)` and `await session...` inside it; "
            f"run_sync is for synchronous callbacks inside a notebook."
        )


def ended_by_server(reason: str, *, room_name: str, identity: str, error: BaseException | None) -> LkNotebookError:
    """The error that says why the server ended a session (`reason`: a `DisconnectReason` name) for good."""
    if reason == DUPLICATE_IDENTITY:
        return SessionClosedError(
            f"removed by the server ({reason}): another connection joined room {room_name!r} as {identity!r} (e.g. "
            f"the join cell ran again). That newer session is the live one; this one is closed."
        )
    if reason == "ROOM_DELETED":
        return RoomGoneError(
            f"room {room_name!r} was deleted on the server ({reason}) while {identity!r} was in it; it no longer "
            f"exists (joining again would create a new, empty room)."
        )
    if error is not None:
        return SessionClosedError(f"disconnected ({reason}) and could not rejoin: {error}")
    return SessionClosedError(f"disconnected by the server ({reason}); join again")
