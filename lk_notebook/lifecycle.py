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

import enum

from .errors import LkNotebookError, RoomGoneError, SessionClosedError
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
