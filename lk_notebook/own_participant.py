"""`OwnParticipant`: what the helpers of a `Session` that act as its participant are given (explicitly, in their
constructors), and the destination check they share."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from livekit import rtc

from . import limits
from .errors import PublishError
from .lifecycle import LifecycleGuard
from .routing import Router
from .state import RoomState

__all__ = ["OwnParticipant"]


@dataclass(frozen=True)
class OwnParticipant:
    """The session's own participant, as the helpers that act as it see it (own state, messages, streams, RPC):
    the current room's local participant, its identity and room, the room's state, the router its records go to
    and the session's lifecycle.

    Example::

        me = OwnParticipant(lambda: room.local_participant, "ann", "demo", state, router, guard)
        OwnStateWriter(me), Messaging(me), StreamSender(me), RpcCalls(me)
    """

    local: Callable[[], rtc.LocalParticipant]
    """The current room's local participant (a rejoin replaces the room)."""
    identity: str
    room_name: str
    state: RoomState
    router: Router
    guard: LifecycleGuard

    def require_data_permission(self, action: str) -> None:
        """PublishError unless the token grants `canPublishData`: without it the server drops every data packet
        and stream chunk the participant sends, and the SDK reports success, so nothing else would tell."""
        permissions = self.local().permissions
        if not permissions.can_publish_data:
            raise PublishError(
                f"cannot {action}: {self.identity!r}'s token lacks canPublishData, so the server would silently "
                f"drop what it sends; join with a token that grants it (the default Grants() does)."
            )

    def warn_unknown(self, destinations: Sequence[str], *, stacklevel: int) -> None:
        """An UnknownDestinationWarning, at the user's call (`stacklevel` counted from the caller), for
        destinations not in the room now: the server drops their data silently."""
        unknown = limits.unknown_destinations(destinations, self.state, room=self.room_name)
        if unknown is not None:
            warnings.warn(unknown, stacklevel=stacklevel + 1)

    def destinations(self, destinations: object, *, stacklevel: int) -> list[str]:
        """`destinations` checked (InvalidInputError), with the warning for absent identities."""
        dests = limits.check_destinations(destinations)
        self.warn_unknown(dests, stacklevel=stacklevel + 1)
        return list(dests)
