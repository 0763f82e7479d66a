"""Data messages of a `Session`: `publish`, checked by `limits.check_publish` (the Composer's meter uses the same
check) and recorded on the router like a received message; and the receiving side (`messages`, `on_message`...).

Example::

    messaging = Messaging(SendContext(lambda: room.local_participant, "ann", "demo", state, router, guard))
    await messaging.publish({"hello": "room"}, topic="chat")
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livekit import rtc
from livekit.rtc.participant import PublishDataError

from . import limits
from ._logging import scrub
from .errors import PublishError
from .events import DataKind, Message
from .lifecycle import LifecycleGuard
from .routing import MessageCallback, RawDataHandler, Router
from .state import RoomState

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Messaging", "SendContext"]


@dataclass(frozen=True)
class SendContext:
    """What the helpers that act as the session's participant need (messages, own state, streams, RPC).

    Example::

        ctx = SendContext(lambda: room.local_participant, "ann", "demo", state, router, guard)
        Messaging(ctx), StreamSender(ctx), RpcCalls(ctx)
    """

    local: Callable[[], rtc.LocalParticipant]
    """The current room's local participant (a rejoin replaces the room)."""
    identity: str
    room_name: str
    state: RoomState
    router: Router
    guard: LifecycleGuard

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


class Messaging:
    """Sends data messages as the session's participant (`ctx`); received and sent messages reach their
    consumers through `ctx.router`."""

    def __init__(self, ctx: SendContext, *, hidden: bool = False) -> None:
        self.ctx = ctx
        self.hidden = hidden

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
        self.ctx.guard.require_open("publish")
        if self.hidden:
            raise PublishError(
                f"{self.ctx.identity!r} is inspecting {self.ctx.room_name!r} hidden and publishes nothing; join "
                f"without hidden=True to send."
            )
        data = limits.encode_payload(payload)
        check = limits.check_publish(
            data, reliable=reliable, topic=topic, destinations=destinations, identity=self.ctx.identity
        )
        dests = check.destinations
        self.ctx.warn_unknown(dests, stacklevel=2)
        error = check.too_large()
        if error is not None:
            raise error
        advice = check.over_advice()
        if advice is not None:
            warnings.warn(advice, stacklevel=2)
        try:
            await self.ctx.local().publish_data(
                data, reliable=reliable, destination_identities=list(dests), topic=check.topic
            )
        except PublishDataError as exc:
            raise PublishError(f"the SDK refused the {check.mode} message: {scrub(str(exc))}") from exc
        kind = DataKind.RELIABLE if reliable else DataKind.LOSSY
        msg = Message(self.ctx.identity, check.topic, kind, data, time.time(), destinations=dests, sent=True)
        self.ctx.router.deliver(msg)
        return msg

    # -- receiving ----------------------------------------------------------------------------------------------
    def messages(self, *, topic: str | None = None, maxsize: int = 1_000) -> AsyncIterator[Message]:
        """Received messages from now on, as an async iterator (optionally one topic only). It ends when the
        session leaves. If the consumer falls behind by `maxsize` messages, the oldest are dropped."""
        self.ctx.guard.require_open("receive messages")
        return self.ctx.router.messages(topic=topic, maxsize=maxsize)

    def on_message(
        self, callback: MessageCallback, *, topic: str | None = None, include_sent: bool = False
    ) -> Callable[[], None]:
        """Call `callback(message)` for each received (and, with `include_sent`, sent) message. Returns an
        unsubscribe function. Callbacks run on the event loop: keep them quick."""
        return self.ctx.router.on_message(callback, topic=topic, include_sent=include_sent)

    def add_raw_handler(self, topic: str, handler: RawDataHandler) -> Callable[[], None]:
        """Hand every message on `topic` straight to `handler(payload, sender, kind, arrival)`, bypassing the
        inbox and callbacks. For high-rate consumers such as the delivery lab. Returns a remove function."""
        return self.ctx.router.add_raw_handler(topic, handler)

    def messages_frame(self, *, include_sent: bool = False) -> pd.DataFrame:
        """Recent messages as a DataFrame: sender, topic, kind, size, payload (text where UTF-8), received_at."""
        return self.ctx.router.messages_frame(include_sent=include_sent)
