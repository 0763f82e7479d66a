"""Benchmark: byte-stream goodput through lk_notebook vs the raw SDK, and event-loop lag while receiving.

    python -P bench/streams.py [--size-mb 5] [--reps 5] [--rate 500] [--duration 6]

1. Goodput: a 5 MB byte stream from one participant to another on the local server, timed from the `send_bytes`
   call to the receiver holding every byte. Raw: `rtc.Room` on both sides (`send_bytes`, a byte stream handler
   that reads it all). lk_notebook: `Session.send_bytes` to a `Session` that records it (size, sha256, first
   bytes, per-chunk records). Repetitions alternate; the median of each is compared. Target >= 0.9x.
2. Loop lag: a Session with the Dashboard live (its render tasks running, as in a kernel) receives 500 messages/s
   plus one 5 MB byte stream from a sender in another process. A probe task sleeps 5 ms again and again and
   records how late it wakes: what every cell and widget on the kernel's loop would suffer. Target: p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time

from livekit import rtc

import lk_notebook as lk
from lk_notebook.config import Credentials
from lk_notebook.lab.stats import LatencyHistogram
from lk_notebook.server import LocalServer


async def raw_room(creds: Credentials, room: str, identity: str) -> rtc.Room:
    r = rtc.Room()
    await r.connect(creds.url, creds.token(room, identity))
    return r


async def session(creds: Credentials, room: str, identity: str) -> lk.Session:
    return await lk.join(room, identity=identity, url=creds.url, api_key=creds.api_key, api_secret=creds.api_secret)


async def raw_transfer(creds: Credentials, data: bytes, room: str) -> float:
    a, b = await raw_room(creds, room, "a"), await raw_room(creds, room, "b")
    done = asyncio.get_running_loop().create_future()

    async def read(reader: rtc.ByteStreamReader) -> None:
        n = 0
        async for chunk in reader:
            n += len(chunk)
        done.set_result(n)

    tasks: set[asyncio.Task[None]] = set()

    def on_stream(reader: rtc.ByteStreamReader, _who: str) -> None:
        task = asyncio.ensure_future(read(reader))
        tasks.add(task)

    b.register_byte_stream_handler("bench", on_stream)
    await asyncio.sleep(0.5)
    start = time.perf_counter()
    await a.local_participant.send_bytes(data, topic="bench", name="x.bin")
    n = await asyncio.wait_for(done, 120)
    elapsed = time.perf_counter() - start
    assert n == len(data), (n, len(data))
    await a.disconnect()
    await b.disconnect()
    return elapsed


async def notebook_transfer(creds: Credentials, data: bytes, room: str) -> float:
    a, b = await session(creds, room, "a"), await session(creds, room, "b")
    await asyncio.sleep(0.5)
    finished = asyncio.get_running_loop().create_future()
    b.on_stream(
        lambda r: (
            finished.set_result(r)
            if r.state is not lk.StreamState.STARTED and not r.sent and not finished.done()
            else None
        )
    )
    start = time.perf_counter()
    await a.send_bytes(data, topic="bench", name="x.bin")
    record = await asyncio.wait_for(finished, 120)
    elapsed = time.perf_counter() - start
    assert record.received == len(data) and record.state is lk.StreamState.FINISHED, record
    await a.leave()
    await b.leave()
    return elapsed


async def goodput(creds: Credentials, size: int, reps: int) -> None:
    data = os.urandom(size)
    raw: list[float] = []
    ours: list[float] = []
    for i in range(reps):
        raw.append(await raw_transfer(creds, data, f"bench-raw-{i}-{time.time()}"))
        ours.append(await notebook_transfer(creds, data, f"bench-nb-{i}-{time.time()}"))
    r, o = statistics.median(raw), statistics.median(ours)
    mb = size / 1e6
    print(f"goodput {mb:.1f} MB byte stream, median of {reps}:")
    print(f"  raw SDK send_bytes -> handler   {mb / r:7.2f} MB/s  ({', '.join(f'{t:.2f}' for t in raw)} s)")
    print(f"  lk_notebook send -> Session     {mb / o:7.2f} MB/s  ({', '.join(f'{t:.2f}' for t in ours)} s)")
    print(f"  ratio lk_notebook / raw: {r / o:.2f}x (target >= 0.9x)")


SENDER = """
import asyncio, os, sys, time
from livekit import rtc
async def main(url, token, rate, duration, size):
    room = rtc.Room()
    await room.connect(url, token)
    await asyncio.sleep(1.0)
    blob = os.urandom(size)
    start = time.perf_counter()
    sent = 0
    async def stream():
        await asyncio.sleep(duration / 3)
        await room.local_participant.send_bytes(blob, topic="blob", name="blob.bin")
    task = asyncio.ensure_future(stream())
    # One publish at a time tops out near 570/s here (the FFI round trip): keep up to 4 in flight.
    window = asyncio.Semaphore(4)
    pending = set()
    async def one():
        try:
            await room.local_participant.publish_data(b"x" * 200, topic="load")
        finally:
            window.release()
    while time.perf_counter() - start < duration:
        due = start + sent / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await window.acquire()
        t = asyncio.ensure_future(one())
        pending.add(t)
        t.add_done_callback(pending.discard)
        sent += 1
    await task
    await asyncio.gather(*pending)
    print(sent, flush=True)
    # send_bytes returns once the chunks are queued, not delivered: leaving now would cut the stream short.
    await asyncio.sleep(10)
    await room.disconnect()
asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])))
"""


async def lag_probe(hist: LatencyHistogram, stop: asyncio.Event, period: float = 0.005) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        hist.record(int((time.perf_counter() - t - period) * 1e9))


async def loop_lag(creds: Credentials, rate: float, duration: float, size: int, *, dashboard: bool = True) -> None:
    from lk_notebook.widgets import Dashboard

    room = f"bench-lag-{time.time()}"
    me = await session(creds, room, "notebook")
    dash = Dashboard(me) if dashboard else None  # its views render on this loop at their fixed rates, as in a kernel
    token = creds.token(room, "sender")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SENDER,
        creds.url,
        token,
        str(rate),
        str(duration),
        str(size),
        stdout=subprocess.PIPE,
    )
    hist = LatencyHistogram()
    stop = asyncio.Event()
    probe = asyncio.ensure_future(lag_probe(hist, stop))
    # Probe only while the load lasts: from the start until the stream has ended here (the sender then idles
    # before leaving, and idle samples would flatter the percentiles).
    ended = asyncio.Event()
    me.on_stream(lambda r: ended.set() if r.topic == "blob" and r.state is not lk.StreamState.STARTED else None)
    waiting = asyncio.ensure_future(proc.communicate())
    started = time.perf_counter()
    stream_end = asyncio.ensure_future(ended.wait())
    await asyncio.wait([waiting, stream_end], return_when=asyncio.FIRST_COMPLETED)
    stream_end.cancel()
    loaded = time.perf_counter() - started
    stop.set()
    await probe
    out, _ = await waiting
    got = sum(1 for m in me.inbox if m.topic == "load")
    blob = [r for r in me.streams if r.topic == "blob"]
    # Views that render on their own schedule (AgentPanels only holds panels, added when an agent appears).
    live_views = [v for v in dash.views if hasattr(v, "live")] if dash is not None else []
    renders = sum(v.live.renders for v in live_views)
    if dash is not None:
        for v in live_views:
            print(f"  {type(v).__name__}: {v.live.renders} renders, {v.live.render_seconds * 1000:.0f} ms rendering")
    if dash is not None:
        dash.close()
    await me.leave()
    sent = int(out.strip() or 0)
    live = "Dashboard live" if dashboard else "no Dashboard (baseline)"
    print(f"loop lag, receiving {rate:.0f} msg/s for {duration:.0f} s + a {size / 1e6:.1f} MB stream, {live}:")
    print(
        f"  sent {sent} ({sent / duration:.0f}/s), inbox kept {got} (bounded at 1000); stream "
        f"{blob[0].state.value if blob else 'missing'} {blob[0].received if blob else 0:,} B; {renders} renders"
    )
    print(
        f"  probed for {loaded:.1f} s: loop lag p50 {hist.percentile(50):.2f} ms, "
        f"p99 {hist.percentile(99):.2f} ms, max {hist.max_ns / 1e6:.2f} ms"
        f" (target p99 < 20 ms)"
    )


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mb", type=float, default=5.0)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--rate", type=float, default=500.0)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--lag-only", action="store_true", help="skip the goodput comparison")
    ap.add_argument("--no-dashboard", action="store_true", help="loop lag without the Dashboard (its share)")
    args = ap.parse_args()
    size = int(args.size_mb * 1024 * 1024)
    server = LocalServer().start()
    try:
        creds = Credentials(server.url, server.api_key, server.api_secret, "bench server")
        if not args.lag_only:
            await goodput(creds, size, args.reps)
        await loop_lag(creds, args.rate, args.duration, size, dashboard=not args.no_dashboard)
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
