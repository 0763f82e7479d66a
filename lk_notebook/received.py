"""What the views read from a source of messages: the inbox, stream and RPC records, and their listeners.

Shared by the live `Router` and the read-only `ReplaySource`, so a view cannot tell one from the other. Each
owner creates the containers (their keys and bounds are its own) and feeds them.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from .events import Message, RpcRecord, StreamRecord

__all__ = ["MessageCallback", "ReceivedRecords", "RpcCallback", "StreamCallback"]

MessageCallback = Callable[[Message], None]
StreamCallback = Callable[[StreamRecord], None]
RpcCallback = Callable[[RpcRecord], None]


class ReceivedRecords:
    """`inbox`, `streams`, `rpc_calls` and the `on_message` / `on_stream` / `on_rpc` listeners over them."""

    _inbox: deque[Message]
    _streams: Mapping[Any, StreamRecord]
    _rpcs: Mapping[int, RpcRecord]
    _message_callbacks: list[tuple[str | None, bool, MessageCallback]]
    _stream_callbacks: list[StreamCallback]
    _rpc_callbacks: list[RpcCallback]

    @property
    def inbox(self) -> tuple[Message, ...]:
        return tuple(self._inbox)

    @property
    def streams(self) -> tuple[StreamRecord, ...]:
        return tuple(self._streams.values())

    @property
    def rpc_calls(self) -> tuple[RpcRecord, ...]:
        return tuple(self._rpcs.values())

    def on_message(
        self, callback: MessageCallback, *, topic: str | None = None, include_sent: bool = False
    ) -> Callable[[], None]:
        """See `Session.on_message`."""
        entry = (topic, include_sent, callback)
        self._message_callbacks.append(entry)
        return lambda: self._message_callbacks.remove(entry) if entry in self._message_callbacks else None

    def on_stream(self, callback: StreamCallback) -> Callable[[], None]:
        """See `Session.on_stream`."""
        self._stream_callbacks.append(callback)
        return lambda: self._stream_callbacks.remove(callback) if callback in self._stream_callbacks else None

    def on_rpc(self, callback: RpcCallback) -> Callable[[], None]:
        """See `Session.on_rpc`."""
        self._rpc_callbacks.append(callback)
        return lambda: self._rpc_callbacks.remove(callback) if callback in self._rpc_callbacks else None
