"""Text and byte streams and RPC from a `Session`: the send side, with the same checks and records as packets.

`Session` inherits these methods from `StreamsAndRpc`, so `session.py` stays about the room and its state. Names
and arguments mirror the SDK's `LocalParticipant` (`send_text`, `stream_text`, `send_bytes`, `stream_bytes`,
`send_file`, `perform_rpc`, `register_rpc_method`), with `destinations` as in `Session.publish`.

Example::

    await session.send_text("hello", topic="lk.chat")
    async with await session.stream_text(topic="lk.transcription") as writer:
        await writer.write("hel"); await writer.write("lo")
    await session.send_file("report.pdf", topic="files")
    session.register_rpc_method("echo", lambda call: call.payload)
    result = await session.perform_rpc("bob", "echo", "hi")   # result.response, result.latency
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from livekit import rtc

from . import limits
from ._logging import scrub
from .errors import AlreadyRegisteredError, InvalidInputError, RpcError, StreamError, UnknownDestinationWarning
from .events import RpcRecord, StreamRecord, StreamState, frozen_map
from .rpc import CALL_IDS, wrap_handler
from .streams import check_save_dir

if TYPE_CHECKING:
    from .routing import Router, RpcCallback, RpcHandler, StreamCallback, StreamHandler
    from .state import RoomState

__all__ = ["StreamWriter", "StreamsAndRpc"]


class StreamWriter:
    """An open outgoing text or byte stream (`write`, then `aclose`; or `async with`). Its `record` is live.

    Leaving an `async with` block on an exception closes the stream with that reason (the receiver sees it
    aborted).
    """

    def __init__(self, writer: rtc.TextStreamWriter | rtc.ByteStreamWriter, router: Router, record: StreamRecord):
        self._writer = writer
        self._router = router
        self.record = record
        self._hash = hashlib.sha256()

    @property
    def stream_id(self) -> str:
        return self.record.stream_id

    async def write(self, chunk: str | bytes) -> None:
        """Send one chunk: str for a text stream, bytes for a byte stream."""
        if self.record.state is not StreamState.STARTED:
            raise StreamError("this stream is closed; open a new one", topic=self.record.topic)
        if self.record.is_text != isinstance(chunk, str) or not isinstance(chunk, str | bytes | bytearray):
            want = "str" if self.record.is_text else "bytes"
            raise InvalidInputError(f"this stream takes {want} chunks, not {type(chunk).__name__}")
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        try:
            await self._writer.write(chunk if isinstance(chunk, str) else data)  # type: ignore[arg-type]
        except rtc.StreamError as exc:
            self._finish(StreamState.ABORTED, str(exc))
            raise StreamError(
                f"the stream on {self.record.topic!r} failed: {scrub(str(exc))}",
                topic=self.record.topic,
                stream_id=self.stream_id,
            ) from exc
        self._hash.update(data)
        text = None
        if self.record.is_text:
            text = ((self.record.text or "") + str(chunk))[: self._router.text_limit]
        self.record = dataclasses.replace(
            self.record, received=self.record.received + len(data), updated_at=time.time(), text=text
        )
        self._router.update_stream(self.record)

    async def aclose(self, *, reason: str = "", attributes: Mapping[str, str] | None = None) -> None:
        """End the stream; a non-empty `reason` ends it as aborted. Idempotent."""
        if self.record.state is not StreamState.STARTED:
            return
        await self._writer.aclose(reason=reason, attributes=dict(attributes) if attributes else None)
        self._finish(StreamState.ABORTED if reason else StreamState.FINISHED, reason)

    def _finish(self, state: StreamState, error: str) -> None:
        self.record = dataclasses.replace(
            self.record,
            state=state,
            updated_at=time.time(),
            error=error,
            sha256="" if self.record.is_text else self._hash.hexdigest(),
        )
        self._router.update_stream(self.record)

    async def __aenter__(self) -> StreamWriter:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose(reason=f"{exc_type.__name__}: {exc}" if exc_type is not None else "")


class StreamsAndRpc:
    """The streams and RPC part of `Session` (see the module docstring)."""

    rpc_payload_limit: int = limits.RPC_MAX_PAYLOAD_BYTES
    """Largest RPC payload `perform_rpc` sends (bytes). LiveKit's documented 15 KiB, which every SDK accepts; the
    SDKs measured here accept much more (see limits.py), so raise it when every peer runs a recent SDK."""
    room: rtc.Room
    router: Router
    identity: str
    room_name: str
    state: RoomState

    def _require_open(self, action: str) -> None:
        raise NotImplementedError

    # -- checks -------------------------------------------------------------------------------------------------
    def _destinations(self, destinations: object) -> list[str]:
        dests = limits.check_destinations(destinations)
        unknown = [d for d in dests if d not in self.state]
        if unknown:
            warnings.warn(
                UnknownDestinationWarning(
                    f"{', '.join(map(repr, unknown))} not in room {self.room_name!r} now; the server drops data "
                    f"for absent identities without telling anyone."
                ),
                stacklevel=3,
            )
        return list(dests)

    def _sent(
        self, info: Any, *, is_text: bool, data: bytes, dests: list[str], started: float, **extra: Any
    ) -> StreamRecord:
        record = StreamRecord(
            stream_id=info.stream_id,
            sender=self.identity,
            topic=info.topic,
            is_text=is_text,
            name=getattr(info, "name", "") if not is_text else "",
            mime_type=info.mime_type,
            size=info.size or len(data),
            attributes=frozen_map(info.attributes),
            received=len(data),
            state=StreamState.FINISHED,
            started_at=started,
            updated_at=time.time(),
            sha256="" if is_text else hashlib.sha256(data).hexdigest(),
            head=b"" if is_text else data[: self.router.head_bytes],
            destinations=tuple(dests),
            sent=True,
            **extra,
        )
        self.router.update_stream(record)
        return record

    # -- streams: send ------------------------------------------------------------------------------------------
    async def send_text(
        self,
        text: str,
        *,
        topic: str = "",
        destinations: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
        reply_to_id: str | None = None,
    ) -> StreamRecord:
        """Send `text` as one text stream (chunked by the SDK, any length). Returns the sent stream's record."""
        self._require_open("send text")
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a str, not {type(text).__name__}; use send_bytes for bytes")
        attrs = limits.check_stream(topic, attributes)
        dests = self._destinations(destinations)
        started = time.time()
        try:
            info = await self.room.local_participant.send_text(
                text, topic=topic, destination_identities=dests, attributes=attrs, reply_to_id=reply_to_id
            )
        except rtc.StreamError as exc:
            raise StreamError(f"the SDK could not send the text stream: {scrub(str(exc))}", topic=topic) from exc
        data = text.encode("utf-8")
        return self._sent(
            info, is_text=True, data=data, dests=dests, started=started, text=text[: self.router.text_limit]
        )

    async def stream_text(
        self,
        *,
        topic: str = "",
        destinations: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
        total_size: int | None = None,
    ) -> StreamWriter:
        """Open a text stream to write incrementally (as an agent streams a transcription). Close it when done."""
        self._require_open("open a text stream")
        attrs = limits.check_stream(topic, attributes)
        dests = self._destinations(destinations)
        started = time.time()
        writer = await self.room.local_participant.stream_text(
            topic=topic, destination_identities=dests, attributes=attrs, total_size=total_size
        )
        return self._open_writer(writer, is_text=True, dests=dests, started=started, text="")

    async def send_bytes(
        self,
        data: bytes | bytearray | memoryview,
        *,
        topic: str = "",
        name: str | None = None,
        mime_type: str | None = None,
        destinations: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> StreamRecord:
        """Send `data` as one byte stream (any size: the SDK chunks it). Returns the sent stream's record."""
        self._require_open("send bytes")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInputError(f"data must be bytes, not {type(data).__name__}; use send_text for text")
        payload = bytes(data)
        attrs = limits.check_stream(topic, attributes)
        dests = self._destinations(destinations)
        started = time.time()
        try:
            info = await self.room.local_participant.send_bytes(
                payload, topic=topic, name=name, mime_type=mime_type, destination_identities=dests, attributes=attrs
            )
        except rtc.StreamError as exc:
            raise StreamError(f"the SDK could not send the byte stream: {scrub(str(exc))}", topic=topic) from exc
        return self._sent(info, is_text=False, data=payload, dests=dests, started=started)

    async def stream_bytes(
        self,
        name: str,
        *,
        total_size: int | None = None,
        mime_type: str = "application/octet-stream",
        topic: str = "",
        destinations: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> StreamWriter:
        """Open a byte stream to write in chunks (a file as it is produced). Close it when done."""
        self._require_open("open a byte stream")
        if not isinstance(name, str) or not name:
            raise InvalidInputError("a byte stream needs a non-empty name (the receiver sees it as the file name)")
        attrs = limits.check_stream(topic, attributes)
        dests = self._destinations(destinations)
        started = time.time()
        writer = await self.room.local_participant.stream_bytes(
            name,
            total_size=total_size,
            mime_type=mime_type,
            topic=topic,
            destination_identities=dests,
            attributes=attrs,
        )
        return self._open_writer(writer, is_text=False, dests=dests, started=started)

    def _open_writer(
        self,
        writer: rtc.TextStreamWriter | rtc.ByteStreamWriter,
        *,
        is_text: bool,
        dests: list[str],
        started: float,
        text: str | None = None,
    ) -> StreamWriter:
        info = writer.info
        record = StreamRecord(
            stream_id=info.stream_id,
            sender=self.identity,
            topic=info.topic,
            is_text=is_text,
            name=getattr(info, "name", "") if not is_text else "",
            mime_type=info.mime_type,
            size=info.size or None,
            attributes=frozen_map(info.attributes),
            received=0,
            state=StreamState.STARTED,
            started_at=started,
            updated_at=time.time(),
            text=text,
            destinations=tuple(dests),
            sent=True,
        )
        self.router.update_stream(record)
        return StreamWriter(writer, self.router, record)

    async def send_file(
        self,
        path: str | Path,
        *,
        topic: str = "",
        destinations: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> StreamRecord:
        """Send a file as a byte stream (name and MIME type from the path). A missing file: MissingFileError."""
        self._require_open("send a file")
        file = limits.check_file(path)
        attrs = limits.check_stream(topic, attributes)
        dests = self._destinations(destinations)
        started = time.time()
        try:
            info = await self.room.local_participant.send_file(
                str(file), topic=topic, destination_identities=dests, attributes=attrs
            )
        except rtc.StreamError as exc:
            raise StreamError(f"the SDK could not send {file.name!r}: {scrub(str(exc))}", topic=topic) from exc
        data = await asyncio.to_thread(file.read_bytes)  # for the record's sha256; off the loop
        return self._sent(info, is_text=False, data=data, dests=dests, started=started)

    # -- streams: receive ---------------------------------------------------------------------------------------
    def register_text_stream_handler(self, topic: str, handler: StreamHandler) -> Callable[[], None]:
        """Call `handler(reader, sender_identity)` for each text stream on `topic` (as the SDK's, but alongside
        the session's own recording: every stream is recorded whether or not a handler is registered). One
        handler per topic; returns an unregister function."""
        return self.router.register_stream_handler(topic, handler, text=True)

    def register_byte_stream_handler(self, topic: str, handler: StreamHandler) -> Callable[[], None]:
        """As `register_text_stream_handler`, for byte streams."""
        return self.router.register_stream_handler(topic, handler, text=False)

    def unregister_text_stream_handler(self, topic: str) -> None:
        self.router.text_handlers.pop(topic, None)

    def unregister_byte_stream_handler(self, topic: str) -> None:
        self.router.byte_handlers.pop(topic, None)

    def keep_streams_in(self, folder: str | Path | None) -> None:
        """Save every received byte stream under `folder` (None: keep only size, sha256 and the first bytes)."""
        self.router.save_dir = check_save_dir(folder)

    def on_stream(self, callback: StreamCallback) -> Callable[[], None]:
        """Call `callback(record)` as each stream (received or sent) starts, progresses and ends."""
        return self.router.on_stream(callback)

    @property
    def streams(self) -> tuple[StreamRecord, ...]:
        """The latest record of each recent stream, received and sent, oldest first (bounded)."""
        return self.router.streams

    # -- RPC ----------------------------------------------------------------------------------------------------
    async def perform_rpc(
        self, destination: str, method: str, payload: str = "", *, timeout: float = 10.0
    ) -> RpcRecord:
        """Call `method` on participant `destination`; returns the finished record (`response`, `latency`, the
        round trip in seconds). Raises RpcError with LiveKit's code (1400 unsupported method, 1500 the handler
        raised, 1502 no answer within `timeout`...), TooLargeError over the payload limit."""
        self._require_open("perform an RPC")
        body = limits.check_rpc(destination, method, payload, limit=self.rpc_payload_limit)
        if not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidInputError(f"timeout must be a positive number of seconds, not {timeout!r}")
        self._destinations([destination])
        ids: list[int] = []
        token = CALL_IDS.set(ids)
        try:
            await self.room.local_participant.perform_rpc(
                destination_identity=destination, method=method, payload=body, response_timeout=float(timeout)
            )
        except rtc.RpcError as exc:
            raise RpcError(
                f"RPC {method!r} to {destination!r} failed: {exc.code} {scrub(exc.message)}",
                code=int(exc.code),
                method=method,
                destination=destination,
                sdk_message=exc.message,
            ) from exc
        finally:
            CALL_IDS.reset(token)
        return self.router.rpc_record(ids[0])

    def register_rpc_method(self, method: str, handler: RpcHandler) -> RpcHandler:
        """Answer calls of `method` with `handler(invocation)` (sync or async; `invocation.payload`,
        `.caller_identity`). Its str result is the response; an exception reaches the caller as LiveKit's
        application error (1500) and shows in `session.errors`. Registering a method twice: AlreadyRegisteredError."""
        self._require_open("register an RPC method")
        if not isinstance(method, str) or not method:
            raise InvalidInputError(f"an RPC method name must be a non-empty string, not {method!r}")
        if not callable(handler):
            raise InvalidInputError(f"an RPC handler must be callable, not {type(handler).__name__}")
        if method in self.router.rpc_methods:
            raise AlreadyRegisteredError(
                f"RPC method {method!r} is already registered in this session; unregister_rpc_method first.",
                what="RPC method",
                name=method,
            )
        self.router.rpc_methods[method] = handler
        self.room.local_participant.register_rpc_method(method, wrap_handler(method, handler))  # type: ignore[arg-type]
        return handler

    def unregister_rpc_method(self, method: str) -> None:
        """Stop answering `method` (callers then get 1400 unsupported method)."""
        if self.router.rpc_methods.pop(method, None) is not None:
            self.room.local_participant.unregister_rpc_method(method)

    def on_rpc(self, callback: RpcCallback) -> Callable[[], None]:
        """Call `callback(record)` when an RPC call (made or answered) starts and when it ends."""
        return self.router.on_rpc(callback)

    @property
    def rpc_calls(self) -> tuple[RpcRecord, ...]:
        """Recent RPC calls made and answered, oldest first (bounded)."""
        return self.router.rpc_calls
