"""Text and byte streams from a `Session`: the send side, with the same checks and records as packets.

`Session` holds a `StreamSender`; its `send_text`, `stream_text`, `send_bytes`, `stream_bytes` and `send_file`
are the sender's. Names and arguments mirror the SDK's `LocalParticipant`, with `destinations` as in
`Session.publish`. The receive side (and per-topic handlers) is `streams.py`.

Example::

    await session.send_text("hello", topic="lk.chat")
    async with await session.stream_text(topic="lk.transcription") as writer:
        await writer.write("hel"); await writer.write("lo")
    await session.send_file("report.pdf", topic="files")
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from livekit import rtc

from . import limits
from ._logging import scrub
from .errors import InvalidInputError, StreamError
from .events import StreamRecord, StreamState
from .lifecycle import LifecycleGuard
from .own_participant import OwnParticipant
from .routing import Router
from .streams import new_record

__all__ = ["StreamSender", "StreamWriter"]


class StreamWriter:
    """An open outgoing text or byte stream (`write`, then `aclose`; or `async with`). Its `record` is live.

    Leaving an `async with` block on an exception closes the stream with that reason (the receiver sees it
    aborted).
    """

    def __init__(
        self,
        writer: rtc.TextStreamWriter | rtc.ByteStreamWriter,
        router: Router,
        record: StreamRecord,
        *,
        guard: LifecycleGuard | None = None,
    ):
        self._writer = writer
        self._router = router
        self.record = record
        self._hash = hashlib.sha256()
        self._guard = guard
        """The session's: once it is closed (left, or its room gone), the SDK has disposed of the writer's handle,
        and a write would fail inside the SDK with a bare AssertionError (measured, livekit 1.2.1)."""

    @property
    def stream_id(self) -> str:
        return self.record.stream_id

    async def write(self, chunk: str | bytes) -> None:
        """Send one chunk: str for a text stream, bytes for a byte stream."""
        if self.record.state is StreamState.STARTED and self._guard is not None and self._guard.closed:
            ended = self._guard.closed_error("write to a stream")
            raise self._abort(str(ended), f"ended with its session: {ended}") from ended
        if self.record.state is not StreamState.STARTED:
            raise StreamError("this stream is closed; open a new one", topic=self.record.topic)
        if self.record.is_text != isinstance(chunk, str) or not isinstance(chunk, str | bytes | bytearray):
            want = "str" if self.record.is_text else "bytes"
            raise InvalidInputError(f"this stream takes {want} chunks, not {type(chunk).__name__}")
        data = chunk.encode("utf-8") if isinstance(chunk, str) else bytes(chunk)
        try:
            await self._writer.write(chunk if isinstance(chunk, str) else data)  # type: ignore[arg-type]
        except rtc.StreamError as exc:
            raise self._abort(str(exc), f"failed: {scrub(str(exc))}") from exc
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
        if self._guard is not None and self._guard.closed:  # the SDK's handle is gone with the session
            self._finish(StreamState.ABORTED, reason or str(self._guard.closed_error("close a stream")))
            return
        await self._writer.aclose(reason=reason, attributes=dict(attributes) if attributes else None)
        self._finish(StreamState.ABORTED if reason else StreamState.FINISHED, reason)

    def _abort(self, error: str, why: str) -> StreamError:
        """Record the stream as aborted with `error`; the StreamError to raise, saying `why`."""
        self._finish(StreamState.ABORTED, error)
        return StreamError(
            f"the stream on {self.record.topic!r} {why}", topic=self.record.topic, stream_id=self.stream_id
        )

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


class StreamSender:
    """Sends streams as the session's participant (`me`), recording each one.

    Example::

        sender = StreamSender(OwnParticipant(lambda: room.local_participant, "ann", "demo", state, router, guard))
        await sender.send_text("hello", topic="lk.chat")
    """

    def __init__(self, me: OwnParticipant) -> None:
        self.me = me

    def _sent(
        self, info: Any, *, is_text: bool, data: bytes, dests: list[str], started: float, **extra: Any
    ) -> StreamRecord:
        record = new_record(
            info,
            sender=self.me.identity,
            is_text=is_text,
            started=started,
            size=info.size or len(data),
            received=len(data),
            state=StreamState.FINISHED,
            sha256="" if is_text else hashlib.sha256(data).hexdigest(),
            head=b"" if is_text else data[: self.me.router.head_bytes],
            destinations=tuple(dests),
            sent=True,
            **extra,
        )
        self.me.router.update_stream(record)
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
        self.me.guard.require_open("send text")
        self.me.require_data_permission("send text")
        if not isinstance(text, str):
            raise InvalidInputError(f"text must be a str, not {type(text).__name__}; use send_bytes for bytes")
        attrs = limits.check_stream(topic, attributes)
        dests = self.me.destinations(destinations, stacklevel=2)
        started = time.time()
        try:
            info = await self.me.local().send_text(
                text, topic=topic, destination_identities=dests, attributes=attrs, reply_to_id=reply_to_id
            )
        except rtc.StreamError as exc:
            raise StreamError(f"the SDK could not send the text stream: {scrub(str(exc))}", topic=topic) from exc
        data = text.encode("utf-8")
        return self._sent(
            info, is_text=True, data=data, dests=dests, started=started, text=text[: self.me.router.text_limit]
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
        self.me.guard.require_open("open a text stream")
        self.me.require_data_permission("open a text stream")
        attrs = limits.check_stream(topic, attributes)
        dests = self.me.destinations(destinations, stacklevel=2)
        started = time.time()
        writer = await self.me.local().stream_text(
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
        self.me.guard.require_open("send bytes")
        self.me.require_data_permission("send bytes")
        if not isinstance(data, bytes | bytearray | memoryview):
            raise InvalidInputError(f"data must be bytes, not {type(data).__name__}; use send_text for text")
        payload = bytes(data)
        attrs = limits.check_stream(topic, attributes)
        dests = self.me.destinations(destinations, stacklevel=2)
        started = time.time()
        try:
            info = await self.me.local().send_bytes(
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
        self.me.guard.require_open("open a byte stream")
        self.me.require_data_permission("open a byte stream")
        if not isinstance(name, str) or not name:
            raise InvalidInputError("a byte stream needs a non-empty name (the receiver sees it as the file name)")
        attrs = limits.check_stream(topic, attributes)
        dests = self.me.destinations(destinations, stacklevel=2)
        started = time.time()
        writer = await self.me.local().stream_bytes(
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
        record = new_record(
            info,
            sender=self.me.identity,
            is_text=is_text,
            started=started,
            text=text,
            destinations=tuple(dests),
            sent=True,
        )
        self.me.router.update_stream(record)
        return StreamWriter(writer, self.me.router, record, guard=self.me.guard)

    async def send_file(
        self,
        path: str | Path,
        *,
        topic: str = "",
        destinations: Sequence[str] | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> StreamRecord:
        """Send a file as a byte stream (name and MIME type from the path). A missing file: MissingFileError."""
        self.me.guard.require_open("send a file")
        self.me.require_data_permission("send a file")
        file = limits.check_file(path)
        attrs = limits.check_stream(topic, attributes)
        dests = self.me.destinations(destinations, stacklevel=2)
        started = time.time()
        try:
            info = await self.me.local().send_file(
                str(file), topic=topic, destination_identities=dests, attributes=attrs
            )
        except rtc.StreamError as exc:
            raise StreamError(f"the SDK could not send {file.name!r}: {scrub(str(exc))}", topic=topic) from exc
        data = await asyncio.to_thread(file.read_bytes)  # for the record's sha256; off the loop
        return self._sent(info, is_text=False, data=data, dests=dests, started=started)
