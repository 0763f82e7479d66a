"""Who may have sent a data packet that came without a sender: `Message.sender_candidates`.

The SDK names a data packet's sender only when it already knows the participant (livekit-ffi sends identity ''
otherwise), so a packet from a peer the server has not announced yet, one sent through the server API and one from
a hidden participant all arrive alike. The server's participant list narrows it down: whoever it lists that the
session had not been told of when the packet arrived may have sent it. Hidden participants are not listed.

The look-up runs after the message is delivered (it never holds the receive path), asks the server at most once
per `min_interval` and answers every message that arrived meanwhile with that one list.

Example::

    lookup = SenderLookup.watching(session)   # what a Session does for itself
    ...
    msg = session.inbox[-1]                    # Message(sender=None, ..., sender_candidates=('bob',))
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any

from .events import Message

if TYPE_CHECKING:
    from .session import Session

__all__ = ["SenderLookup", "candidates"]

ListIdentities = Callable[[], Awaitable[Iterable[str]]]
"""The identities the server lists in the session's room now (the server API's ListParticipants)."""


def candidates(listed: Iterable[str], known_at_arrival: frozenset[str]) -> tuple[str, ...]:
    """Listed identities the session did not know when the packet arrived, sorted."""
    return tuple(sorted(set(listed) - known_at_arrival))


class SenderLookup:
    """Completes messages without a sender with `sender_candidates`, from one server listing per `min_interval`."""

    def __init__(
        self,
        list_identities: ListIdentities,
        *,
        known: Callable[[], Iterable[str]],
        identity: str,
        complete: Callable[[Message, Message], object],
        spawn: Callable[[Coroutine[Any, Any, None]], object],
        min_interval: float = 0.5,
    ) -> None:
        self._list = list_identities
        self._known = known
        self._identity = identity
        self._complete = complete
        self._spawn = spawn
        self.min_interval = min_interval
        """At most one server listing per this many seconds (a flood of server-API packets costs 2 calls/s)."""
        self._pending: list[tuple[Message, frozenset[str]]] = []
        self._running = False
        self._last_start = -float("inf")
        self.lookups = 0
        """Server listings made so far."""

    @classmethod
    def watching(cls, session: Session) -> SenderLookup:
        """A look-up over `session`'s received messages, asking its server API; idle without API credentials."""

        async def listed() -> list[str]:
            return [p.identity for p in await session.admin.list_participants(session.room_name)]

        def spawn(run: Coroutine[Any, Any, None]) -> None:
            if session.tasks.closed:  # a packet that came while the session was leaving: nobody to ask any more
                run.close()
            else:
                session.tasks.spawn(run, name="sender candidates")

        lookup = cls(
            listed,
            known=lambda: session.state.participants,
            identity=session.identity,
            complete=session.router.replace_message,
            spawn=spawn,
        )
        if session.credentials is not None:
            session.router.on_message(lookup.arrived)
        return lookup

    def arrived(self, msg: Message) -> None:
        """An `on_message` callback: queue a received message without a sender, start a look-up if none runs."""
        if msg.sent or msg.sender is not None:
            return
        # What the session knew at arrival: a participant announced after it is still a candidate.
        self._pending.append((msg, frozenset(self._known()) | {self._identity}))
        if not self._running:
            self._running = True
            self._spawn(self._run())

    async def _run(self) -> None:
        try:
            while self._pending:
                wait = self._last_start + self.min_interval - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                batch, self._pending = self._pending, []
                # Started after every message of the batch arrived: a sender that had joined is listed.
                self._last_start = time.monotonic()
                self.lookups += 1
                listed = list(await self._list())
                for msg, known in batch:
                    self._complete(msg, dataclasses.replace(msg, sender_candidates=candidates(listed, known)))
        finally:
            self._running = False
            # A failed listing leaves these unresolved (None); the failure reaches the session's error log.
            self._pending.clear()
