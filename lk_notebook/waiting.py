"""Waiting with a deadline: `Session.wait_for`, `wait_for_participant` and `next_stream` are this helper's.

Each one raises `WaitTimeoutError` saying what it waited for (and, for a participant, who *is* in the room), so a
script or a notebook cell needs no hand-written `eventually` loop. `wait_for` keeps its old answer (False on timeout)
unless asked with `raise_on_timeout=True`.

Example::

    waiting = Waiting(state, router, identity="ann")
    bob = await waiting.wait_for_participant("bob", timeout=10)
    record = await waiting.next_stream(topic="files", timeout=30)
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from .errors import InvalidInputError, WaitTimeoutError
from .events import ParticipantInfo, StreamRecord, StreamState
from .routing import Router
from .state import RoomState

__all__ = ["Waiting"]

# A data-only peer is announced on the server's 3 s tick (spec/livekit-facts.md): a wait shorter than that for a
# participant who just joined is a race, so the default leaves room for two ticks.
PARTICIPANT_TIMEOUT = 10.0


def _check_timeout(timeout: float) -> float:
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise InvalidInputError(f"timeout must be a positive number of seconds, not {timeout!r}")
    return float(timeout)


class Waiting:
    """Deadline-bound waits on one session's room state and stream records."""

    def __init__(self, state: RoomState, router: Router, *, identity: str) -> None:
        self.state = state
        self.router = router
        self.identity = identity

    async def wait_for(
        self,
        predicate: Callable[[RoomState], bool],
        *,
        timeout: float = 5.0,
        raise_on_timeout: bool = False,
        what: str = "",
    ) -> bool:
        """Wait until `predicate(state)` is true (checked now and after every change). On timeout: False, or with
        `raise_on_timeout=True` a WaitTimeoutError naming `what` (default: the predicate).

        A participant you wait on may not be in the room yet, so guard lookups: `"bob" in s and s.get("bob")...`
        (or use `wait_for_participant`). An exception from the predicate ends the wait with that exception.
        """
        if await self.state.wait_until(predicate, timeout=_check_timeout(timeout)):
            return True
        if raise_on_timeout:
            described = what or getattr(predicate, "__name__", "the condition")
            raise WaitTimeoutError(
                f"{described} did not become true within {timeout} s in room {self.state.room!r}",
                what=described,
                timeout=float(timeout),
            )
        return False

    async def wait_for_participant(self, identity: str, *, timeout: float = PARTICIPANT_TIMEOUT) -> ParticipantInfo:
        """Wait until `identity` is in the room and return it. WaitTimeoutError after `timeout` s names who is.

        A peer that publishes nothing is announced to others on the server's 3 s tick, so right after it joins it
        can be in the room for up to ~3 s before this session sees it (and before RPC or addressed messages to it
        are accepted here): wait for it first.
        """
        if not isinstance(identity, str) or not identity:
            raise InvalidInputError(f"identity must be a non-empty string, not {identity!r}")
        if await self.state.wait_until(lambda s: identity in s, timeout=_check_timeout(timeout)):
            found = self.state.get(identity)
            if found is not None:
                return found
        present = ", ".join(repr(p.identity) for p in self.state if p.identity != self.identity) or "nobody else"
        raise WaitTimeoutError(
            f"{identity!r} did not appear in room {self.state.room!r} within {timeout} s (in the room: {present})",
            what=f"participant {identity!r}",
            timeout=float(timeout),
        )

    def next_stream(
        self, *, topic: str | None = None, sender: str | None = None, timeout: float = 30.0
    ) -> Awaitable[StreamRecord]:
        """The next text or byte stream received (on `topic`, from `sender`, if given) that *ends* after this call:
        its final record (`state` finished, or aborted). WaitTimeoutError after `timeout` s.

        Listening starts at the call, so a waiter made before the peer sends misses nothing::

            done = session.next_stream(topic="files")
            ...                                   # the peer sends
            record = await done                   # record.received, record.sha256, record.text
        """
        seconds = _check_timeout(timeout)
        ended: asyncio.Future[StreamRecord] = asyncio.get_running_loop().create_future()

        def on_stream(record: StreamRecord) -> None:
            if ended.done() or record.sent or record.state is StreamState.STARTED:
                return
            if (topic is None or record.topic == topic) and (sender is None or record.sender == sender):
                ended.set_result(record)

        unsubscribe = self.router.on_stream(on_stream)

        async def wait() -> StreamRecord:
            try:
                return await asyncio.wait_for(ended, seconds)
            except asyncio.TimeoutError:
                where = "".join(
                    (f" on topic {topic!r}" if topic is not None else "", f" from {sender!r}" if sender else "")
                )
                raise WaitTimeoutError(
                    f"no stream{where} finished within {timeout} s", what="stream", timeout=seconds
                ) from None
            finally:
                unsubscribe()

        return wait()
