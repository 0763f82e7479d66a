"""Incoming text and byte streams on ANY topic: each one recorded, and fanned out to the session's per-topic handlers.

`Session.register_text_stream_handler` and the rest of the receive side (`keep_streams_in`, `on_stream`, `streams`)
are the `StreamReceiver`'s methods. The send side is `stream_sender.py`.

Why the room's handler table is replaced: `rtc.Room._handle_text_stream_opened` (and its byte twin) looks the
topic up in `room._text_stream_handlers` and, when no handler is there, logs "ignoring text stream ... no callback
attached" and disposes the stream. So a stream on a topic nobody registered (an agent's `lk.transcription`) would
be lost. `attach` puts a table there whose `get(topic)` always answers with this receiver: the SDK keeps doing
its own reader bookkeeping (it still wakes readers on disconnect), and every stream reaches the session, which
then owns per-topic registration (`Router.text_handlers`). Registering on `session.room` directly is refused by
the SDK ("already set"); register through the session instead.

Example::

    receiver = StreamReceiver(router, spawn=session.tasks.spawn)
    receiver.attach(session.room)
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import re
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import IO, Any, Protocol

from livekit import rtc

from .errors import InvalidInputError
from .events import StreamRecord, StreamState, frozen_map
from .routing import Router, StreamCallback, StreamHandler

__all__ = ["StreamObserver", "StreamReceiver", "TeeReader", "new_record"]

Spawn = Callable[..., "asyncio.Task[Any]"]
_END = object()


class _EveryTopic(dict[str, Any]):
    """Stands in for the room's per-topic handler dict: every topic resolves to the session's dispatcher."""

    def __init__(self, dispatch: Callable[[Any, str], None]) -> None:
        super().__init__()
        self._dispatch = dispatch

    def get(self, key: str, default: Any = None) -> Any:
        return self._dispatch

    def pop(self, key: str, default: Any = None) -> Any:
        return default


class StreamObserver(Protocol):
    """An internal tap on one topic's incoming streams (the agent tracker's): told of each stream as it opens,
    of each chunk and of its end, beside the per-topic handler (which stays the user's)."""

    def opened(self, info: Any, identity: str) -> None: ...
    def chunk(self, info: Any, identity: str, chunk: str | bytes) -> None: ...
    def closed(self, info: Any, identity: str, error: BaseException | None) -> None:
        """`info` is the reader's at the end: its attributes include the close trailer's."""


class TeeReader:
    """What a per-topic handler receives: the stream's `info`, and its chunks once (`async for`, `read_all()`).

    It mirrors the SDK's `TextStreamReader` / `ByteStreamReader`, fed by the session, which reads the real stream
    to record it. A handler that raised or stopped reading does not stop the recording.
    """

    def __init__(self, info: rtc.TextStreamInfo | rtc.ByteStreamInfo, *, is_text: bool) -> None:
        self.info = info
        self.is_text = is_text
        self._queue: asyncio.Queue[Any] = asyncio.Queue()

    def _feed(self, chunk: str | bytes) -> None:
        self._queue.put_nowait(chunk)

    def _end(self, error: BaseException | None = None) -> None:
        self._queue.put_nowait(error if error is not None else _END)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self

    async def __anext__(self) -> Any:
        item = await self._queue.get()
        if item is _END:
            self._queue.put_nowait(_END)
            raise StopAsyncIteration
        if isinstance(item, BaseException):
            self._queue.put_nowait(item)
            raise item
        return item

    async def read_all(self) -> Any:
        """The whole stream: a str for text, bytes for byte streams."""
        parts = [chunk async for chunk in self]
        return "".join(parts) if self.is_text else b"".join(parts)


def new_record(info: Any, *, sender: str, is_text: bool, started: float, **fields: Any) -> StreamRecord:
    """A stream's first record from the SDK's stream `info` (sent or received); `fields` set the rest."""
    fields.setdefault("size", info.size or None)
    fields.setdefault("received", 0)
    fields.setdefault("state", StreamState.STARTED)
    return StreamRecord(
        stream_id=info.stream_id,
        sender=sender,
        topic=info.topic,
        is_text=is_text,
        name="" if is_text else getattr(info, "name", ""),
        mime_type=info.mime_type,
        attributes=frozen_map(info.attributes),
        started_at=started,
        updated_at=time.time(),
        **fields,
    )


class StreamReceiver:
    """Reads every incoming stream into `StreamRecord`s on the router, and feeds per-topic handlers."""

    def __init__(self, router: Router, *, spawn: Spawn) -> None:
        self.router = router
        self._spawn = spawn
        self._observers: dict[str, list[StreamObserver]] = {}

    # -- what a session registers -------------------------------------------------------------------------------
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

    def observe(self, topic: str, observer: StreamObserver) -> Callable[[], None]:
        """Tell `observer` of every incoming stream on `topic` (internal: it takes no handler slot, so a user may
        still register their own handler for the topic). An observer's exception is reported, never fatal.
        Returns a function that stops the observation."""
        self._observers.setdefault(topic, []).append(observer)

        def stop() -> None:
            observers = self._observers.get(topic, [])
            if observer in observers:
                observers.remove(observer)

        return stop

    def _tell(self, topic: str, call: Callable[[StreamObserver], None]) -> None:
        for observer in list(self._observers.get(topic, ())):
            try:
                call(observer)
            except Exception as exc:
                self.router.report(f"stream observer for topic {topic!r}", exc)

    # -- the SDK's side -----------------------------------------------------------------------------------------

    def attach(self, room: rtc.Room) -> None:
        for name, dispatch in (("_text_stream_handlers", self._on_text), ("_byte_stream_handlers", self._on_bytes)):
            if not isinstance(getattr(room, name, None), dict):
                raise RuntimeError(f"livekit.rtc.Room has no {name} dict: this SDK version is not supported")
            setattr(room, name, _EveryTopic(dispatch))

    def _on_text(self, reader: rtc.TextStreamReader, identity: str) -> None:
        self._spawn(self._read(reader, identity, is_text=True), name=f"text stream {reader.info.stream_id}")

    def _on_bytes(self, reader: rtc.ByteStreamReader, identity: str) -> None:
        self._spawn(self._read(reader, identity, is_text=False), name=f"byte stream {reader.info.stream_id}")

    def _start_handler(self, info: Any, identity: str, *, is_text: bool) -> TeeReader | None:
        handler: StreamHandler | None = (self.router.text_handlers if is_text else self.router.byte_handlers).get(
            info.topic
        )
        if handler is None:
            return None
        tee = TeeReader(info, is_text=is_text)
        try:
            result = handler(tee, identity)
            if asyncio.iscoroutine(result):
                self._spawn(_guard(result, self.router, info.topic), name=f"stream handler {info.topic}")
        except Exception as exc:
            self.router.report(f"stream handler for topic {info.topic!r}", exc)
        return tee

    async def _read(self, reader: rtc.TextStreamReader | rtc.ByteStreamReader, identity: str, *, is_text: bool) -> None:
        info = reader.info
        record = new_record(info, sender=identity, is_text=is_text, started=time.time(), text="" if is_text else None)
        self.router.update_stream(record)
        tee = self._start_handler(info, identity, is_text=is_text)
        topic = info.topic
        self._tell(topic, lambda o: o.opened(info, identity))
        sink = _Sink(self.router, record)
        error: BaseException | None = None
        try:
            async for chunk in reader:
                sink.add(chunk)
                if tee is not None:
                    tee._feed(chunk)
                if topic in self._observers:
                    self._tell(topic, lambda o: o.chunk(info, identity, chunk))  # noqa: B023 (called at once)
                self.router.update_stream(sink.record(StreamState.STARTED))
        except rtc.StreamError as exc:
            error = exc
        except BaseException as exc:  # cancelled (the session left) or failed: observers learn it did not finish
            error = exc
            raise
        finally:
            sink.close()
            if tee is not None:
                tee._end(error)
            self._tell(topic, lambda o: o.closed(reader.info, identity, error))
        final = sink.record(StreamState.ABORTED if error is not None else StreamState.FINISHED)
        final = dataclasses.replace(
            final, attributes=frozen_map(reader.info.attributes), error=str(error) if error is not None else ""
        )
        self.router.update_stream(final)


class _Sink:
    """Accumulates one stream: bounded text, or size + sha256 + first bytes (+ the file, if the router saves)."""

    def __init__(self, router: Router, record: StreamRecord) -> None:
        self._record = record
        self._text_limit = router.text_limit
        self._head_limit = router.head_bytes
        self._parts: list[str] = []
        self._chars = 0
        self.truncated = False
        self._hash = hashlib.sha256()
        self._head = bytearray()
        self.received = 0
        self._file: IO[bytes] | None = None
        self._path = ""
        if not record.is_text and router.save_dir is not None:
            path = saved_path(router.save_dir, record)
            self._file = path.open("wb")
            self._path = str(path)

    def add(self, chunk: str | bytes) -> None:
        if isinstance(chunk, str):
            self.received += len(chunk.encode("utf-8"))
            room = self._text_limit - self._chars
            if room > 0:
                self._parts.append(chunk[:room])
                self._chars += min(room, len(chunk))
            if len(chunk) > room:
                self.truncated = True
            return
        self.received += len(chunk)
        self._hash.update(chunk)
        if len(self._head) < self._head_limit:
            self._head += chunk[: self._head_limit - len(self._head)]
        if self._file is not None:
            self._file.write(chunk)

    def record(self, state: StreamState) -> StreamRecord:
        r = self._record
        done = state is not StreamState.STARTED
        return dataclasses.replace(
            r,
            received=self.received,
            state=state,
            updated_at=time.time(),
            text="".join(self._parts) if r.is_text else None,
            truncated=self.truncated,
            head=bytes(self._head),
            sha256=self._hash.hexdigest() if done and not r.is_text else "",
            saved_to=self._path,
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()


def saved_path(folder: Path, record: StreamRecord) -> Path:
    """Where a received byte stream is saved: `<folder>/<stream id>-<name>`, the name made safe for a path."""
    folder.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", record.name or "stream")[:80]
    sid = re.sub(r"[^A-Za-z0-9_-]", "_", record.stream_id)[:40]
    return folder / f"{sid}-{safe}"


async def _guard(coro: Coroutine[Any, Any, Any], router: Router, topic: str) -> None:
    try:
        await coro
    except Exception as exc:
        router.report(f"stream handler for topic {topic!r}", exc)


def check_save_dir(folder: object) -> Path | None:
    """`keep_streams_in`: a folder path or None. Raises InvalidInputError."""
    if folder is None:
        return None
    if not isinstance(folder, str | Path):
        raise InvalidInputError(f"a folder must be a str or Path, not {type(folder).__name__}")
    path = Path(folder).expanduser()
    if path.exists() and not path.is_dir():
        raise InvalidInputError(f"{str(path)!r} exists and is not a folder")
    return path
