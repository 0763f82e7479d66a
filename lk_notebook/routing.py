"""Message routing: where everything a session receives (or sends) goes once the SDK has handed it over.

`Router` owns the inbox, the `messages()` subscriptions, the `on_message` callbacks and the raw per-topic
handlers; the records of text and byte streams and of RPC calls, with their listeners; and the registries of
per-topic stream handlers and RPC methods (the SDK allows one handler per topic, so the session owns registration
and fans out). It never touches the SDK: the adapters (`session.py`, `streams.py`, `rpc.py`) turn SDK callbacks
into typed records and call `deliver` / `on_packet` / `update_stream` / `update_rpc`. Keeping it apart from the
room lets a session swap its `rtc.Room` (a rejoin) without losing what was received or who listens.

Example::

    router = Router("ann", inbox_limit=100, report=lambda where, exc: print(where, exc))
    router.on_message(print, topic="chat")
    router.on_packet(b"hi", sender="bob", topic="chat", kind=DataKind.RELIABLE, at=time.time())
    router.inbox                    # (Message(sender='bob', topic='chat', ...),)
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import AlreadyRegisteredError, InvalidInputError, WaitTimeoutError
from .events import DataKind, Message, RpcRecord, StreamRecord, StreamState
from .received import MessageCallback, ReceivedRecords, RpcCallback, StreamCallback

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ErrorCallback", "ErrorLog", "MessageCallback", "RawDataHandler", "Router", "RpcCallback", "StreamCallback"]

log = logging.getLogger("lk_notebook")

RawDataHandler = Callable[[bytes, str | None, DataKind, float], None]
"""`handler(payload, sender, kind, arrival_time)`: the fast path the lab uses for its own topic (`sender` as
`Message.sender`: None when the packet came without one)."""
ErrorCallback = Callable[[str, BaseException], None]
StreamHandler = Callable[[Any, str], object]
"""`handler(reader, sender_identity)`, as the SDK's: the reader has `info`, `async for` and `read_all()`."""
RpcHandler = Callable[[Any], object]
"""`handler(invocation)` -> str or an awaitable of str, as the SDK's (`invocation`: `rtc.RpcInvocationData`)."""


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


class ErrorLog:
    """A session's background failures: the last `maxlen` kept in `entries` as (time, where, exception), each
    logged and told to the `on_error` callbacks. Its `report` is what tasks, the router and handlers call."""

    def __init__(self, *, maxlen: int = 100) -> None:
        self.entries: deque[tuple[float, str, BaseException]] = deque(maxlen=maxlen)
        self._callbacks: list[ErrorCallback] = []

    def report(self, where: str, exc: BaseException) -> None:
        self.entries.append((time.time(), where, exc))
        log.warning("%s: %s: %s", where, type(exc).__name__, exc)  # one line: `errors` keeps the traceback
        for cb in tuple(self._callbacks):
            try:
                cb(where, exc)
            except Exception:
                log.exception("error callback failed")

    def report_task(self, where: str) -> Callable[[asyncio.Task[Any]], None]:
        """A done-callback for a task nobody may await: its failure is reported as `where`."""

        def done(task: asyncio.Task[Any]) -> None:
            exc = None if task.cancelled() else task.exception()
            if exc is not None:
                self.report(where, exc)

        return done

    def on_error(self, callback: ErrorCallback) -> Callable[[], None]:
        """Be told of background failures (`callback(where, exception)`). Returns an unsubscribe function."""
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback) if callback in self._callbacks else None


class Router(ReceivedRecords):
    """Inbox, subscriptions, callbacks and raw handlers for one session's data messages.

    `report(where, exc)` receives a callback's or handler's exception: they run on the event loop inside SDK
    dispatch, where the SDK would only log them.
    """

    def __init__(
        self,
        identity: str,
        *,
        inbox_limit: int,
        report: ErrorCallback,
        text_limit: int = 1_000_000,
        head_bytes: int = 64,
        save_dir: str | Path | None = None,
    ) -> None:
        self.identity = identity
        self.report = report
        self.text_limit = text_limit
        """Characters of a text stream (and of an RPC payload or response) kept in its record."""
        self.head_bytes = head_bytes
        """Leading bytes of a byte stream kept in its record."""
        self.save_dir = Path(save_dir) if save_dir is not None else None
        """Where received byte streams are saved (None: keep size, sha256 and the first bytes only)."""
        self._inbox: deque[Message] = deque(maxlen=inbox_limit)
        self.inbox_dropped = 0
        """Messages pushed out of the inbox (oldest first) because it already held `inbox_limit`."""
        self._message_callbacks: list[tuple[str | None, bool, MessageCallback]] = []
        self._subscriptions: set[_Subscription] = set()
        self._raw_handlers: dict[str, RawDataHandler] = {}
        self._record_limit = inbox_limit
        self._streams: OrderedDict[tuple[bool, str], StreamRecord] = OrderedDict()
        self._rpcs: OrderedDict[int, RpcRecord] = OrderedDict()
        self._stream_callbacks: list[StreamCallback] = []
        self._rpc_callbacks: list[RpcCallback] = []
        self.text_handlers: dict[str, StreamHandler] = {}
        self.byte_handlers: dict[str, StreamHandler] = {}
        self.rpc_methods: dict[str, RpcHandler] = {}
        self._call_ids = itertools.count(1)

    # -- in -------------------------------------------------------------------------------------------------------
    def on_packet(self, payload: bytes, *, sender: str | None, topic: str, kind: DataKind, at: float) -> None:
        """A data packet arrived: to the topic's raw handler if it has one, else into the inbox and to listeners."""
        raw = self._raw_handlers.get(topic)
        if raw is not None:
            try:
                raw(payload, sender, kind, at)
            except Exception as exc:  # the SDK would only log it; views show session errors
                self.report(f"raw handler for topic {topic!r}", exc)
            return
        self.deliver(Message(sender, topic, kind, payload, at))

    def replace_message(self, old: Message, new: Message) -> bool:
        """Put `new` where `old` is in the inbox (a later look-up completed it); False if `old` has left it."""
        # From the newest end: the message being completed arrived moments ago.
        for i in range(len(self._inbox) - 1, -1, -1):
            if self._inbox[i] is old:
                self._inbox[i] = new
                return True
        return False

    def deliver(self, msg: Message) -> None:
        """Record `msg` (received or sent) and hand it to callbacks and, if received, to subscriptions."""
        if len(self._inbox) == self._inbox.maxlen:
            self.inbox_dropped += 1  # the deque drops the oldest without a word: count it so views can tell
        self._inbox.append(msg)
        for topic, include_sent, callback in tuple(self._message_callbacks):
            if (topic is None or topic == msg.topic) and (include_sent or not msg.sent):
                try:
                    callback(msg)
                except Exception as exc:
                    self.report("message callback", exc)
        if not msg.sent:
            for sub in self._subscriptions:
                if sub.topic is None or sub.topic == msg.topic:
                    sub.put(msg)

    def update_stream(self, record: StreamRecord) -> None:
        """A stream started, progressed or ended: keep its latest record and tell stream listeners."""
        key = (record.sent, record.stream_id)
        self._streams[key] = record
        self._streams.move_to_end(key)
        self._trim(self._streams, lambda r: r.state is not StreamState.STARTED)
        self._notify(self._stream_callbacks, record, "stream callback")

    def next_call_id(self) -> int:
        return next(self._call_ids)

    def rpc_record(self, call_id: int) -> RpcRecord:
        return self._rpcs[call_id]

    def update_rpc(self, record: RpcRecord) -> None:
        """An RPC call started or was answered: keep its latest record and tell RPC listeners."""
        self._rpcs[record.call_id] = record
        self._trim(self._rpcs, lambda r: not r.pending)
        self._notify(self._rpc_callbacks, record, "rpc callback")

    def _trim(self, records: OrderedDict[Any, Any], finished: Callable[[Any], bool]) -> None:
        # Bounded like the inbox; an unfinished stream or call is dropped only if nothing finished is left to drop.
        while len(records) > self._record_limit:
            victim = next((k for k, r in records.items() if finished(r)), next(iter(records)))
            del records[victim]

    def _notify(self, callbacks: list[Callable[[Any], None]], record: object, where: str) -> None:
        for callback in tuple(callbacks):
            try:
                callback(record)
            except Exception as exc:
                self.report(where, exc)

    def end(self) -> None:
        """End every `messages()` iterator (the session left or was disconnected)."""
        for sub in self._subscriptions:
            sub.put(None)

    # -- listeners ------------------------------------------------------------------------------------------------
    def messages(
        self, *, topic: str | None, maxsize: int, count: int | None, timeout: float | None
    ) -> AsyncIterator[Message]:
        """See `Session.messages` (which holds the defaults). Subscribed at the call, not at the first
        `__anext__`: nothing sent in between is missed."""
        if count is not None and (not isinstance(count, int) or count < 1):
            raise InvalidInputError(f"count must be a positive int, not {count!r}")
        if timeout is not None and (not isinstance(timeout, int | float) or timeout <= 0):
            raise InvalidInputError(f"timeout must be a positive number of seconds, not {timeout!r}")
        sub = _Subscription(topic, maxsize)
        self._subscriptions.add(sub)
        deadline = None if timeout is None else time.monotonic() + timeout

        async def iterate() -> AsyncIterator[Message]:
            got = 0
            try:
                while count is None or got < count:
                    if deadline is None:
                        item = await sub.queue.get()
                    else:
                        left = deadline - time.monotonic()
                        try:
                            item = await asyncio.wait_for(sub.queue.get(), max(left, 0.0))
                        except asyncio.TimeoutError:
                            raise WaitTimeoutError(
                                f"{_wanted(count, topic)} within {timeout} s: {got} arrived",
                                what="messages",
                                timeout=float(timeout or 0.0),
                            ) from None
                    if item is None:
                        return
                    got += 1
                    yield item
            finally:
                self._subscriptions.discard(sub)

        return iterate()

    def add_raw_handler(self, topic: str, handler: RawDataHandler) -> Callable[[], None]:
        """See `Session.add_raw_handler`."""
        if topic in self._raw_handlers:
            raise InvalidInputError(f"topic {topic!r} already has a raw handler")
        self._raw_handlers[topic] = handler
        return lambda: self._raw_handlers.pop(topic, None) and None

    def register_stream_handler(self, topic: str, handler: StreamHandler, *, text: bool) -> Callable[[], None]:
        """See `Session.register_text_stream_handler`."""
        table = self.text_handlers if text else self.byte_handlers
        if not isinstance(topic, str):
            raise InvalidInputError(f"topic must be a string, not {type(topic).__name__}")
        if not callable(handler):
            raise InvalidInputError(f"a stream handler must be callable, not {type(handler).__name__}")
        if topic in table:
            kind = "text" if text else "byte"
            raise AlreadyRegisteredError(
                f"topic {topic!r} already has a {kind} stream handler in this session; unregister it first.",
                what=f"{kind} stream topic",
                name=topic,
            )
        table[topic] = handler
        return lambda: table.pop(topic, None) and None

    # -- reading --------------------------------------------------------------------------------------------------
    def messages_frame(self, *, include_sent: bool = False, all_columns: bool = False) -> pd.DataFrame:
        """See `Session.messages_frame`."""
        import pandas as pd

        rows = [_packet_row(m) for m in self._inbox if include_sent or not m.sent]
        rows += [_stream_row(r) for r in self._streams.values() if include_sent or not r.sent]
        rows += [_rpc_row(r, self.identity) for r in self._rpcs.values() if include_sent or not r.outgoing]
        columns = list(FRAME_COLUMNS)
        if not all_columns:
            present = {row["type"] for row in rows}
            if not present & {"text_stream", "byte_stream"}:
                columns = [c for c in columns if c not in STREAM_COLUMNS]
            if "rpc" not in present:
                columns = [c for c in columns if c not in RPC_COLUMNS]
        frame: pd.DataFrame = pd.DataFrame([[row[c] for c in columns] for row in rows], columns=columns)
        frame = frame.sort_values("received_at", kind="stable", ignore_index=True)
        frame["received_at"] = pd.to_datetime(frame["received_at"], unit="s", utc=True)
        return frame


def _wanted(count: int | None, topic: str | None) -> str:
    where = "" if topic is None else f" on topic {topic!r}"
    return f"no message{where} arrived" if count is None else f"fewer than {count} messages{where} arrived"


PACKET_COLUMNS = (
    "type", "sender", "sender_candidates", "topic", "kind", "size", "payload", "received_at", "sent", "destinations"
)  # fmt: skip
"""`messages_frame()` columns every row has. `type`: packet, text_stream, byte_stream or rpc; `sender`: the
identity, or None for a packet that came without one (`Message.sender`); `sender_candidates`: for such a packet,
the participants the server listed that the session had not been told of (a tuple; None when not looked up: see
`Message.sender_candidates`), None on every other row; `kind`: reliable or
lossy, as `Message.kind` (streams and RPC travel on the reliable channel); `payload`: text where UTF-8, else bytes
(a byte stream's first bytes; an RPC call's request); `received_at`: UTC Timestamp (a stream's or call's start)."""
STREAM_COLUMNS = ("stream_id", "name", "mime_type", "announced_size", "state", "goodput", "sha256", "attributes")
"""Columns of text and byte stream rows (None on other rows): see `StreamRecord`; `size` is what arrived,
`announced_size` what the sender announced."""
RPC_COLUMNS = ("method", "response", "error_code", "latency")
"""Columns of RPC rows (None on other rows): see `RpcRecord`; `latency` is the round trip in seconds."""
FRAME_COLUMNS = PACKET_COLUMNS + STREAM_COLUMNS + RPC_COLUMNS
"""Every `messages_frame()` column, in order."""


def _row(**values: object) -> dict[str, object]:
    row: dict[str, object] = dict.fromkeys(FRAME_COLUMNS)
    row.update(values)
    return row


def _packet_row(m: Message) -> dict[str, object]:
    return _row(
        type="packet",
        sender=m.sender,
        sender_candidates=m.sender_candidates,
        topic=m.topic,
        kind=m.kind.value,
        size=m.size,
        payload=m.text if m.text is not None else m.payload,
        received_at=m.received_at,
        sent=m.sent,
        destinations=",".join(m.destinations),
    )


def _stream_row(r: StreamRecord) -> dict[str, object]:
    return _row(
        type="text_stream" if r.is_text else "byte_stream",
        sender=r.sender,
        topic=r.topic,
        kind=DataKind.RELIABLE.value,
        size=r.received,
        payload=r.text if r.is_text else r.head,
        received_at=r.started_at,
        sent=r.sent,
        destinations=",".join(r.destinations),
        stream_id=r.stream_id,
        name=r.name,
        mime_type=r.mime_type,
        announced_size=r.size,
        state=r.state.value,
        goodput=r.goodput,
        sha256=r.sha256,
        attributes=dict(r.attributes),
    )


def _rpc_row(r: RpcRecord, identity: str) -> dict[str, object]:
    return _row(
        type="rpc",
        sender=r.caller,
        topic="",
        kind=DataKind.RELIABLE.value,
        size=len(r.payload.encode("utf-8")),
        payload=r.payload,
        received_at=r.started_at,
        sent=r.outgoing,
        destinations=r.callee if r.outgoing else identity,
        method=r.method,
        response=r.response,
        error_code=r.error_code,
        latency=r.latency,
    )
