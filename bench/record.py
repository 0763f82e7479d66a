"""Benchmark: the recording journal and reader (issue 18's performance targets), in one run.

    python bench/record.py [--duration 60] [--rate 5000] [--events 1000000] [--queries 100]

(a) record `--rate` events/s for `--duration` s through a Journal on an asyncio loop (80% packets of 100 bytes,
    20% attribute changes over 100 participants), while a probe task measures how late the loop wakes from 5 ms
    sleeps: target p99 < 20 ms. Reports bytes per event (file size / records) and per kind.
(b) build an `--events` recording (room-state events over 1,000 participants, 20% packets) and time `state_at(t)`
    for `--queries` random t: target < 200 ms each.
(c) replay its state events into a fresh RoomState, decoding included: target >= 200k events/s.
(d) peak memory (ru_maxrss) after each phase.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import resource
import sqlite3
import statistics
import tempfile
import time
from contextlib import closing
from pathlib import Path

from lk_notebook.events import AttributesChanged, DataKind, Message, ParticipantJoined, ParticipantLeft, frozen_map
from lk_notebook.recording import Journal, Recording, replay
from lk_notebook.recording.wire import STATE_KINDS
from lk_notebook.state import RoomState, participant


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def lag_probe(lags: list[float], stop: asyncio.Event, period: float = 0.005) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        lags.append((time.perf_counter() - t - period) * 1000)


def attribute_event(identity: str, n: int, at: float) -> AttributesChanged:
    attrs = frozen_map({"n": str(n), "role": "speaker"})
    return AttributesChanged(identity, frozen_map({"n": str(n)}), attrs, at)


class NoJournal:
    """The baseline's sink: the same events made and handed over, then dropped (what the loop does without us)."""

    def append_event(self, event: object) -> None:
        pass

    def append_packet(self, message: object) -> None:
        pass


async def generate(sink: Journal | NoJournal, people: list[str], duration: float, rate: int, n: int) -> int:
    """`rate` events/s for `duration` s into `sink`, in ticks of 10 ms: 80 % packets of 100 bytes, 20 % attribute
    changes. Returns the event counter (it carries on across segments, so attribute values keep changing)."""
    per_tick = max(1, rate // 100)
    payload = bytes(100)
    sent = 0
    start = time.perf_counter()
    while time.perf_counter() - start < duration:
        at = time.time()
        for _ in range(per_tick):
            n += 1
            if n % 5 == 0:
                sink.append_event(attribute_event(people[n % 100], n, at))
            else:
                sink.append_packet(Message(people[n % 100], "bench", DataKind.RELIABLE, payload, at))
        sent += per_tick
        await asyncio.sleep(max(0.0, (sent / rate) - (time.perf_counter() - start)))
    return n


async def record(path: Path, duration: float, rate: int, segment: float) -> None:
    """Alternates `segment` seconds with the journal and as long without it (same generator, same probe), until the
    journal has had `duration` seconds: the two lag distributions are measured under the same machine load."""
    journal = Journal(path, room="bench")
    people = [f"user-{i}" for i in range(100)]
    now = time.time()
    for who in people:
        journal.append_event(ParticipantJoined(participant(who, sid="PA_" + who, joined_at=now), now))
    lags: dict[str, list[float]] = {"journal": [], "baseline": []}
    loads: dict[str, list[float]] = {"journal": [], "baseline": []}
    writer_cpu = 0.0
    n, recorded = 0, 0.0
    while recorded < duration:
        for name, sink in (("journal", journal), ("baseline", NoJournal())):
            length = min(segment, duration - recorded)
            stop = asyncio.Event()
            probe = asyncio.ensure_future(lag_probe(lags[name], stop))
            n = await generate(sink, people, length, rate, n)
            stop.set()
            await probe
            loads[name].append(os.getloadavg()[0])
        recorded += length
    writer_cpu = journal.writer_cpu
    behind = journal.appended - journal.written
    await asyncio.to_thread(journal.close)
    await asyncio.to_thread(report, path, n, duration, rate, lags, loads, behind, writer_cpu)


def report(
    path: Path, sent: int, elapsed: float, rate: int, lags: dict[str, list[float]], loads: dict[str, list[float]],
    behind: int, writer_cpu: float,
) -> None:  # fmt: skip
    size = path.stat().st_size
    with Recording(path) as rec:
        records = len(rec)
    # The file is plain SQLite: the per-kind sizes come straight from it.
    with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
        per_kind = conn.execute(
            "SELECT kind, count(*), avg(length(body) + ifnull(length(data), 0)) FROM records GROUP BY kind"
        ).fetchall()
    print(f"(a) recorded {records:,} records over {elapsed:.0f} s of journal segments at {rate:,} events/s")
    for name, values in lags.items():
        print(
            f"    {name:8s} loop lag p50 {percentile(values, 50):.2f} ms, p99 {percentile(values, 99):.2f} ms "
            f"(target < 20), max {max(values):.2f} ms, {len(values)} probes; load "
            f"{' '.join(f'{x:.1f}' for x in loads[name])}"
        )
    print(
        f"    writer thread CPU {writer_cpu:.2f} s ({1e6 * writer_cpu / records:.1f} us/record); {behind} queued at end"
    )
    print(f"    file {size / 1e6:.1f} MB for {records} records = {size / records:.0f} bytes/event (indexes included)")
    for kind, count, avg in per_kind:
        print(f"      {kind:12s} {count:8d} records, {avg:.0f} bytes of body+data each")
    print(f"    peak RSS {peak_mb():.0f} MB")


def build(path: Path, events: int) -> float:
    people = [f"user-{i}" for i in range(1000)]
    present: set[str] = set()
    rng = random.Random(1)
    t = 1_700_000_000.0
    started = time.perf_counter()
    with Journal(path, room="big") as journal:
        for n in range(events):
            t += 0.001
            who = people[rng.randrange(1000)]
            r = rng.random()
            if who not in present:
                journal.append_event(ParticipantJoined(participant(who, sid="PA_" + who, joined_at=t), t))
                present.add(who)
            elif r < 0.01:
                journal.append_event(ParticipantLeft(who, "CLIENT_INITIATED", t))
                present.discard(who)
            elif r < 0.8:
                journal.append_event(attribute_event(who, n, t))
            else:
                journal.append_packet(Message(who, "bench", DataKind.RELIABLE, b"x" * 50, t))
            if n % 50_000 == 0:
                journal.flush(timeout=120)  # bounds the queue (memory), as a live room's pace would
    return time.perf_counter() - started


def query(path: Path, queries: int) -> None:
    with Recording(path) as rec:
        start, end = rec.start.timestamp(), rec.end.timestamp()
        rng = random.Random(2)
        timings, cpu = [], []
        for _ in range(queries):
            t = rng.uniform(start, end)
            began, began_cpu = time.perf_counter(), time.process_time()
            rec.state_at(t)
            timings.append((time.perf_counter() - began) * 1000)
            cpu.append((time.process_time() - began_cpu) * 1000)
        print(
            f"(b) state_at on {len(rec):,} records, {queries} random t: p50 {statistics.median(timings):.1f} ms, "
            f"p99 {percentile(timings, 99):.1f} ms, max {max(timings):.1f} ms wall (target < 200 each); "
            f"CPU time p50 {statistics.median(cpu):.1f} ms, max {max(cpu):.1f} ms"
        )
        # (c) replay: every state record of the file, decoded and applied to a fresh RoomState. The fast path
        # (Recording.replay_state) and the event path (decode each record to an event, RoomState.apply_many)
        # alternate, twice each, so that both see the same machine load.
        count = sum(n for kind, n in rec.kinds().items() if kind in STATE_KINDS)
        for _ in range(2):
            began, began_cpu = time.perf_counter(), time.process_time()
            fast = rec.replay_state()
            took, took_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            print(
                f"(c) replay {count:,} state events into a RoomState (target >= 200k/s), from the file: "
                f"replay_state {count / took:,.0f}/s wall, {count / took_cpu:,.0f}/s CPU "
                f"(load {os.getloadavg()[0]:.2f})"
            )
            began, began_cpu = time.perf_counter(), time.process_time()
            slow = replay((e.value for e in rec.events(STATE_KINDS)), RoomState("big"))  # type: ignore[misc]
            took, took_cpu = time.perf_counter() - began, time.process_time() - began_cpu
            print(
                f"    events + apply_many {count / took:,.0f}/s wall, {count / took_cpu:,.0f}/s CPU "
                f"(load {os.getloadavg()[0]:.2f}); same state: "
                f"{(list(fast.participants.items()), fast.history) == (list(slow.participants.items()), slow.history)}"
                f", {len(fast)} participants at the end"
            )
        print(f"    peak RSS {peak_mb():.0f} MB (before the next line holds every decoded event in a list)")
        decoded = [e.value for e in rec.events(STATE_KINDS)]
        began, began_cpu = time.perf_counter(), time.process_time()
        replay(decoded, RoomState("big"))  # type: ignore[arg-type]
        apply_only, apply_cpu = time.perf_counter() - began, time.process_time() - began_cpu
        print(
            f"    RoomState.apply_many alone on decoded events {count / apply_only:,.0f}/s wall, "
            f"{count / apply_cpu:,.0f}/s CPU"
        )
        began = time.perf_counter()
        rec.state_at(end)
        print(f"    state_at(end) {1000 * (time.perf_counter() - began):.1f} ms")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=60.0)
    ap.add_argument("--rate", type=int, default=5000)
    ap.add_argument("--segment", type=float, default=10.0, help="seconds per journal/baseline alternation")
    ap.add_argument("--skip-big", action="store_true", help="only part (a)")
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(record(Path(tmp) / "live.lkrec", args.duration, args.rate, args.segment))
        if args.skip_big:
            return
        big = Path(tmp) / "big.lkrec"
        took = build(big, args.events)
        print(
            f"    built {args.events:,} events in {took:.1f} s ({args.events / took:,.0f}/s), "
            f"{big.stat().st_size / 1e6:.0f} MB = {big.stat().st_size / args.events:.0f} bytes/event"
        )
        query(big, args.queries)
        print(f"(d) peak RSS {peak_mb():.0f} MB")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
