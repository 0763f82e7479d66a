"""The recording format, its writer and reader: records round-trip, frames, replay, the reader's errors, a full
disk (a size limit, and a real 1 MB tmpfs when this process may mount one). Pure files: no server, no network."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from lk_notebook.errors import DiskFullError, JournalError, NewerRecordingError, NotARecordingError, RecordingError
from lk_notebook.events import (
    AttributesChanged,
    ConnectionChanged,
    ConnectionStatus,
    DataKind,
    Message,
    MetadataChanged,
    ParticipantJoined,
    ParticipantLeft,
    RoomMetadataChanged,
    RpcRecord,
    StreamRecord,
    StreamState,
    frozen_map,
)
from lk_notebook.recording import (
    SCHEMA_VERSION,
    AgentMessage,
    DataTrackStats,
    Journal,
    RecordedPacket,
    Recording,
    ServerParticipants,
    WebhookRecord,
    replay,
)
from lk_notebook.state import participant

T0 = 1_700_000_000.0


def joined(identity: str, at: float, **attrs: str) -> ParticipantJoined:
    return ParticipantJoined(participant(identity, sid=f"PA_{identity}", attributes=attrs, joined_at=at - 0.5), at)


def stream(text: str, at: float) -> StreamRecord:
    return StreamRecord(
        "TS_1", "ann", "chat", True, "", "text/plain", len(text), frozen_map({}), len(text), StreamState.FINISHED,
        at - 1, at, text=text,
    )  # fmt: skip


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "room.lkrec"


def write_sample(path: Path, **options: int) -> None:
    with Journal(path, room="demo", **options) as j:
        j.append_event(ConnectionChanged(ConnectionStatus.CONNECTED, T0))
        j.append_event(joined("ann", T0 + 1, role="host"))
        j.append_event(joined("bob", T0 + 2))
        j.append_packet(Message("ann", "chat", DataKind.RELIABLE, b"hello", T0 + 2.5))
        j.append_packet(Message("bob", "bin", DataKind.LOSSY, bytes(range(256)) * 4, T0 + 2.6))
        j.append_event(AttributesChanged("ann", frozen_map({"role": "guest"}), frozen_map({"role": "guest"}), T0 + 3))
        j.append_event(MetadataChanged("bob", "", '{"x":1}', T0 + 4))
        j.append_event(RoomMetadataChanged("", "topic", T0 + 4.5))
        j.append_stream(stream("x" * 100, T0 + 5))
        j.append_rpc(RpcRecord(1, False, "ping", "bob", "me", "p", T0 + 5.5, "pong", finished_at=T0 + 5.6))
        j.append_datatrack_stats("ann", "imu", {"frames": 10, "fps": 5.0}, at=T0 + 5.7)
        j.append_agent_message("agent", "lk.agent.session", b"\x00\x01", at=T0 + 5.8)
        j.append_server_participants("demo", [participant("ann"), participant("bob")], at=T0 + 5.9)
        j.append_webhook(WebhookRecord("participant_left", "EV_1", "demo", "ann", '{"event":"participant_left"}'),
                         T0 + 5.95, T0 + 6.1)  # fmt: skip
        j.append_event(ParticipantLeft("ann", "CLIENT_INITIATED", T0 + 6))


def test_every_record_kind_round_trips(path: Path) -> None:
    write_sample(path, payload_limit=100, text_limit=10)
    assert sorted(p.name for p in path.parent.iterdir()) == ["room.lkrec"]  # closed: one file, no -wal beside it
    with Recording(path) as rec:
        assert rec.room == "demo" and rec.schema_version == SCHEMA_VERSION and len(rec) == 15
        entries = list(rec.events())
        assert [e.seq for e in entries] == list(range(1, 16))
        kinds = [e.kind for e in entries]
        assert kinds[:5] == ["connection", "joined", "joined", "packet", "packet"]
        assert entries[1].server_at == T0 + 0.5  # a join keeps the server's join time beside the local one
        big = entries[4].value
        assert isinstance(big, RecordedPacket)
        assert (big.size, big.truncated, len(big.payload)) == (1024, True, 100)
        assert big.sha256 == hashlib.sha256(bytes(range(256)) * 4).hexdigest()
        by_kind = {e.kind: e for e in entries}
        s = by_kind["stream"].value
        assert isinstance(s, StreamRecord) and s.text == "x" * 10 and s.truncated and s.received == 100
        assert isinstance(by_kind["datatrack_stats"].value, DataTrackStats)
        agent = by_kind["agent_message"].value
        assert isinstance(agent, AgentMessage) and agent.payload == b"\x00\x01"
        listed = by_kind["server_participants"].value
        assert isinstance(listed, ServerParticipants) and [p.identity for p in listed.participants] == ["ann", "bob"]
        hook = by_kind["webhook"]
        assert (hook.server_at, hook.at) == (T0 + 5.95, T0 + 6.1)
        assert rec.start == dt.datetime.fromtimestamp(T0, dt.timezone.utc)
        assert rec.end == dt.datetime.fromtimestamp(T0 + 6.1, dt.timezone.utc)
        assert [e.kind for e in rec.events(["packet"], start=T0 + 2.55)] == ["packet"]


def test_frames(path: Path) -> None:
    write_sample(path)
    with Recording(path) as rec:
        messages = rec.messages_frame()
        assert messages["text"].iloc[0] == "hello" and messages["text"].isna().iloc[1]
        assert list(messages["size"]) == [5, 1024]
        hooks = rec.webhooks_frame()
        assert list(hooks["event"]) == ["participant_left"] and hooks["server_at"].dt.tz is not None
        assert list(rec.streams_frame()["state"]) == ["finished"]
        rpc = rec.rpc_frame()
        assert list(rpc["response"]) == ["pong"] and rpc["latency"].iloc[0] == pytest.approx(0.1)
        history = rec.history_frame()
        assert list(history["kind"]) == ["connection", "joined", "joined", "attribute", "metadata", "room_metadata",
                                         "left"]  # fmt: skip


def test_state_at_and_replay(path: Path) -> None:
    write_sample(path, snapshot_every=2)  # snapshots inside the run, so state_at starts from one
    with Recording(path) as rec:
        assert len(rec.state_at(T0 - 1)) == 0
        at3 = rec.state_at(dt.datetime.fromtimestamp(T0 + 3, dt.timezone.utc))
        assert sorted(at3.participants) == ["ann", "bob"] and at3.participants["ann"].attributes == {"role": "guest"}
        assert at3.status is ConnectionStatus.CONNECTED
        end = rec.state_at(rec.end)
        assert sorted(end.participants) == ["bob"] and end.room_metadata == "topic"
        full = replay(e.value for e in rec.events() if isinstance(e.value, ParticipantJoined | ParticipantLeft))
        assert sorted(full.participants) == ["bob"]
        assert rec.state_at(T0 + 2.9).participants["ann"].attributes == {"role": "host"}


def test_appends_on_the_loop_commit_from_the_writer_thread(path: Path) -> None:
    async def main() -> int:
        j = Journal(path, commit_interval=0.05)
        for i in range(1000):
            j.append_packet(Message("ann", "t", DataKind.RELIABLE, str(i).encode(), T0 + i))
        await j.aflush()
        with Recording(path) as rec:  # readable while the journal is still open
            count = len(rec)
        await j.aclose()
        return count

    assert asyncio.run(main()) == 1000


def test_a_record_the_writer_cannot_apply_stops_the_journal_with_an_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A pure unit test of the writer thread's own failure path (no LiveKit): its model refuses an event.
    j = Journal(path)
    j.append_event(joined("ann", T0))
    j.flush()

    def refuse(event: object) -> None:
        raise TypeError("a model that cannot apply this")

    monkeypatch.setattr(j._numbering.state, "apply", refuse)
    j.append_event(joined("bob", T0 + 1))
    with pytest.raises(JournalError, match="could not encode or apply a record"):
        j.flush(timeout=10)  # before: the writer thread died and flush waited out its timeout
    j.append_event(joined("cy", T0 + 2))  # refused and counted, not queued for ever
    assert j.dropped >= 2 and j.written == 1
    j.close()
    with Recording(path) as rec:
        assert len(rec) == 1  # what was committed before stays readable


def test_appending_after_close_is_an_error(path: Path) -> None:
    j = Journal(path)
    j.close()
    with pytest.raises(JournalError, match="closed"):
        j.append_event(joined("ann", T0))
    with pytest.raises(JournalError, match="already exists"):
        Journal(path)
    with pytest.raises(JournalError, match="no directory"):
        Journal(path.parent / "missing" / "x.lkrec")


# -- the reader's errors ---------------------------------------------------------------------------------------------
def test_not_a_recording(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello there")
    with pytest.raises(NotARecordingError, match=r"notes\.txt.*text starting 'hello there'") as info:
        Recording(text)
    assert info.value.path == str(text)
    empty = tmp_path / "empty.lkrec"
    empty.touch()
    with pytest.raises(NotARecordingError, match="an empty file"):
        Recording(empty)
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE people(name TEXT)")
    conn.close()
    with pytest.raises(NotARecordingError, match="SQLite database with tables people"):
        Recording(other)
    with pytest.raises(NotARecordingError, match="no such file"):
        Recording(tmp_path / "missing.lkrec")


def test_newer_schema_names_both_versions(path: Path) -> None:
    write_sample(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 6),))
    conn.close()
    with pytest.raises(NewerRecordingError, match=f"version {SCHEMA_VERSION + 6}.*up to version {SCHEMA_VERSION}") as e:
        Recording(path)
    assert (e.value.version, e.value.supported) == (SCHEMA_VERSION + 6, SCHEMA_VERSION)


def test_a_cut_closed_file_is_refused_clearly(path: Path) -> None:
    write_sample(path)
    cut = path.with_name("cut.lkrec")
    cut.write_bytes(path.read_bytes()[:4096])  # the header page survives, the tables' pages do not
    with pytest.raises(RecordingError, match=r"cut\.lkrec"), Recording(cut) as rec:
        list(rec.events())


# -- a full disk -------------------------------------------------------------------------------------------------------
def fill(journal: Journal, n: int) -> None:
    for i in range(n):
        journal.append_packet(Message("ann", "t", DataKind.RELIABLE, bytes(1000) + str(i).encode(), T0 + i))


def check_full_disk_stops_the_journal(path: Path, **options: int) -> None:
    errors: list[JournalError] = []
    j = Journal(path, commit_interval=0.05, on_error=errors.append, **options)
    fill(j, 50)
    j.flush()
    committed = j.written
    fill(j, 5000)
    with pytest.raises(DiskFullError, match="full"):
        j.flush()
    assert errors == [j.error] and isinstance(j.error, DiskFullError)
    fill(j, 10)  # after the failure: counted, not raised (the owner was told once)
    assert j.dropped >= 10
    j.close()
    with Recording(path) as rec:  # what was committed before stays readable
        assert len(rec) >= committed and len(rec) == j.written
        assert [e.value.payload[1000:] for e in rec.events()][:3] == [b"0", b"1", b"2"]  # type: ignore[union-attr]


def test_size_limit_stops_the_journal_like_a_full_disk(path: Path) -> None:
    check_full_disk_stops_the_journal(path, max_bytes=400_000)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1M", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a 1 MB tmpfs here ({done.stderr.decode().strip()}); the size-limit test covers it")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_a_real_full_disk_stops_the_journal(tiny_disk: Path) -> None:
    check_full_disk_stops_the_journal(tiny_disk / "room.lkrec")
    # The file is still a recording once copied off the full disk.
    copy = tiny_disk.parent / "copy.lkrec"
    for f in tiny_disk.iterdir():
        shutil.copy(f, copy.with_name(f.name.replace("room", "copy")))
    with Recording(copy) as rec:
        assert len(rec) > 0


def test_wire_format_is_compact_json(path: Path) -> None:
    write_sample(path)
    with sqlite3.connect(path) as conn:
        kind, body = conn.execute("SELECT kind, body FROM records WHERE kind = 'attributes'").fetchone()
    conn.close()
    assert kind == "attributes"
    assert body == '{"identity":"ann","changed":{"role":"guest"},"attributes":{"role":"guest"},"at":%r}' % (T0 + 3)
    assert json.loads(body)["at"] == T0 + 3


def test_the_error_callback_runs_on_the_owners_loop(path: Path) -> None:
    async def main() -> tuple[JournalError, bool]:
        loop = asyncio.get_running_loop()
        told: asyncio.Future[tuple[JournalError, bool]] = loop.create_future()

        def on_error(error: JournalError) -> None:
            told.set_result((error, asyncio.get_running_loop() is loop))

        journal = Journal(path, commit_interval=0.05, max_bytes=200_000, on_error=on_error)
        fill(journal, 2000)
        try:
            return await asyncio.wait_for(told, 10)
        finally:
            await asyncio.to_thread(journal.close)

    error, on_loop = asyncio.run(main())
    assert isinstance(error, DiskFullError) and on_loop
    assert str(path) in str(error) and "stays readable" in str(error)


def test_stream_bytes_are_kept_only_when_asked(tmp_path: Path) -> None:
    record = dataclasses.replace(stream("", T0), is_text=False, text=None, sha256="ab" * 32)
    for keep in (False, True):
        path = tmp_path / f"keep-{keep}.lkrec"
        with Journal(path, keep_stream_bytes=keep) as j:
            j.append_stream(record, data=b"secret-ish bytes")
        with Recording(path) as rec:
            (entry,) = rec.events()
        assert isinstance(entry.value, StreamRecord) and entry.value.sha256 == "ab" * 32
        assert entry.value.head == (b"secret-ish bytes" if keep else b"")
        assert (b"secret-ish bytes" in path.read_bytes()) is keep
