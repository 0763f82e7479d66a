"""Crash safety: a writer SIGKILLed mid-traffic, and a file copied (and cut) while a transaction is being written.

Both must open, hold a gap-free prefix of what was appended, and lose at most the last second: every record
appended more than 1 s before the kill is in the file.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from lk_notebook.events import DataKind, Message
from lk_notebook.recording import Journal, RecordedPacket, Recording

pytestmark = pytest.mark.slow

WRITER = """
import sys, time
from lk_notebook.events import AttributesChanged, DataKind, Message, ParticipantJoined, frozen_map
from lk_notebook.recording import Journal
from lk_notebook.state import participant

journal = Journal(sys.argv[1], room="crash", commit_interval=0.25)
journal.append_event(ParticipantJoined(participant("ann"), time.time()))
print("ready", flush=True)
i = 0
while True:
    i += 1
    now = time.time()
    journal.append_packet(Message("ann", "seq", DataKind.RELIABLE, str(i).encode(), now))
    if i % 50 == 0:
        n = frozen_map({"n": str(i)})
        journal.append_event(AttributesChanged("ann", n, n, now))
    time.sleep(0.001)
"""


def packet_numbers(rec: Recording) -> list[tuple[int, float]]:
    out = []
    for e in rec.events(["packet"]):
        assert isinstance(e.value, RecordedPacket)
        out.append((int(e.value.payload), e.at))
    return out


def test_sigkilled_writer_loses_at_most_the_last_second(tmp_path: Path) -> None:
    path = tmp_path / "crash.lkrec"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(2.5)  # traffic for a while before the kill (not a proof of anything)
        killed_at = time.time()
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert (tmp_path / "crash.lkrec-wal").exists()  # really cut off mid-recording, not closed
    with Recording(path) as rec:
        numbers = packet_numbers(rec)
        assert [n for n, _ in numbers] == list(range(1, len(numbers) + 1))  # a prefix, no gap
        last_at = numbers[-1][1]
        assert last_at >= killed_at - 1.0, f"lost {killed_at - last_at:.2f} s before the kill"
        # The attribute change for packet 50k is appended after that packet, so a commit may fall between the two:
        # the file then ends with packet 50k and the state from packet 50k-50.
        last = len(numbers)
        expected = {str(last // 50 * 50)} | ({str(last - 50)} if last % 50 == 0 else set())
        state = rec.state_at(rec.end)
        assert state.participants["ann"].attributes["n"] in expected, (last, expected)


def test_a_copy_taken_mid_transaction_and_cut_opens_with_what_is_complete(tmp_path: Path) -> None:
    path = tmp_path / "live.lkrec"
    journal = Journal(path, commit_interval=0.02)
    stop = threading.Event()

    def traffic() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            journal.append_packet(Message("ann", "seq", DataKind.RELIABLE, str(i).encode(), time.time()))
            if i % 10 == 0:
                # Paced so that the WAL stays under SQLite's auto-checkpoint (1000 pages) while copies are taken: a
                # checkpoint between copying the main file and the WAL would make a torn copy no crash can make.
                time.sleep(0.001)

    writer = threading.Thread(target=traffic)
    writer.start()
    try:
        copies = []
        for k in range(5):
            time.sleep(0.1)
            copy = tmp_path / f"copy{k}.lkrec"
            shutil.copy(path, copy)  # WAL mode: the main file only changes at checkpoints; the WAL is being appended
            shutil.copy(path.with_name(path.name + "-wal"), copy.with_name(copy.name + "-wal"))
            copies.append(copy)
    finally:
        stop.set()
        writer.join()
        journal.close()
    assert {c.stat().st_size for c in copies} == {copies[0].stat().st_size}  # no checkpoint came between copies
    for k, copy in enumerate(copies):
        wal = copy.with_name(copy.name + "-wal")
        size = wal.stat().st_size
        with wal.open("r+b") as f:
            f.truncate(size - 1 - k * 997)  # cut inside the last frame, as a crash mid-write would
        with Recording(copy) as rec:
            numbers = [n for n, _ in packet_numbers(rec)]
            assert numbers == list(range(1, len(numbers) + 1))
            assert len(numbers) > 0
