"""Replay, compare and export of recordings, from files written by the Journal: no server, no network.

ReplaySource seeks and plays as the live session delivered; the Replay widget drives the same views; webhooks line
up with the SDK's changes; two recordings diff; Parquet export and its missing extra; `lk-notebook recording`.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import lk_notebook as lk
from lk_notebook.events import (
    AttributesChanged,
    DataKind,
    Message,
    ParticipantJoined,
    ParticipantLeft,
    RoomMetadataChanged,
    Snapshot,
    frozen_map,
)
from lk_notebook.recording import Journal, Recording, ReplaySource, WebhookRecord
from lk_notebook.state import RoomState, participant

from .conftest import eventually

T0 = 1_700_000_000.0


def write_room(path: Path, *, bob_role: str = "guest", extra_message: bool = False) -> None:
    """ann joins at T0+1, bob at T0+2, messages at T0+3..5, bob's role at T0+6, room metadata at T0+7, ann leaves
    at T0+8; webhooks for both joins (0.5 s and 0.1 s before the SDK) and ann's leave (0.05 s after). Appended in
    receive order, as a live recorder does (a journal's local times never decrease)."""
    with Journal(path, room="demo") as j:
        j.append_event(Snapshot("demo", "", (), T0))
        j.append_webhook(WebhookRecord("participant_joined", "EV_1", "demo", "ann", "{}"), T0, T0 + 0.5)
        j.append_event(ParticipantJoined(participant("ann", sid="PA_ann", joined_at=T0 + 1), T0 + 1))
        j.append_webhook(WebhookRecord("participant_joined", "EV_2", "demo", "bob", "{}"), T0 + 1, T0 + 1.9)
        j.append_event(ParticipantJoined(participant("bob", sid="PA_bob", joined_at=T0 + 2), T0 + 2))
        for n in range(3):
            j.append_packet(Message("ann", "chat", DataKind.RELIABLE, f"hello {n}".encode(), T0 + 3 + n))
        if extra_message:
            j.append_packet(Message("bob", "chat", DataKind.RELIABLE, b"only here", T0 + 5.5))
        j.append_event(AttributesChanged("bob", frozen_map({"role": bob_role}), frozen_map({"role": bob_role}), T0 + 6))
        j.append_event(RoomMetadataChanged("", "topic: replay", T0 + 7))
        j.append_event(ParticipantLeft("ann", "CLIENT_INITIATED", T0 + 8))
        j.append_webhook(WebhookRecord("participant_left", "EV_3", "demo", "ann", "{}"), T0 + 8, T0 + 8.05)


@pytest.fixture
def room_file(tmp_path: Path) -> Path:
    path = tmp_path / "room.lkrec"
    write_room(path)
    return path


def people(state: RoomState) -> dict[str, dict[str, str]]:
    return {i: dict(p.attributes) for i, p in state.participants.items()}


def test_apply_many_matches_apply_one_by_one(room_file: Path) -> None:
    with Recording(room_file) as rec:
        events = [e.value for e in rec.events(["joined", "left", "attributes", "room_metadata", "snapshot"])]
    one, many, seen = RoomState("demo"), RoomState("demo"), []
    many.subscribe(seen.append)
    for event in events:
        one.apply(event)  # type: ignore[arg-type]
    assert many.apply_many(events) == len(events)  # type: ignore[arg-type]
    assert (one.history, one.version, people(one)) == (many.history, many.version, people(many))
    assert seen == events


def test_source_seeks_and_plays_as_delivered(room_file: Path) -> None:
    with Recording(room_file) as rec:
        source = ReplaySource(rec)
        assert source.position == rec.start.timestamp() and people(source.state) == {}
        state = source.state
        source.seek(T0 + 6.5)
        assert source.state is state  # the same object: views subscribed to it follow
        assert people(state) == {"ann": {}, "bob": {"role": "guest"}}
        assert [m.text for m in source.inbox] == ["hello 0", "hello 1", "hello 2"]
        source.seek(T0 + 3.5)
        assert [m.text for m in source.inbox] == ["hello 0"] and people(state) == {"ann": {}, "bob": {}}
        got: list[str] = []
        source.on_message(lambda m: got.append(m.text or ""))
        assert source.advance(T0 + 7.5) > 0
        assert got == ["hello 1", "hello 2"]
        assert people(state) == people(rec.state_at(T0 + 7.5)) and state.room_metadata == "topic: replay"
        source.advance(T0 + 100)  # clamped to the end
        assert source.position == rec.end.timestamp() and "ann" not in state
        with pytest.raises(lk.SessionClosedError, match="replay"):
            raise source.closed_error("send")


async def test_replay_widget_drives_the_live_views(room_file: Path) -> None:
    replay = lk.Replay(room_file)
    try:
        assert isinstance(replay.table, lk.ParticipantsTable) and isinstance(replay.messages, lk.MessageLog)
        assert replay.table.state is replay.state
        replay.seek(T0 + 4.5)
        assert replay.slider.value == pytest.approx(4.5 - (replay.source.start - T0))
        assert [m.text for m in replay.messages.messages] == ["hello 0", "hello 1"]
        assert "(none)" in replay.room_line.value
        replay.step(3.0)
        assert "topic: replay" in replay.room_line.value
        assert replay.messages.received == 1  # hello 2, played through the same callback as a live message
        assert replay.state.get("bob").attributes["role"] == "guest"  # type: ignore[union-attr]
        replay.slider.value = 0.0  # scrubbing back seeks
        assert len(replay.state) == 0 and not replay.messages.messages
        assert "Replay of room 'demo'" in repr(replay)
    finally:
        replay.close()


async def test_replay_plays_at_its_speed_and_pauses(room_file: Path) -> None:
    replay = lk.Replay(room_file, speed=50.0)
    try:
        replay.play_button.value = True
        assert replay.play_button.description == "pause"
        # 8.05 s of recording at 50x: about 0.16 s of wall time, then play stops by itself at the end.
        await eventually(lambda: not replay.play_button.value, timeout=5, what="played to the end")
        assert replay.source.position == replay.source.end and "ann" not in replay.state
        assert [m.text for m in replay.messages.messages] == ["hello 0", "hello 1", "hello 2"]
        replay.play_button.value = True  # at the end, play starts over from the beginning
        replay.play_button.value = False
        assert replay.play_button.description == "play" and replay.source.position < replay.source.end
    finally:
        replay.close()


def test_seek_tells_no_callback_of_the_streams_it_skips(tmp_path: Path) -> None:
    from lk_notebook.events import StreamRecord, StreamState

    path = tmp_path / "streams.lkrec"
    with Journal(path, room="demo") as j:
        j.append_event(Snapshot("demo", "", (), T0))
        for n in range(3):
            text = f"part {n}"
            record = StreamRecord(
                f"TS_{n}", "ann", "chat", True, "", "text/plain", len(text), frozen_map({}), len(text),
                StreamState.FINISHED, T0 + n, T0 + n + 0.5, text=text,
            )  # fmt: skip
            j.append_stream(record)  # received at its updated_at
    with Recording(path) as rec:
        source = ReplaySource(rec)
        told: list[str] = []
        source.on_stream(lambda r: told.append(r.stream_id))
        source.seek(T0 + 1.9)
        assert [r.stream_id for r in source.streams] == ["TS_0", "TS_1"] and told == []  # skipped over: no callback
        source.advance(T0 + 10)
        assert told == ["TS_2"] and [r.stream_id for r in source.streams] == ["TS_0", "TS_1", "TS_2"]


async def test_replay_closes_the_recording_it_opened_and_only_that(room_file: Path) -> None:
    import sqlite3

    opened = lk.Replay(room_file)  # from a path: the replay owns the file
    opened.close()
    with pytest.raises(sqlite3.ProgrammingError):
        len(opened.recording)
    given = lk.Recording(room_file)
    lk.Replay(given).close()  # the caller's recording stays open
    assert len(given) > 0
    given.close()


def test_webhooks_line_up_with_sdk_changes(room_file: Path) -> None:
    with Recording(room_file) as rec:
        frame = lk.webhooks_vs_sdk(rec)
    assert list(frame["event"]) == ["participant_joined", "participant_joined", "participant_left"]
    assert list(frame["identity"]) == ["ann", "bob", "ann"]
    assert frame["webhook_lead"].round(3).tolist() == [0.5, 0.1, -0.05]
    assert frame["server_to_sdk"].round(3).tolist() == [1.0, 1.0, 0.0]
    summary = lk.lag_summary(frame)
    assert summary.loc["participant_joined", "matched"] == 2
    assert summary.loc["participant_joined", "max_lead_s"] == pytest.approx(0.5)


def test_diff_of_two_recordings(tmp_path: Path, room_file: Path) -> None:
    other = tmp_path / "other.lkrec"
    write_room(other, bob_role="host", extra_message=True)
    with Recording(room_file) as a, Recording(other) as b:
        diff = lk.diff_recordings(a, b)
        assert diff.who.empty
        assert diff.state.to_dict("records") == [{"identity": "bob", "field": "attr:role", "a": "guest", "b": "host"}]
        assert diff.messages[["sender", "only_in", "count"]].to_dict("records") == [
            {"sender": "bob", "only_in": "b", "count": 1}
        ]
        before = lk.diff_recordings(a, b, at_a=T0 + 1.5, at_b=T0 + 2.5)
        assert before.who.to_dict("records") == [{"identity": "bob", "in_a": False, "in_b": True}]
        assert before.messages.empty  # packets are compared up to each instant too
        later = lk.diff_recordings(a, a, at_a=T0 + 3.5, at_b=T0 + 4.5)
        assert later.messages[["only_in", "count"]].to_dict("records") == [{"only_in": "b", "count": 1}]
        assert lk.diff_recordings(a, a).same


def test_parquet_export_and_its_missing_extra(tmp_path: Path, room_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    try:  # the test extra installs it: a missing pyarrow is a broken setup, not a reason to skip
        import pyarrow  # noqa: F401
    except ImportError:
        pytest.fail("pyarrow is missing: pip install -e '.[test]' installs it (through the parquet extra)")
    import pandas as pd

    with Recording(room_file) as rec:
        written = rec.to_parquet(tmp_path / "out")
        assert pd.read_parquet(written["messages"])["sha256"].tolist() == rec.messages_frame()["sha256"].tolist()
        assert len(pd.read_parquet(written["webhooks"])) == 3
        monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if not installed
        with pytest.raises(lk.MissingExtraError, match=r"lk_notebook\[parquet\]") as info:
            rec.to_parquet(tmp_path / "again")
        assert info.value.extra == "parquet"


def test_cli_summarises_a_recording_and_names_what_is_wrong(tmp_path: Path, room_file: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "lk_notebook.cli", *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)

    ok = run("recording", str(room_file))
    assert ok.returncode == 0, ok.stderr
    assert '"room": "demo"' in ok.stdout and '"webhook": 3' in ok.stdout
    text = tmp_path / "notes.txt"
    text.write_text("not a recording")
    bad = run("recording", str(text))
    assert bad.returncode == 1 and "is not an lk_notebook recording" in bad.stderr and "Traceback" not in bad.stderr
    exists = run("record", "demo", "--out", str(room_file))
    assert exists.returncode == 1 and "already exists" in exists.stderr and "Traceback" not in exists.stderr
