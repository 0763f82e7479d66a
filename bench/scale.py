"""Benchmark: room scale with the lab's participants on Dask workers, beside the livekit-client anchor.

    python bench/scale.py [--seconds 3] [--size 200] [--fanout 10,40,100,200] [--fanin 10,40] [--rate 10]
                          [--knee-receivers 10,40 --knee-rates 10,50 --knee-sizes 200,1200]

On one plain local server (no relay), in one run:
1. msgs/s, as fast as it can (200 B reliable): the lab in this one process (sender and receiver on one loop); on a
   Dask LocalCluster of 1 worker; of 2 workers (the sender on one, the receiver on the other); and 2 senders and 2
   receivers over 2 workers; deliveries/s summed over the workers' rows, each row's `bound` with its evidence;
2. the `livekit-client` anchor (JS in Chromium, bench/instrument.py's `js_anchor`) in the same run;
3. fan-out: one sender at `--rate` to N receivers over 2 workers, p50/p99 (worst worker) against N, up to the
   largest N that joins; fan-in: N senders to one receiver;
4. the knee: receivers x rate x size, deliveries/s and p99 per cell (only with --knee-* options);
5. attributes at scale (--attributes 10,40 [--attr-rate 1] [--attributes-only]): N participants each changing an
   attribute at the rate, how long until every participant's view equals the server's, against N.
Every row is a worker's; "client" in `bound` means a lab process set the pace: the receiving worker's own loop (lag,
CPU) or the loop of a worker that ran the row's senders, named in the reason.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # bench.instrument (the JS anchor) and tests.jsclient

import argparse  # noqa: E402
import asyncio  # noqa: E402
import itertools  # noqa: E402
import time  # noqa: E402
from contextlib import AsyncExitStack  # noqa: E402

from bench.instrument import HostCpu, js_anchor  # noqa: E402
from lk_notebook.config import Credentials  # noqa: E402
from lk_notebook.errors import LkNotebookError  # noqa: E402
from lk_notebook.lab import Lab, measure  # noqa: E402
from lk_notebook.lab.dask_lab import cluster_client  # noqa: E402
from lk_notebook.lab.rows import ResultRow  # noqa: E402
from lk_notebook.server import LocalServer  # noqa: E402


def _ints(text: str) -> list[int]:
    return [int(t) for t in text.split(",") if t.strip()]


def _summary(rows: list[ResultRow]) -> str:
    each = "; ".join(
        f"{r['worker'].rsplit(':', 1)[-1]}: {r['receivers']} recv, {r['throughput_msgs_s']:.0f}/s, "
        f"{r['bound']} (receivers' loop {r['loop_cpu']:.0%}, lag p99 {r['loop_lag_p99_ms']:.0f} ms, CPU "
        f"{r['process_cpu']:.2f}; sender's loop {r['sender_loop_cpu']:.0%}, CPU {r['sender_cpu']:.2f})"
        + (f" because {r['bound_reason']}" if r["bound"] == "client" else "")
        for r in rows
    )
    return f"[{each}]"


async def _rate(lab: Lab, client: object, args: argparse.Namespace, senders: int, receivers: int) -> tuple[float, str]:
    res = await measure(modes="reliable", sizes=args.size, rates=None, duration=args.seconds, senders=senders,
                        receivers=receivers, cluster=client, lab=lab, progress=False)  # fmt: skip
    rows = res.rows
    return sum(r["throughput_msgs_s"] for r in rows), _summary(rows)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--rate", type=float, default=10.0, help="messages/s of each sender in fan-out and fan-in")
    ap.add_argument("--fanout", type=_ints, default=[10, 40, 100, 200])
    ap.add_argument("--fanin", type=_ints, default=[10, 40])
    ap.add_argument("--knee-receivers", type=_ints, default=[])
    ap.add_argument("--knee-rates", type=_ints, default=[])
    ap.add_argument("--knee-sizes", type=_ints, default=[])
    ap.add_argument("--attributes", type=_ints, default=[])
    ap.add_argument("--attr-rate", type=float, default=1.0)
    ap.add_argument("--attributes-only", action="store_true")
    ap.add_argument(
        "--no-rates",
        action="store_true",
        help="skip the msgs/s ceilings and the anchor (e.g. --fanout '' --fanin '' for the knee only)",
    )
    args = ap.parse_args()
    server = LocalServer().start()
    if args.attributes_only:
        try:
            await _attributes(args, Credentials(server.url, server.api_key, server.api_secret, "local server"))
        finally:
            server.stop()
        return
    creds = Credentials(server.url, server.api_key, server.api_secret, "local server")
    try:
        async with Lab(server=server) as lab, AsyncExitStack() as stack:
            pid = server.pid()
            if args.no_rates:
                two = await cluster_client(stack, "local", workers=2)
            else:
                await lab.run(mode="reliable", size=args.size, duration=0.3)  # warm
                with HostCpu(pid) as cpu:
                    row = (await lab.run(mode="reliable", size=args.size, duration=args.seconds)).row
                single = row["throughput_msgs_s"]
                print(f"one process (no Dask)   : {single:7.0f} msg/s  ({row['bound']}: loop "
                      f"{row['loop_cpu']:.0%}; host busy {cpu.busy:.0f} %)")  # fmt: skip
                one = await cluster_client(stack, "local", workers=1)
                r1, s1 = await _rate(lab, one, args, 1, 1)
                print(f"Dask, 1 worker          : {r1:7.0f} msg/s  {s1}")
                await asyncio.to_thread(one.close)
                two = await cluster_client(stack, "local", workers=2)
                print(f"Dask dashboard: {two.dashboard_link}")
                r2, s2 = await _rate(lab, two, args, 1, 1)
                print(f"Dask, 2 workers, 1 -> 1 : {r2:7.0f} msg/s  {s2}")
                r22, s22 = await _rate(lab, two, args, 2, 2)
                print(f"Dask, 2 workers, 2 -> 2 : {r22:7.0f} msg/s  {s22}")
                with HostCpu(pid) as cpu3:
                    js, sent, got, _ = await js_anchor(creds, seconds=args.seconds, size=args.size, reliable=True,
                                                       server_pid=pid)  # fmt: skip
                print(
                    f"livekit-client anchor   : {js:7.0f} msg/s  ({got}/{sent} delivered, host busy {cpu3.busy:.0f} %)"
                )
                # Both two-worker shapes, not the better of them: one run of each varies 2-3x on a shared host.
                print(f"ratios to one process: 2 workers 1 -> 1 {r2 / single:.2f}, 2 -> 2 {r22 / single:.2f}; to 1 "
                      f"worker {r2 / r1:.2f} and {r22 / r1:.2f}; anchor / 2 workers {js / r2:.2f} and {js / r22:.2f} "
                      f"(target 2 workers >= 1.8x one process on a quiet machine)")  # fmt: skip
            reached = 0
            for kind, ns in (("fan-out", args.fanout), ("fan-in", args.fanin)):
                for n in ns:
                    shape = {"receivers": n, "senders": 1} if kind == "fan-out" else {"receivers": 1, "senders": n}
                    t0 = time.monotonic()
                    try:
                        res = await measure(modes="reliable", sizes=args.size, rates=args.rate,
                                            duration=args.seconds, cluster=two, lab=lab, progress=False,
                                            **shape)  # fmt: skip
                    except LkNotebookError as exc:
                        print(f"{kind} N={n}: not reached ({exc})")
                        break
                    rows = res.rows
                    due = sum(r["sent"] * r["receivers"] for r in rows)
                    got = sum(r["received"] for r in rows)
                    # Reached means delivered: every participant joined AND (reliable) at least 99 % of what was due
                    # arrived. Joined but silent (a worker whose participants never sent) is not reached.
                    if kind == "fan-out" and due > 0 and got >= 0.99 * due:
                        reached = max(reached, n)
                    elif kind == "fan-out":
                        print(f"fan-out N={n}: joined but not reached ({got} of {due} deliveries)")
                    print(f"{kind} N={n:4d}: {got}/{due} delivered, p50 {max(r['latency_p50_ms'] for r in rows):.1f}"
                          f" ms, p99 {max(r['latency_p99_ms'] for r in rows):.1f} ms (worst worker), "
                          f"{time.monotonic() - t0:.0f} s with joins {_summary(rows)}")  # fmt: skip
            if args.fanout:
                print(f"largest fan-out reached: {reached} receivers over 2 worker processes")
            for n, rate, size in itertools.product(args.knee_receivers, args.knee_rates, args.knee_sizes):
                res = await measure(modes="reliable", sizes=size, rates=rate, duration=args.seconds, receivers=n,
                                    cluster=two, lab=lab, progress=False)  # fmt: skip
                rows = res.rows
                due = sum(r["sent"] * r["receivers"] for r in rows)
                loss = 1 - sum(r["received"] for r in rows) / max(1, due)
                print(f"knee receivers={n} rate={rate} size={size}: "
                      f"{sum(r['throughput_msgs_s'] for r in rows):.0f} deliveries/s of "
                      f"{n * rate:.0f} offered, loss {loss:.3f}, "
                      f"p99 {max(r['latency_p99_ms'] for r in rows):.1f} ms, bound "
                      f"{','.join(r['bound'] for r in rows)}")  # fmt: skip
        await _attributes(args, creds)
    finally:
        server.stop()


async def _attributes(args: argparse.Namespace, creds: Credentials) -> None:
    from lk_notebook.lab.dask_attributes import measure_attributes_at_scale

    if not args.attributes:
        return
    rows = await measure_attributes_at_scale(participants=args.attributes, rate=args.attr_rate,
                                             duration=args.seconds, cluster="local", workers=2,
                                             credentials=creds)  # fmt: skip
    for r in rows:
        print(f"attributes N={r['participants']:4d} at {r['rate']:g}/s each ({r['updates_s']:.0f} changes/s in the "
              f"room): every view final {r['converged_max_ms']:.0f} ms after the last change (median "
              f"{r['converged_p50_ms']:.0f} ms), not converged {r['not_converged']}, server final {r['server_final']}"
              f"{', failed: ' + r['failed_workers'] if r['failed_workers'] else ''}")  # fmt: skip


if __name__ == "__main__":  # the guard Dask's spawned workers need
    asyncio.run(main())
