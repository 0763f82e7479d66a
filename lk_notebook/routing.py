"""Message routing: where everything a session receives (or sends) goes once the SDK has handed it over.

`Router` owns the inbox, the `messages()` subscriptions, the `on_message` callbacks and the raw per-topic
handlers. It never touches the SDK: `Session` (the adapter) turns SDK callbacks into typed records and calls
`deliver` / `on_packet`. Keeping it apart from the room lets a session swap its `rtc.Room` (a rejoin) without
losing what was received or who listens.

Example::

    router = Router("ann", inbox_limit=100, report=lambda where, exc: print(where, exc))
    router.on_message(print, topic="chat")
    router.on_packet(b"hi", sender="bob", topic="chat", kind=DataKind.RELIABLE, at=time.time())
    router.inbox                    # (Message(sender='bob', topic='chat', ...),)
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

from .errors import InvalidInputError
from .events import DataKind, Message

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ErrorCallback", "MessageCallback", "RawDataHandler", "Router"]

RawDataHandler = Callable[[bytes, str, DataKind, float], None]
"""`handler(payload, sender, kind, arrival_time)`: the fast path the lab uses for its own topic."""
MessageCallback = Callable[[Message], None]
ErrorCallback = Callable[[str, BaseException], None]


class _Subscription:
    """A bounded queue behind one `messages()` iterator; the oldest message is dropped when it is full."""

    def __init__(self, topic: str | None, maxsize: int) -> None:
        self.topic = topic
        self.queue: asyncio.Queue[Message | None] = asyncio.Queue(maxsize)
        self.dropped = 0

    def put(self, item: Message | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
            self.dropped += 1
        self.queue.put_nowait(item)


class Router:
    """Inbox, subscriptions, callbacks and raw handlers for one session's data messages.

    `report(where, exc)` receives a callback's or handler's exception: they run on the event loop inside SDK
    dispatch, where the SDK would only log them.
    """

    def __init__(self, identity: str, *, inbox_limit: int, report: ErrorCallback) -> None:
        self.identity = identity
        self._report = report
        self._inbox: deque[Message] = deque(maxlen=inbox_limit)
        self._message_callbacks: list[tuple[str | None, bool, MessageCallback]] = []
        self._subscriptions: set[_Subscription] = set()
        self._raw_handlers: dict[str, RawDataHandler] = {}

    # -- in -------------------------------------------------------------------------------------------------------
    def on_packet(self, payload: bytes, *, sender: str, topic: str, kind: DataKind, at: float) -> None:
        """A data packet arrived: to the topic's raw handler if it has one, else into the inbox and to listeners."""
        raw = self._raw_handlers.get(topic)
        if raw is not None:
            try:
                raw(payload, sender, kind, at)
            except Exception as exc:  # the SDK would only log it; views show session errors
                self._report(f"raw handler for topic {topic!r}", exc)
            return
        self.deliver(Message(sender, topic, kind, payload, at))

    def deliver(self, msg: Message) -> None:
        """Record `msg` (received or sent) and hand it to callbacks and, if received, to subscriptions."""
        self._inbox.append(msg)
        for topic, include_sent, callback in tuple(self._message_callbacks):
            if (topic is None or topic == msg.topic) and (include_sent or not msg.sent):
                try:
                    callback(msg)
                except Exception as exc:
                    self._report("message callback", exc)
        if not msg.sent:
            for sub in self._subscriptions:
                if sub.topic is None or sub.topic == msg.topic:
                    sub.put(msg)

    def end(self) -> None:
        """End every `messages()` iterator (the session left or was disconnected)."""
        for sub in self._subscriptions:
            sub.put(None)

    # -- listeners ------------------------------------------------------------------------------------------------
    def messages(self, *, topic: str | None = None, maxsize: int = 1_000) -> AsyncIterator[Message]:
        """See `Session.messages`."""
        sub = _Subscription(topic, maxsize)
        self._subscriptions.add(sub)

        async def iterate() -> AsyncIterator[Message]:
            try:
                while True:
                    item = await sub.queue.get()
                    if item is None:
                        return
                    yield item
            finally:
                self._subscriptions.discard(sub)

        return iterate()

    def on_message(
        self, callback: MessageCallback, *, topic: str | None = None, include_sent: bool = False
    ) -> Callable[[], None]:
        """See `Session.on_message`."""
        entry = (topic, include_sent, callback)
        self._message_callbacks.append(entry)
        return lambda: self._message_callbacks.remove(entry) if entry in self._message_callbacks else None

    def add_raw_handler(self, topic: str, handler: RawDataHandler) -> Callable[[], None]:
        """See `Session.add_raw_handler`."""
        if topic in self._raw_handlers:
            raise InvalidInputError(f"topic {topic!r} already has a raw handler")
        self._raw_handlers[topic] = handler
        return lambda: self._raw_handlers.pop(topic, None) and None

    # -- reading --------------------------------------------------------------------------------------------------
    @property
    def inbox(self) -> tuple[Message, ...]:
        return tuple(self._inbox)

    def messages_frame(self, *, include_sent: bool = False) -> pd.DataFrame:
        """See `Session.messages_frame`."""
        import pandas as pd

        rows = [
            {
                "sender": m.sender,
                "topic": m.topic,
                "kind": m.kind.value,
                "size": m.size,
                "payload": m.text if m.text is not None else m.payload,
                "received_at": m.received_at,
                "sent": m.sent,
                "destinations": ",".join(m.destinations),
            }
            for m in self._inbox
            if include_sent or not m.sent
        ]
        columns = ["sender", "topic", "kind", "size", "payload", "received_at", "sent", "destinations"]
        frame: pd.DataFrame = pd.DataFrame(rows, columns=columns)
        frame["received_at"] = pd.to_datetime(frame["received_at"], unit="s", utc=True)
        return frame
