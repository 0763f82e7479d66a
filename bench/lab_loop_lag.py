"""Benchmark: event-loop lag while the lab receives at its highest rate, with the live plot rendering.

    python bench/lab_loop_lag.py [--duration 3]

A probe task sleeps 5 ms again and again and records how late it wakes up: that lateness is what every other
cell, widget and callback on the kernel's loop would suffer. Measured per mode at the highest rate the lab
reaches ("max": a window of publishes in flight), with a LivePlot re-rendering at 4 Hz. Target: p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from lk_notebook.lab import Lab
from lk_notebook.lab.stats import LatencyHistogram
from lk_notebook.server import LocalServer
from lk_notebook.widgets.liveplot import LivePlot


async def lag_probe(hist: LatencyHistogram, stop: asyncio.Event, period: float = 0.005) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        hist.record(int((time.perf_counter() - t - period) * 1e9))


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--relay", action="store_true", help="through the impairment relay (unimpaired)")
    ap.add_argument("--no-live", action="store_true", help="without the live plot (to tell its share)")
    ap.add_argument("--view", choices=["chart", "png"], default="chart", help="live view: browser chart or PNG")
    args = ap.parse_args()
    server = LocalServer(relay=args.relay).start()
    try:
        async with Lab(server=server) as lab:
            for mode in ("lossy", "reliable"):
                live = LivePlot(hz=4)
                live.widget(args.view)  # the live view a notebook would show (no front end attached here)
                hist = LatencyHistogram()
                stop = asyncio.Event()
                probe = asyncio.ensure_future(lag_probe(hist, stop))
                on_sample = None if args.no_live else live.add
                r = await lab.run(mode=mode, size=args.size, duration=args.duration, on_sample=on_sample)
                stop.set()
                await probe
                await live.aclose()
                print(
                    f"{mode:9s} {r.row['throughput_msgs_s']:7.0f} msg/s received; loop lag p50 "
                    f"{hist.percentile(50):6.2f} ms p99 {hist.percentile(99):6.2f} ms max {hist.max_ns / 1e6:6.2f} ms "
                    f"({live.renders} live renders, {live.renders / args.duration:.1f}/s)"
                )
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
