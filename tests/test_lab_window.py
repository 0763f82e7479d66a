"""The lab's measurement window and the names it declares, without a server: a fake rig and relay record what the
window does, in which order (pure unit tests; the real path is checked by test_lab_delivery/test_lab_transfer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from lk_notebook.lab import Impairment, Lab, PathError, RelayStats
from lk_notebook.lab.droplog import DATA_DATAGRAM_BYTES, DropLog
from lk_notebook.lab.serverlog import count_data_track_drops, logs_send_failures
from lk_notebook.lab.window import Window, prove_crossed


def stats(received: int) -> RelayStats:
    return RelayStats(received=[received, 0])


def test_relay_proof_needs_min_sent_10_datagrams() -> None:
    prove_crossed(stats(100), stats(110), sent=500)  # 10 datagrams for 500 messages: enough
    prove_crossed(stats(0), stats(3), sent=3)  # a few messages: as many datagrams
    prove_crossed(stats(0), stats(0), sent=0)  # nothing sent, nothing to prove
    with pytest.raises(PathError, match="only 9 datagrams crossed"):
        prove_crossed(stats(100), stats(109), sent=500)
    with pytest.raises(PathError, match="only 2 datagrams crossed"):
        prove_crossed(stats(0), stats(2), sent=3)


class FakeRelay:
    def __init__(self, log: list[str], crossing: int) -> None:
        self.log, self.crossing, self.received = log, crossing, 0

    def set_impairment(self, impairment: Impairment) -> None:
        self.log.append(f"impair {impairment.label()}")

    def clear(self) -> None:
        self.log.append("clear")

    def record_drops(self, min_size: int) -> DropLog:
        self.drops = DropLog(min_size)
        return self.drops

    def stop_recording(self) -> DropLog | None:
        return self.drops

    def stats(self) -> RelayStats:
        self.log.append("stats")
        s = stats(self.received)
        self.received += self.crossing
        return s


class FakeRig:
    def __init__(self, crossing: int) -> None:
        self.log: list[str] = []
        self.relay = FakeRelay(self.log, crossing)
        self.sinks: list[Any] = [None, None]
        self.logs: list[Path] = []

    async def check_paths(self) -> str:
        self.log.append("check")
        return "relay"

    def udp_owners(self) -> dict[tuple[str, int], str]:
        return {}

    def server_logs(self) -> list[Path]:
        return self.logs


async def test_window_order_and_proof() -> None:
    rig = FakeRig(crossing=50)

    async def drain() -> None:
        rig.log.append("drain")

    sink = object()
    async with Window(rig, Impairment(loss=0.1), drain=drain) as w:  # type: ignore[arg-type]
        w.receive([sink])  # type: ignore[list-item]
        assert rig.sinks == [sink, None]
        w.callback(lambda: rig.log.append("callback"))
        rig.log.append("send")
        await w.end_sending(20)
    # the impairment only after the path check; clear after the drain and the run's own cleanup; checked again
    assert rig.log == ["check", "impair loss=0.1", "stats", "send", "drain", "callback", "clear", "check", "stats"]
    assert rig.sinks == [None, None]
    assert w.before is not None and w.after is not None and w.evidence.wall_s > 0
    # the relay's drop log of the window, recorded from the impairment on (data datagrams only)
    assert w.drops is rig.relay.drops and w.drops.min_size == DATA_DATAGRAM_BYTES


DROP_LINE = (
    "2026-12-03T13:15:01.790Z\tWARN\tlivekit\trtc/datadowntrack.go:127\tcould not send data track message\t"
    '{{"room": "{room}", "roomID": "RM_b2A4mh77wJzu", "participant": "{who}", "remote": false, '
    '"error": "data dropped due to high buffered amount: bitrate 329118, buffered amount 8268, target latency limit '
    '4113, min buffered amount 8192"}}\n'
)
"""A line livekit-server v1.13.5 logged here for a data-track frame it dropped (some fields left out)."""


def test_server_drops_are_counted_per_room_and_receiver_from_the_servers_own_lines() -> None:
    text = DROP_LINE.format(room="lk-lab-a", who="rx") * 3 + DROP_LINE.format(room="lk-lab-b", who="rx")
    text += DROP_LINE.format(room="lk-lab-a", who="someone-else")
    text += '2026-12-03T13:15:01.791Z\tINFO\tlivekit\tparticipant active\t{"room": "lk-lab-a"}\n'
    assert count_data_track_drops(text, "lk-lab-a", "rx") == 3
    assert count_data_track_drops(text, "lk-lab-b", "rx") == 1
    assert count_data_track_drops(text, "lk-lab", "rx") == 0  # a prefix of a room name is another room
    assert count_data_track_drops("", "lk-lab-a", "rx") == 0
    # the log writes fields as JSON: a name with a quote is escaped there, and still found
    assert count_data_track_drops(DROP_LINE.format(room='a\\"b', who="rx"), 'a"b', "rx") == 1


def test_only_a_configuration_that_logs_every_warning_is_counted() -> None:
    assert logs_send_failures({"logging": {"level": "info", "json": False}})
    assert logs_send_failures({}) and logs_send_failures({"logging": {"level": "WARN"}})
    assert not logs_send_failures({"logging": {"level": "error"}})
    assert not logs_send_failures({"logging": {"level": "info", "sample": True}})
    assert not logs_send_failures({"logging": {"item_sample_seconds": 1}})


async def test_window_marks_the_servers_logs_and_reads_whole_lines_once_they_settle(tmp_path: Path) -> None:
    rig = FakeRig(crossing=50)
    log = tmp_path / "livekit-server.log"
    log.write_text(DROP_LINE.format(room="earlier", who="rx"))
    rig.logs = [log, tmp_path / "not-started.log"]  # a node that has not written its log yet has none

    async def drain() -> None:
        with log.open("a") as f:
            f.write(DROP_LINE.format(room="during-the-drain", who="rx"))

    async with Window(rig, None, drain=drain) as w:  # type: ignore[arg-type]
        with log.open("a") as f:
            f.write(DROP_LINE.format(room="during", who="rx"))
        await w.end_sending(20)
    assert w.server_logs is not None

    async def late_writer() -> None:  # the copying thread behind on a busy host: the reader waits for it
        for room in ("late-1", "late-2"):
            await asyncio.sleep(0.1)
            with log.open("a") as f:
                f.write(DROP_LINE.format(room=room, who="rx"))
        with log.open("a") as f:
            f.write("half a line")

    writer = asyncio.create_task(late_writer())
    text = await w.server_logs.settled(quiet=0.15)
    await writer
    rooms = ("during", "during-the-drain", "late-1", "late-2")
    assert text == "".join(DROP_LINE.format(room=r, who="rx") for r in rooms)
    log.write_text("started again\n")  # a restarted server begins a new log, shorter than at the mark
    assert w.server_logs.since() == "started again\n"
    rig.logs = []
    async with Window(rig, None) as w:  # type: ignore[arg-type]
        await w.end_sending(20)
    assert w.server_logs is None  # no local server: not known


async def test_window_refuses_a_run_whose_datagrams_did_not_cross_the_relay() -> None:
    rig = FakeRig(crossing=2)
    with pytest.raises(PathError, match="bypasses"):
        async with Window(rig, None) as w:  # type: ignore[arg-type]
            await w.end_sending(20)
    assert "clear" in rig.log


async def test_window_failing_run_clears_without_checking_again() -> None:
    rig = FakeRig(crossing=50)
    with pytest.raises(RuntimeError, match="boom"):
        async with Window(rig, Impairment(delay_ms=5)) as w:  # type: ignore[arg-type]
            w.callback(lambda: rig.log.append("callback"))
            raise RuntimeError("boom")
    assert rig.log == ["check", "impair delay=5ms", "stats", "callback", "clear"]


def test_lab_holds_a_rig_and_shows_its_parts_read_only() -> None:
    lab = Lab(url="ws://unused", api_key="k", api_secret="s")
    assert lab.relay is None and lab.sender is None and lab.room_name == lab.rig.room_name
    with pytest.raises(AttributeError, match=r"lab\.rig\.relay"):
        lab.relay = None
    lab.sink = lambda payload, now: True
    assert lab.rig.sink is not None
    with pytest.raises(TypeError, match="unknown rig option"):
        Lab(sever=None)  # type: ignore[call-arg]


def test_columns_are_checked_against_the_row_types() -> None:
    from lk_notebook.lab.rows import COLUMNS, ResultRow, columns

    assert columns(ResultRow, "mode", "loss_rate") == ("mode", "loss_rate")
    with pytest.raises(ValueError, match="loss_rat"):
        columns(ResultRow, "loss_rat")
    # The single-process row's columns keep their order; the Dask worker columns (issue 19) come after them.
    assert COLUMNS[:3] == ("run_id", "mode", "size")
    assert COLUMNS[-11:] == ("relay_messages_down", "relay_split_datagrams_up", "server_dropped_frames", "worker",
                             "worker_status",
                             "clock_offset_ms", "clock_bound_ms", "start_late_ms", "sender_loop_cpu",
                             "sender_loop_lag_p99_ms", "sender_cpu")  # fmt: skip


def test_live_chart_window_follows_the_run() -> None:
    from lk_notebook.widgets.livechart import CHART_CONSTANTS
    from lk_notebook.widgets.liveplot import LivePlot

    live = LivePlot()
    chart = live.widget()
    assert chart.constants == CHART_CONSTANTS and chart.window == live.window
    live.set_window(1.5)
    assert (live.window, chart.window) == (1.5, 1.5)
