"""Rejoin after the SDK gives up: a session that watches a room survives a server restart or a long network drop.

The SDK resumes and reconnects on its own for a while (RECONNECTING -> CONNECTED); when it gives up it emits
`disconnected` and its `rtc.Room` is finished for good. A session joined with `rejoin=True` then connects a new
`rtc.Room` with back-off, rebuilds its `RoomState` from that room (a `Snapshot`, so what changed while away is
recorded as differences), and records the gap in the history. It does not rejoin when it was sent away on purpose
(left, removed, replaced by a session with the same identity, room deleted), and `leave()` stops it.

Example::

    session = await lk_notebook.join("demo", identity="watcher", rejoin=True)
    ...                                   # the server restarts: the session comes back on its own
    session.rejoin.rejoins, session.rejoin.last_gap
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import KW_ONLY, dataclass, field
from typing import Any

from .errors import AuthenticationError, CredentialsError, JoinError, LkNotebookError
from .events import ConnectionChanged, ConnectionStatus, ParticipantInfo
from .state import RoomState

__all__ = ["NO_REJOIN_REASONS", "RejoinStatus", "Rejoiner", "backoff", "should_rejoin"]

log = logging.getLogger("lk_notebook")

#: Disconnect reasons that mean "you were sent away", not "the connection broke". Rejoining after these would fight
#: the server or the user: a duplicate identity means a newer session took the identity over (re-running a join
#: cell), and rejoining would kick that one in turn, forever.
NO_REJOIN_REASONS = frozenset(
    {
        "CLIENT_INITIATED",
        "DUPLICATE_IDENTITY",
        "PARTICIPANT_REMOVED",
        "ROOM_DELETED",
        "ROOM_CLOSED",
        "USER_REJECTED",
        "USER_UNAVAILABLE",
        "SIP_TRUNK_FAILURE",
    }
)

#: Back-off between attempts: doubling from 0.5 s, at most 8 s, so a restarted server is found within ~8 s of
#: answering again while a server that stays down costs one attempt per 8 s.
FIRST_DELAY = 0.5
MAX_DELAY = 8.0

#: Errors after which another attempt cannot succeed (the credentials are refused or missing).
FATAL = (AuthenticationError, CredentialsError)


def should_rejoin(reason: str) -> bool:
    """Whether a disconnect with this reason (a `rtc.DisconnectReason` name) calls for a rejoin."""
    return reason not in NO_REJOIN_REASONS


def backoff(attempt: int) -> float:
    """Seconds to wait before attempt number `attempt` (0-based)."""
    return float(min(MAX_DELAY, FIRST_DELAY * 2 ** min(attempt, 16)))


@dataclass
class RejoinStatus:
    """What the rejoin machinery has done for one session (the dashboard shows it)."""

    enabled: bool = False
    active: bool = False
    """True while the connection is lost and attempts are being made."""
    since: float | None = None
    """Unix time the SDK gave up (start of the current or last gap)."""
    attempts: int = 0
    """Connection attempts in the current (or last) gap."""
    rejoins: int = 0
    """Gaps that ended with a successful rejoin."""
    last_gap: float | None = None
    """Seconds without a connection in the last successful rejoin."""
    last_error: str = ""
    """Why the last attempt failed (credentials and tokens never appear in it)."""

    def describe(self) -> str:
        """One short line for a status bar ("" when there is nothing to say)."""
        if self.active and self.since is not None:
            offline = time.time() - self.since
            why = f"; last: {self.last_error}" if self.last_error else ""
            return f"rejoining: attempt {self.attempts}, offline {offline:.0f} s{why}"
        if self.rejoins and self.last_gap is not None:
            times = f" ({self.rejoins} rejoins)" if self.rejoins > 1 else ""
            return f"rejoined after {self.last_gap:.1f} s offline{times}"
        return ""


async def rejoin_loop(
    state: RoomState,
    status: RejoinStatus,
    reason: str,
    attempt_once: Callable[[], Awaitable[None]],
    give_up: Callable[[str, BaseException], None],
) -> None:
    """Try `attempt_once` (connect a new room and apply its snapshot) with back-off until it succeeds.

    On success the state gets CONNECTED with the gap; on a fatal error (credentials refused) `give_up(reason,
    error)` ends the session. Cancelled by `leave()`.
    """
    status.active, status.since, status.attempts, status.last_error = True, time.time(), 0, ""
    state.apply(ConnectionChanged(ConnectionStatus.RECONNECTING, at=time.time(), reason=f"rejoining ({reason})"))
    try:
        while True:
            await asyncio.sleep(backoff(status.attempts))
            status.attempts += 1
            try:
                await attempt_once()
            except FATAL as exc:
                status.last_error = str(exc)
                give_up(reason, exc)
                return
            except (JoinError, LkNotebookError, OSError) as exc:
                status.last_error = str(exc).split("\n", 1)[0][:200]
                log.info("rejoin attempt %d failed: %s", status.attempts, status.last_error)
                continue
            break
    finally:
        status.active = False
    assert status.since is not None
    gap = time.time() - status.since
    status.rejoins += 1
    status.last_gap = gap
    state.apply(ConnectionChanged(ConnectionStatus.CONNECTED, at=time.time(), gap=gap))


@dataclass(eq=False, repr=False)
class Rejoiner:
    """Decides, when the SDK gives a room up, whether to rejoin, and runs `rejoin_loop` as an owned task.

    `connect(token)` connects a new room with a token from `token_factory(last_local_info)` (None: this session
    cannot get a token again); `give_up(reason, error)` ends the session.

    Example::

        rejoiner = Rejoiner(state, RejoinStatus(enabled=True), token_factory, spawn=tasks.spawn,
                            connect=connect_new_room, give_up=end)
        if not rejoiner.lost("SIGNAL_CLOSE", closed=False):
            end("SIGNAL_CLOSE", None)
    """

    state: RoomState
    status: RejoinStatus
    token_factory: Callable[[ParticipantInfo | None], str] | None
    _: KW_ONLY
    spawn: Callable[..., asyncio.Task[Any]]
    connect: Callable[[str], Awaitable[None]]
    give_up: Callable[[str, BaseException], None]
    _task: asyncio.Task[Any] | None = field(default=None, init=False)

    def lost(self, reason: str, *, closed: bool) -> bool:
        """The SDK gave a room up (`reason`: a `DisconnectReason` name). True when a rejoin handles it."""
        if self.status.active:
            return True  # a failed attempt's room: the loop goes on
        if closed or not self.status.enabled or not should_rejoin(reason):
            return False
        self._task = self.spawn(
            rejoin_loop(self.state, self.status, reason, self._attempt, self.give_up), name="rejoin"
        )
        return True

    async def _attempt(self) -> None:
        if self.token_factory is None:
            raise CredentialsError("this session has no way to get a token again; join again by hand")
        await self.connect(self.token_factory(self.state.local))

    async def stop(self) -> None:
        """Cancel a rejoin in progress (before leaving, so that no attempt connects a new room afterwards)."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
