"""Benchmark: fan-out from one sender to N receivers (N up to 49: a 50-participant room), per-receiver spread.

    python bench/fanout.py [--receivers 1,5,10,20,49] [--rate 10] [--duration 3] [--plot fanout.png]

Prints, per mode and N: deliveries, loss, latency p50/p99 over all deliveries, the worst receiver's p99, the
aggregate delivery rate, the receiving process's evidence (its loop lag p99 and CPU seconds per second), and
whether the path or the lab's own process was the limit (`bound`, with its reason).
"""

from __future__ import annotations

import argparse
import asyncio
import time

from lk_notebook.lab import Lab, Results
from lk_notebook.lab.plots import fan_out
from lk_notebook.server import LocalServer


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--receivers", default="1,5,10,20,49")
    ap.add_argument("--modes", default="reliable,lossy")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--plot", default=None)
    args = ap.parse_args()
    counts = [int(n) for n in args.receivers.split(",")]
    server = LocalServer(relay=True).start()
    results = Results()
    try:
        async with Lab(server=server) as lab:
            for n in counts:
                t = time.monotonic()
                await lab.ensure(receivers=n)
                joined = time.monotonic() - t
                for mode in args.modes.split(","):
                    r = await lab.run(mode=mode, size=args.size, rate=args.rate, duration=args.duration, receivers=n)
                    results.runs.append(r)
                    row = r.row
                    worst = max((p["latency_p99_ms"] for p in r.per_receiver), default=row["latency_p99_ms"])
                    print(
                        f"N={n:2d} {mode:8s} joined in {joined:5.1f}s  deliveries {row['received']}/"
                        f"{row['sent'] * n}  loss {row['loss_rate']:.4f}  p50 {row['latency_p50_ms']:7.1f} ms  "
                        f"p99 {row['latency_p99_ms']:7.1f} ms  worst receiver p99 {worst:7.1f} ms  "
                        f"{row['throughput_msgs_s']:7.0f} deliveries/s  receivers' loop lag p99 "
                        f"{row['receiver_loop_lag_p99_ms']:.0f} ms, cpu {row['receiver_cpu']:.2f}  host cpu "
                        f"{row['host_cpu']:.2f}  bound={row['bound']} ({row['bound_reason']})",
                        flush=True,
                    )
    finally:
        server.stop()
    if args.plot:
        fan_out(results).savefig(args.plot, dpi=90)
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    asyncio.run(main())
