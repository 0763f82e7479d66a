"""The recording file: one SQLite database (WAL while written), its versioned schema, and opening it safely.

Tables:
- `meta(key, value)`: format name, schema version, created (ISO 8601 UTC), room, writer version, limits.
- `records(seq, at, server_at, kind, body, data)`: one row per recorded thing in journal order. `at` is the local
  receive time (never decreasing), `server_at` the server's time when the thing has one, `kind` a record kind
  (`wire.STATE_KINDS` and those of `entries.py`), `body` compact JSON, `data` raw bytes (payloads, webhook bodies).
- `snapshots(seq, at, state)`: the whole RoomState after record `seq`, written every few thousand state records so
  that `state_at(t)` replays from near `t` instead of from the start.

Why SQLite: the standard library reads it everywhere (Binder included); WAL commits survive SIGKILL of the writer
and a torn last transaction is ignored on open; an index answers "the record at time t" in O(log n).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from pathlib import Path

from ..errors import NewerRecordingError, NotARecordingError

__all__ = ["FORMAT", "SCHEMA_VERSION", "create", "open_read_only"]

FORMAT = "lk_notebook.recording"
SCHEMA_VERSION = 1

_DDL = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE records(
    seq INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    server_at REAL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    data BLOB
);
CREATE INDEX records_at ON records(at);
CREATE INDEX records_kind ON records(kind, seq);
CREATE TABLE snapshots(seq INTEGER PRIMARY KEY, at REAL NOT NULL, state TEXT NOT NULL);
"""

_SQLITE_MAGIC = b"SQLite format 3\x00"


def create(path: Path, meta: dict[str, str]) -> sqlite3.Connection:
    """A new recording at `path` (which must not exist), schema and meta committed, in WAL mode."""
    # isolation_level=None: the journal opens and commits its own transactions (one per batch).
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    # NORMAL in WAL mode: a commit is in the OS's hands once written, so SIGKILL of this process loses nothing
    # committed (only a power cut can lose the last commits), without an fsync per batch.
    conn.execute("PRAGMA synchronous=NORMAL")
    rows = {
        "format": FORMAT,
        "schema_version": str(SCHEMA_VERSION),
        "created": dt.datetime.now(dt.timezone.utc).isoformat(),
        **meta,
    }
    # Schema and meta in one transaction: a file cut before it commits is empty, never half a recording.
    conn.execute("BEGIN")
    for statement in filter(str.strip, _DDL.split(";")):
        conn.execute(statement)
    conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", rows.items())
    conn.execute("COMMIT")
    return conn


def _describe(path: Path) -> str:
    """What a file that is not a recording looks like, for the error message."""
    head = path.read_bytes()[:64] if path.stat().st_size else b""
    if not head:
        return "an empty file"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"{path.stat().st_size} bytes of binary data starting {head[:8]!r}"
    return f"text starting {text[:40]!r}"


def open_read_only(path: Path) -> tuple[sqlite3.Connection, dict[str, str]]:
    """Open a recording for reading, with its meta; clear errors for anything that is not one we can read.

    Read-only, so opening a recording that is still being written (or was cut off by a crash) changes nothing:
    SQLite reads the WAL up to its last complete commit and ignores a torn tail.
    """
    if not path.is_file():
        found = "a directory" if path.is_dir() else "no such file"
        raise NotARecordingError(f"{path} is not a recording: {found}", path=str(path), found=found)
    with path.open("rb") as f:
        magic = f.read(len(_SQLITE_MAGIC))
    if magic != _SQLITE_MAGIC:
        found = _describe(path)
        raise NotARecordingError(
            f"{path} is not an lk_notebook recording (found {found}, not an SQLite database)",
            path=str(path),
            found=found,
        )
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' ORDER BY name")]
        meta = dict(conn.execute("SELECT key, value FROM meta")) if "meta" in tables else {}
    except sqlite3.DatabaseError as exc:
        conn.close()
        found = f"a damaged SQLite database ({exc})"
        raise NotARecordingError(f"{path} cannot be read: {found}", path=str(path), found=found) from exc
    if meta.get("format") != FORMAT:
        conn.close()
        found = f"an SQLite database with tables {', '.join(tables) or '(none)'}"
        raise NotARecordingError(
            f"{path} is not an lk_notebook recording (found {found}, without the meta of format {FORMAT!r})",
            path=str(path),
            found=found,
        )
    version = int(meta.get("schema_version", "0"))
    if version > SCHEMA_VERSION:
        conn.close()
        raise NewerRecordingError(
            f"{path} is a recording of schema version {version}; this lk_notebook reads up to version "
            f"{SCHEMA_VERSION}: upgrade lk_notebook to open it",
            path=str(path),
            version=version,
            supported=SCHEMA_VERSION,
        )
    return conn, meta
