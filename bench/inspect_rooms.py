# ruff: noqa: E402  (sys.path must be fixed before the imports: see below)
"""Benchmark: the room browser and the hidden inspector on a busy server (200 rooms, a 500-person room).

    python bench/inspect_rooms.py [--rooms 200] [--crowd 500] [--workers 4] [--churn 50] [--duration 20]

Sets up its own livekit-server, creates `--rooms` rooms through the server API, and fills one room with `--crowd`
signal-only participants (LiveKit's signalling WebSocket, no WebRTC: see below) spread over `--workers` processes,
each with attributes, while the server API changes one of them `--churn` times a second in total. Then, on this
process's loop, as a notebook would:

- a RoomBrowser polls every room at its default pace (1 s);
- a hidden inspector joins the crowd room, with its ParticipantsTable rendering deltas (a front end "attached");
- an API-only observer polls the crowd room's `list_participants`.

A probe task sleeps 5 ms again and again and records how late it wakes up: the lag every cell and widget on the
kernel's loop would suffer. Printed: lag p50/p99/max (target p99 < 20 ms), room-list refresh time per poll
(list_rooms plus building the rows; target < 1 s), observer poll time, inspector join time, and how many crowd
participants actually joined (if the machine cannot hold all of them, it says so and measures with those it has).
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path and this file would shadow the standard library's
# `inspect` (which asyncio imports): take the folder off before anything else is imported.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import argparse
import asyncio
import contextlib
import multiprocessing as mp
import random
import statistics
import time
from multiprocessing.connection import Connection
from typing import Any

import aiohttp
from livekit.protocol import rtc as proto_rtc

import lk_notebook as lk
from lk_notebook._logging import scrub
from lk_notebook.config import Credentials
from lk_notebook.lab.stats import LatencyHistogram
from lk_notebook.server import LocalServer
from lk_notebook.widgets import ParticipantsTable, RoomBrowser

CROWD = "crowd"


# -- the crowd: worker processes, each holding many signal connections -----------------------------------------------
# A full rtc.Room costs two PeerConnections with ICE, DTLS and SCTP: 500 of them took this 2-core machine past a load
# of 20 without finishing (measured, then stopped). The crowd is therefore made of signal-only participants: each
# opens LiveKit's signalling WebSocket with its own token, answers pings, and never starts WebRTC. The server lists
# them (state JOINING), announces them to everyone, and relays their attribute changes like anyone's: the load on
# the browser and the inspector is the same, the load on this machine is not.
def _worker(creds: tuple[str, str, str], first: int, count: int, churn: float, conn: Connection) -> None:
    asyncio.run(_crowd(Credentials(*creds), first, count, churn, conn))


async def _signal_only(http: aiohttp.ClientSession, c: Credentials, identity: str, ready: list[str]) -> None:
    token = c.token(CROWD, identity, attributes={"seat": identity, "status": "idle"})
    url = f"{c.url}/rtc?access_token={token}&protocol=16&auto_subscribe=0&sdk=python"
    async with http.ws_connect(url, max_msg_size=0) as ws:
        first = await ws.receive()
        join = proto_rtc.SignalResponse.FromString(first.data).join
        ready.append(identity)
        interval = join.ping_interval or 5

        async def ping() -> None:
            while True:
                await asyncio.sleep(interval)
                await ws.send_bytes(proto_rtc.SignalRequest(ping=int(time.time() * 1000)).SerializeToString())

        pinger = asyncio.ensure_future(ping())
        try:
            async for _msg in ws:  # participant updates for everyone else: read and drop
                pass
        finally:
            pinger.cancel()


def _describe(exc: BaseException | None) -> str:
    status = getattr(exc, "status", "")
    return scrub(f"{type(exc).__name__} {status} {getattr(exc, 'message', '') or ''}".strip())


async def _crowd(c: Credentials, first: int, count: int, churn: float, conn: Connection) -> None:
    ready: list[str] = []
    async with aiohttp.ClientSession() as http:
        tasks = []
        for i in range(first, first + count):
            tasks.append(asyncio.ensure_future(_signal_only(http, c, f"p{i:04d}", ready)))
            await asyncio.sleep(0.05)  # 20 joins/s per worker: the server's join path is not under test here
        deadline = time.monotonic() + 120
        while len(ready) < count and time.monotonic() < deadline:  # noqa: ASYNC110 (a count from many tasks)
            await asyncio.sleep(0.1)
        # Never the exception's repr: a refused WebSocket upgrade quotes the URL, token included.
        failed = [_describe(t.exception()) for t in tasks if t.done() and not t.cancelled() and t.exception()]
        conn.send(("joined", len(ready), failed[:3]))
        # Attribute churn through the server API (a signal-only participant cannot publish its own).
        n = 0
        async with lk.ServerAPI(c) as admin:
            while not conn.poll():
                if churn > 0 and ready:
                    n += 1
                    with contextlib.suppress(lk.AdminError):  # that one has gone: counted as dropped at the end
                        await admin.update_participant(CROWD, random.choice(ready), attributes={"status": f"s{n % 7}"})
                    await asyncio.sleep(1 / churn)
                else:
                    await asyncio.sleep(0.2)
        dropped = sum(1 for t in tasks if t.done())
        for t in tasks:
            t.cancel()
    conn.send(("done", n, dropped))


# -- the notebook side ------------------------------------------------------------------------------------------------
async def lag_probe(hist: LatencyHistogram, stop: asyncio.Event, period: float = 0.005) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        hist.record(int((time.perf_counter() - t - period) * 1e9))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rooms", type=int, default=200)
    ap.add_argument("--crowd", type=int, default=500)
    ap.add_argument("--workers", type=int, default=5, help="crowd processes (each reads every update it gets)")
    ap.add_argument("--churn", type=float, default=50.0, help="attribute changes per second across the crowd")
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--profile", help="write a cProfile of the measured window to this file")
    ap.add_argument("--debug-slow", type=float, default=0.0, help="log loop callbacks slower than this (s)")
    args = ap.parse_args()
    if args.debug_slow:
        import logging

        logging.basicConfig(level=logging.WARNING)
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = args.debug_slow

    server = LocalServer().start()
    c = Credentials(server.url, server.api_key, server.api_secret, "explicit")
    admin = lk.ServerAPI(c)
    procs: list[tuple[Any, Connection]] = []
    try:
        t0 = time.perf_counter()
        gate = asyncio.Semaphore(20)

        async def create(i: int) -> None:
            async with gate:
                await admin.create_room(f"room-{i:03d}", metadata=f'{{"n": {i}}}', empty_timeout=3600)

        await asyncio.gather(*(create(i) for i in range(args.rooms - 1)))
        await admin.create_room(CROWD, metadata='{"crowd": true}', empty_timeout=3600)
        print(f"{args.rooms} rooms created in {time.perf_counter() - t0:.1f} s")

        t0 = time.perf_counter()
        ctx = mp.get_context("spawn")
        per = -(-args.crowd // args.workers)
        for w in range(args.workers):
            first, count = w * per, min(per, args.crowd - w * per)
            if count <= 0:
                break
            here, there = ctx.Pipe()
            p = ctx.Process(
                target=_worker,
                args=((c.url, c.api_key, c.api_secret), first, count, args.churn / args.workers, there),
                daemon=True,
            )
            p.start()
            procs.append((p, here))
        joined = 0
        for _p, conn in procs:
            msg = await asyncio.to_thread(conn.recv)
            joined += msg[1]
            if msg[2]:
                print(f"  a worker's join errors (first of them): {msg[2]}")
        took = time.perf_counter() - t0
        print(
            f"crowd: {joined} of {args.crowd} signal-only participants joined in {took:.1f} s ({len(procs)} processes)"
        )
        if joined < args.crowd:
            print(f"  NOTE: measuring with {joined} participants, not {args.crowd}: the machine could not hold more")

        # The machine's own noise (the crowd's processes, anything else running): the probe alone on this loop.
        base = LatencyHistogram()
        base_stop = asyncio.Event()
        base_probe = asyncio.ensure_future(lag_probe(base, base_stop))
        await asyncio.sleep(min(5.0, args.duration))
        base_stop.set()
        await base_probe

        # What a notebook would run.
        browser = RoomBrowser(lk.ServerAPI(c))
        refresh_times: list[float] = []
        show = browser._show_rooms

        def timed_show(rooms: list[lk.RoomSummary]) -> None:
            start = time.perf_counter()
            show(rooms)
            refresh_times.append(browser.poller.last_duration + time.perf_counter() - start)

        browser.poller._on_result = timed_show
        t0 = time.perf_counter()
        inspector = await lk.inspect(CROWD, url=c.url, api_key=c.api_key, api_secret=c.api_secret)
        join_s = time.perf_counter() - t0
        table = ParticipantsTable(inspector)
        sent_bytes = 0

        def send(content: dict[str, Any], buffers: object = None) -> None:
            nonlocal sent_bytes
            sent_bytes += len(str(content))

        table.send = send
        table._on_front_end(table, {"t": "hello"}, [])  # as if a browser view were attached
        observer = lk.observe(CROWD, admin=lk.ServerAPI(c), interval=1.0)
        observer_times: list[float] = []
        # The steady state a notebook lives in: everything joined and polling. (The join is timed on its own.)
        hist = LatencyHistogram()
        stop = asyncio.Event()
        probe = asyncio.ensure_future(lag_probe(hist, stop))
        profiler = None
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        start_changes = len(inspector.state.history)
        t_start = time.perf_counter()
        while time.perf_counter() - t_start < args.duration:
            await asyncio.sleep(1.0)
            observer_times.append(observer.poller.last_duration)
        stop.set()
        await probe
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        changes = len(inspector.state.history) - start_changes
        seen = len(inspector.state) - 1
        print(
            f"inspector: joined the crowd room in {join_s:.2f} s, sees {seen} participants, "
            f"{changes / args.duration:.0f} changes/s, table {table.live.renders / args.duration:.1f} renders/s, "
            f"{sent_bytes / args.duration / 1024:.1f} KiB/s to the browser"
        )
        print(
            f"observer: {len(observer.state)} participants via list_participants; poll p50 "
            f"{statistics.median(observer_times) * 1000:.0f} ms max {max(observer_times) * 1000:.0f} ms"
        )
        rows = len(browser.room_list.rows)
        print(
            f"room list: {rows} rooms; refresh (list_rooms + rows) p50 {pct(refresh_times, 50) * 1000:.0f} ms "
            f"p99 {pct(refresh_times, 99) * 1000:.0f} ms max {max(refresh_times) * 1000:.0f} ms over "
            f"{len(refresh_times)} polls -> {max(refresh_times) / 1.0:.3f}x the 1 s target"
        )
        p99 = hist.percentile(99)
        print(
            f"loop lag: p50 {hist.percentile(50):.2f} ms p99 {p99:.2f} ms max {hist.max_ns / 1e6:.2f} ms "
            f"-> p99 is {p99 / 20:.3f}x the 20 ms target"
        )
        print(
            f"  baseline (probe alone, same machine, crowd connected): p50 {base.percentile(50):.2f} ms p99 "
            f"{base.percentile(99):.2f} ms max {base.max_ns / 1e6:.2f} ms"
        )
        await browser.aclose()
        table.close()
        await observer.aclose()
        await observer.admin.aclose()
        await inspector.leave()
    finally:
        dropped = 0
        for _p, conn in procs:
            conn.send("stop")
        for _p, conn in procs:
            if await asyncio.to_thread(conn.poll, 30):
                dropped += conn.recv()[2]
        print(f"crowd connections the server closed during the run: {dropped}")
        for p, _conn in procs:
            p.join(30)
            if p.is_alive():
                p.terminate()
        await admin.aclose()
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
