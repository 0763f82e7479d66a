"""The journal: an append-only, crash-safe recording writer that never blocks the asyncio loop.

`append_*` encodes the record (a few microseconds) and puts it on a queue; a writer thread inserts and commits one
transaction per batch at least every `commit_interval` seconds, so SIGKILL loses at most that much. The thread also
keeps a RoomState of the recorded state events and stores it as a snapshot every `snapshot_every` state records (what
makes `Recording.state_at` fast).

Why encode on the loop: the writer thread and the loop share the GIL, and when the loop wakes while the thread runs
Python code it waits up to the 5 ms switch interval (more on a loaded machine) before it gets the GIL back. Encoding
in the thread made it hold the GIL ~20 us per record; on the loop the same work costs the loop only its own time,
spread over the appends. Measured with bench/record.py (a): see the commit that moved it.

Example::

    journal = Journal("room.lkrec", room="demo", on_error=print)
    state.subscribe(journal.append_event)        # every RoomState event
    session.on_message(journal.append_packet)    # ... packets, streams, RPC, webhooks
    journal.close()                              # flushes, and leaves one self-contained file
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from ..errors import DiskFullError, JournalError
from ..events import Event, Message, ParticipantInfo, ParticipantJoined, RpcRecord, StreamRecord
from ..state import RoomState
from . import entries
from .entries import Encoded, StatValue, WebhookRecord
from .schema import create
from .wire import dumps, encode_event, encode_room_state

__all__ = ["Journal"]

WRITER_VERSION = "lk_notebook 0.1.0"
_MAX_BATCH = 20_000
"""Records per transaction: bounds the time the writer holds the GIL in one go and the size of a lost batch."""

_ROWS_PER_INSERT = 160
"""Rows per INSERT statement (960 parameters: under SQLite's limit of 999 before 3.32). sqlite3 releases the GIL
around each statement step; `executemany` steps once per row, so the writer took the GIL back 1,250 times per
batch at 5,000 records/s, each time making the loop wait for it if the loop wanted it then."""

# (local time or None for "now", server time, kind, JSON body, raw bytes, the event for a room-state record)
_Pending = tuple[float | None, float | None, str, str, bytes | None, Event | None]
ErrorCallback = Callable[[JournalError], None]


class Journal:
    """Writes one recording file. Append from one thread (the asyncio loop); read it back with `Recording`.

    `max_bytes` caps the file's size (reaching it stops the journal like a full disk). A full disk or another write
    failure stops the journal: `error` is set, `on_error(error)` is called (on the
    loop that created the journal, if there was one), later appends are counted in `dropped`, and everything
    committed before stays readable.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        room: str = "",
        payload_limit: int = 16_384,
        text_limit: int = 16_384,
        keep_stream_bytes: bool = False,
        commit_interval: float = 0.25,
        snapshot_every: int = 2_000,
        max_bytes: int | None = None,
        on_error: ErrorCallback | None = None,
    ) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise JournalError(f"{self.path} already exists: record into a new file", path=str(self.path))
        if not self.path.parent.is_dir():
            raise JournalError(f"cannot record to {self.path}: no directory {self.path.parent}", path=str(self.path))
        if not 0 < commit_interval <= 1:
            raise ValueError("commit_interval must be in (0, 1] seconds: SIGKILL loses at most one interval")
        self.payload_limit = payload_limit
        self.text_limit = text_limit
        self.keep_stream_bytes = keep_stream_bytes
        self._interval = commit_interval
        self._on_error = on_error
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None
        meta = {
            "room": room,
            "writer_version": WRITER_VERSION,
            "payload_limit": str(payload_limit),
            "text_limit": str(text_limit),
            "snapshot_every": str(snapshot_every),
        }
        self._conn = create(self.path, meta)
        if max_bytes is not None:
            # SQLite then fails a commit that would grow the file past it exactly as a full disk does.
            page_size = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
            self._conn.execute(f"PRAGMA max_page_count={max(1, max_bytes // page_size)}")
        self._numbering = _Numbering(room, snapshot_every)
        self._queue: deque[_Pending] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self.appended = 0
        """Records handed to the journal (accepted, not necessarily committed yet)."""
        self.written = 0
        """Records committed to the file."""
        self.dropped = 0
        self._in_batch = 0
        """Records refused because the journal had stopped on an error."""
        self.error: JournalError | None = None
        self.writer_cpu = 0.0
        """CPU seconds the writer thread has used (what it takes from the loop's process, for benchmarks)."""
        self._thread = threading.Thread(target=self._run, name=f"lk-journal:{self.path.name}", daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        state = "failed" if self.error else "closed" if self._closing else "open"
        return f"Journal({str(self.path)!r}, {state}, written={self.written}, pending={len(self._queue)})"

    # -- appending (on the loop: queue only) -----------------------------------------------------------------------
    def _accepts(self) -> bool:
        if self.error is not None:
            self.dropped += 1
            return False
        if self._closing:
            raise JournalError(f"the journal of {self.path} is closed", path=str(self.path))
        return True

    def _put(self, at: float | None, server_at: float | None, encoded: Encoded) -> None:
        if self._accepts():
            kind, body, data = encoded
            self._queue.append((at, server_at, kind, dumps(body), data, None))
            self.appended += 1

    def append_event(self, event: Event, *, at: float | None = None) -> None:
        """A RoomState event (usable as a `RoomState.subscribe` callback). `at` defaults to the event's time."""
        if self._accepts():
            server_at = event.participant.joined_at if isinstance(event, ParticipantJoined) else None
            kind, body = encode_event(event)
            self._queue.append((event.at if at is None else at, server_at, kind, dumps(body), None, event))
            self.appended += 1

    def append_packet(self, message: Message) -> None:
        """A data packet: payload up to `payload_limit` bytes, size and sha256 of all of it."""
        if self._accepts():
            self._put(message.received_at, None, entries.encode_packet(message, limit=self.payload_limit))

    def append_stream(self, record: StreamRecord, *, data: bytes | None = None) -> None:
        """A text or byte stream record: text up to `text_limit`; `data` (the bytes) kept only if
        `keep_stream_bytes`, otherwise the record's size and sha256 say what it was."""
        kept = data if self.keep_stream_bytes else None
        self._put(record.updated_at, None, entries.encode_stream(record, text_limit=self.text_limit, data=kept))

    def append_rpc(self, record: RpcRecord) -> None:
        at = record.finished_at if record.finished_at is not None else record.started_at
        self._put(at, None, entries.encode_rpc(record, text_limit=self.text_limit))

    def append_datatrack_stats(
        self, publisher: str, track: str, stats: Mapping[str, StatValue], *, at: float | None = None
    ) -> None:
        self._put(at, None, entries.encode_datatrack_stats(publisher, track, dict(stats)))

    def append_agent_message(self, sender: str, topic: str, payload: bytes, *, at: float | None = None) -> None:
        """An agent session message, opaque for now: topic and bytes (up to `payload_limit`)."""
        self._put(at, None, entries.encode_agent_message(sender, topic, payload, limit=self.payload_limit))

    def append_server_participants(
        self, room: str, participants: Sequence[ParticipantInfo], *, at: float | None = None
    ) -> None:
        """A `list_participants` answer from the server API."""
        self._put(at, None, entries.encode_server_participants(room, tuple(participants)))

    def append_webhook(self, record: WebhookRecord, created_at: float | None, at: float | None = None) -> None:
        """A verified webhook (a `WebhookServer` callback); `created_at` is the server's time of the event, `at`
        the local receive time."""
        self._put(at, created_at, entries.encode_webhook(record))

    # -- flushing and closing --------------------------------------------------------------------------------------
    def flush(self, timeout: float | None = 10.0) -> None:
        """Block until everything appended so far is committed (or the journal failed: then raise its error)."""
        target = self.appended
        with self._cond:
            self._cond.notify_all()
            done = self._cond.wait_for(lambda: self.written + self.dropped >= target or self.error, timeout)
        if self.error is not None:
            raise self.error
        if not done:
            raise JournalError(f"the journal of {self.path} did not commit within {timeout} s", path=str(self.path))

    async def aflush(self) -> None:
        """`flush` without blocking the loop."""
        await asyncio.to_thread(self.flush)

    def close(self) -> None:
        """Commit what is pending and close: the file becomes one self-contained SQLite file (no -wal beside it)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join()

    async def aclose(self) -> None:
        """`close` without blocking the loop (the last commit and the checkpoint run in a thread)."""
        await asyncio.to_thread(self.close)

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the writer thread -----------------------------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._closing:
                    self._cond.wait(self._interval)
                closing = self._closing
            while self._queue and self.error is None:
                try:
                    self._write_batch()
                except Exception as exc:  # an event the model or the encoder refused: stop, say so, never hang
                    self._fail(exc, lost=len(self._queue) + self._in_batch)
            self.writer_cpu = time.thread_time()
            with self._cond:
                self._cond.notify_all()
            if closing or self.error is not None:
                break
        self._finish()

    def _write_batch(self) -> None:
        queue = self._queue
        rows: list[tuple[int, float, float | None, str, str, bytes | None]] = []
        snapshots: list[tuple[int, float, str]] = []
        now = time.time()
        self._in_batch = 0  # taken from the queue and not yet committed: lost if this batch fails
        while queue and len(rows) < _MAX_BATCH:
            at, server_at, kind, body, data, event = queue.popleft()
            self._in_batch += 1
            seq, at, snapshot = self._numbering.next(now if at is None else at, event)
            rows.append((seq, at, server_at, kind, body, data))
            if len(rows) % 256 == 0:
                # Let the loop's thread take the GIL now rather than at the end of the 5 ms switch interval.
                time.sleep(0)
            if snapshot is not None:
                snapshots.append((seq, at, snapshot))
        try:
            self._conn.execute("BEGIN")
            for i in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[i : i + _ROWS_PER_INSERT]
                values = ",".join(["(?,?,?,?,?,?)"] * len(chunk))
                self._conn.execute(f"INSERT INTO records VALUES {values}", [v for row in chunk for v in row])
            self._conn.executemany("INSERT INTO snapshots VALUES (?, ?, ?)", snapshots)
            self._conn.execute("COMMIT")
        except (sqlite3.Error, OSError) as exc:
            self._fail(exc, lost=len(rows) + len(queue))
        else:
            self.written += len(rows)

    def _fail(self, exc: Exception, *, lost: int) -> None:
        if self._conn.in_transaction:
            # SQLite may have rolled back already (it does on SQLITE_FULL); the file is consistent either way.
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")
        error = stopped_error(exc, path=self.path, lost=lost, written=self.written)
        # The error first: from then on appends are refused and counted as dropped, so none falls between the two.
        self.error = error
        self.dropped += lost
        self._queue.clear()
        if self._on_error is not None:
            if self._loop is not None and not self._loop.is_closed():
                self._loop.call_soon_threadsafe(self._on_error, error)
            else:
                self._on_error(error)

    def _finish(self) -> None:
        try:
            if self.error is None:
                # DELETE mode: checkpoint the WAL into the file and remove it, so the file alone is the recording
                # (and opens read-only where -wal/-shm cannot be created, e.g. a read-only Binder checkout).
                self._conn.execute("PRAGMA journal_mode=DELETE")
        except sqlite3.Error:
            pass  # still a valid WAL-mode recording; readers open it as it is
        finally:
            self._conn.close()
            with self._cond:
                self._cond.notify_all()


class _Numbering:
    """What the writer thread alone owns: record numbers, times that never decrease, and the room state it
    stores as a snapshot every `snapshot_every` state records."""

    def __init__(self, room: str, snapshot_every: int) -> None:
        self.state = RoomState(room, history_limit=1)
        self.snapshot_every = snapshot_every
        self.seq = 0
        self.last_at = 0.0
        self.since_snapshot = 0

    def next(self, at: float, event: Event | None) -> tuple[int, float, str | None]:
        """(seq, at, the room state's snapshot when one is due) of the next record (`event`: a state record's)."""
        if event is not None:
            self.state.apply(event)
            self.since_snapshot += 1
        # `at` never decreases along the journal, so "the records up to t" is a prefix (one index lookup).
        self.last_at = max(self.last_at, at)
        self.seq += 1
        if self.since_snapshot < self.snapshot_every:
            return self.seq, self.last_at, None
        self.since_snapshot = 0
        return self.seq, self.last_at, dumps(encode_room_state(self.state))


def stopped_error(exc: Exception, *, path: Path, lost: int, written: int) -> JournalError:
    """What a journal that stopped on `exc` tells its owner: a full disk, a failed write, or a record it could not
    encode or apply (a bug: the writer thread stops with a message rather than hang its owner's flush)."""
    full = (isinstance(exc, sqlite3.Error) and "full" in str(exc)) or (
        isinstance(exc, OSError) and exc.errno == errno.ENOSPC
    )
    if full:
        why = "the disk (or the database's size limit) is full"
    elif isinstance(exc, sqlite3.Error | OSError):
        why = "a write failed"
    else:
        why = "the writer could not encode or apply a record"
    cls = DiskFullError if full else JournalError
    error = cls(
        f"recording to {path} stopped: {why} ({exc}); the last {lost} records are lost, everything committed "
        f"before ({written} records) stays readable",
        path=str(path),
    )
    error.__cause__ = exc
    return error
