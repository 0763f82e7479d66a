"""Data messages of a `Session`: `publish`, checked by `limits.check_publish` (the Composer's meter uses the same
check) and recorded on the router like a received message; and the receiving side (`messages`, `on_message`...).

Example::

    messaging = Messaging(OwnParticipant(lambda: room.local_participant, "ann", "demo", state, router, guard))
    await messaging.publish({"hello": "room"}, topic="chat")
"""

from __future__ import annotations

import time
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from livekit.rtc.participant import PublishDataError

from . import limits
from ._logging import scrub
from .errors import PublishError
from .events import DataKind, Message
from .own_participant import OwnParticipant
from .routing import MessageCallback, RawDataHandler

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Messaging"]


class Messaging:
    """Sends data messages as the session's participant (`me`); received and sent messages reach their
    consumers through `me.router`."""

    def __init__(self, me: OwnParticipant, *, hidden: bool = False) -> None:
        self.me = me
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
        self.me.guard.require_open("publish")
        if self.hidden:
            raise PublishError(
                f"{self.me.identity!r} is inspecting {self.me.room_name!r} hidden and publishes nothing; join "
                f"without hidden=True to send."
            )
        self.me.require_data_permission("publish")
        data = limits.encode_payload(payload)
        check = limits.check_publish(
            data, reliable=reliable, topic=topic, destinations=destinations, identity=self.me.identity
        )
        dests = check.destinations
        self.me.warn_unknown(dests, stacklevel=2)
        error = check.too_large()
        if error is not None:
            raise error
        advice = check.over_advice()
        if advice is not None:
            warnings.warn(advice, stacklevel=2)
        try:
            await self.me.local().publish_data(
                data, reliable=reliable, destination_identities=list(dests), topic=check.topic
            )
        except PublishDataError as exc:
            raise PublishError(f"the SDK refused the {check.mode} message: {scrub(str(exc))}") from exc
        kind = DataKind.RELIABLE if reliable else DataKind.LOSSY
        msg = Message(self.me.identity, check.topic, kind, data, time.time(), destinations=dests, sent=True)
        self.me.router.deliver(msg)
        return msg

    # -- receiving ----------------------------------------------------------------------------------------------
    def messages(
        self,
        *,
        topic: str | None = None,
        maxsize: int = 1_000,
        count: int | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Message]:
        """Received messages from the moment of this call, as an async iterator (optionally one topic only).

        It ends when the session leaves, or after `count` messages. With `timeout` (seconds, for the whole
        iteration) it raises WaitTimeoutError if it has not ended by then. If the consumer falls behind by
        `maxsize` messages, the oldest are dropped.

            async for msg in session.messages(topic="chat", count=3, timeout=10):
                print(msg.sender, msg.text)
        """
        self.me.guard.require_open("receive messages")
        return self.me.router.messages(topic=topic, maxsize=maxsize, count=count, timeout=timeout)

    def next_message(self, *, topic: str | None = None, timeout: float = 10.0) -> Awaitable[Message]:
        """The next message received (on `topic`, if given) after this call; WaitTimeoutError after `timeout` s.

        Listening starts at the call, so a waiter made before sending misses nothing::

            reply = session.next_message(topic="chat")
            await session.publish("ping", topic="chat")
            print((await reply).text)
        """
        iterator = self.messages(topic=topic, count=1, timeout=timeout)

        async def first() -> Message:
            async for msg in iterator:
                return msg
            raise self.me.guard.closed_error("receive messages")

        return first()

    def on_message(
        self, callback: MessageCallback, *, topic: str | None = None, include_sent: bool = False
    ) -> Callable[[], None]:
        """Call `callback(message)` for each received (and, with `include_sent`, sent) message. Returns an
        unsubscribe function. Callbacks run on the event loop: keep them quick."""
        return self.me.router.on_message(callback, topic=topic, include_sent=include_sent)

    def add_raw_handler(self, topic: str, handler: RawDataHandler) -> Callable[[], None]:
        """Hand every message on `topic` straight to `handler(payload, sender, kind, arrival)`, bypassing the
        inbox and callbacks. For high-rate consumers such as the delivery lab. Returns a remove function."""
        return self.me.router.add_raw_handler(topic, handler)

    def messages_frame(self, *, include_sent: bool = False, all_columns: bool = False) -> pd.DataFrame:
        """Recent data packets, streams and RPC calls received (and sent, with `include_sent`) as a DataFrame, one
        row each, oldest first.

        Every row: `type` (packet, text_stream, byte_stream, rpc), `sender` (missing for a packet that came
        without one: never "server", see `Message.sender`), `sender_candidates` (for those packets, who the server
        listed that the session had not been told of; see `Message.sender_candidates`), `topic`, `kind` (reliable
        or lossy, as `Message.kind`), `size` (bytes), `payload` (text where UTF-8, else bytes), `received_at` (UTC
        Timestamp), `sent`, `destinations`. Stream rows add `stream_id`, `name`, `mime_type`, `announced_size`,
        `state`, `goodput`, `sha256`, `attributes`; RPC rows add `method`, `response`, `error_code`, `latency`.
        Those columns appear only when the frame has such a row (None on the other rows); `all_columns=True`
        always gives all 22 (`lk_notebook.routing.FRAME_COLUMNS`), for code that selects them unconditionally."""
        return self.me.router.messages_frame(include_sent=include_sent, all_columns=all_columns)
