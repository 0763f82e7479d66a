"""ParticipantsTable under load: 500 participants x 20 attributes, 1,000 attribute changes/s.

Applies the changes to a real RoomState (the model every view reads) on the asyncio loop, with the table's own
render task running as it does in a kernel, and reports, from this one run:

- renders per second (target >= 5: coalesced, not per change),
- bytes sent to the browser per render, against re-rendering the same table as pandas HTML each time
  (ratio printed, target >= 20x fewer),
- event-loop lag p99 (a 5 ms ticker's lateness; target < 20 ms).

Run: python bench/table.py [--seconds 10] [--participants 500] [--keys 20] [--rate 1000] [--hz 6]
No server and no browser are involved: this measures the kernel side, which is what competes with LiveKit's
event delivery for the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time

from lk_notebook.events import AttributesChanged, ParticipantJoined, frozen_map
from lk_notebook.state import RoomState, participant
from lk_notebook.widgets import ParticipantsTable


def build_state(n: int, keys: int) -> RoomState:
    state = RoomState("bench", history_limit=10_000)
    now = time.time()
    for i in range(n):
        attrs = {f"key{k:02d}": f"value-{i}-{k}" for k in range(keys)}
        p = participant(
            f"participant-{i:04d}",
            sid=f"PA_{i:012d}",
            name=f"Participant {i}",
            metadata=json.dumps({"team": f"t{i % 7}", "score": i}),
            attributes=attrs,
            is_local=i == 0,
            joined_at=now,
        )
        state.apply(ParticipantJoined(p, at=now))
    return state


async def lag_monitor(samples: list[float], stop: asyncio.Event, period: float = 0.005) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        start = loop.time()
        await asyncio.sleep(period)
        samples.append(max(0.0, loop.time() - start - period))


async def drive(state: RoomState, *, rate: float, seconds: float, keys: int, seed: int = 1) -> int:
    """Apply `rate` attribute changes per second for `seconds`, in 10 ms batches on a fixed schedule."""
    rng = random.Random(seed)
    identities = list(state.participants)
    loop = asyncio.get_running_loop()
    tick = 0.010
    per_tick = rate * tick
    start = loop.time()
    applied = 0
    owed = 0.0
    i = 0
    while loop.time() - start < seconds:
        owed += per_tick
        while owed >= 1:
            owed -= 1
            identity = rng.choice(identities)
            key = f"key{rng.randrange(keys):02d}"
            value = f"v{applied}"
            p = state.participants[identity]
            attrs = dict(p.attributes)
            attrs[key] = value
            state.apply(AttributesChanged(identity, frozen_map({key: value}), frozen_map(attrs), at=time.time()))
            applied += 1
        i += 1
        delay = start + i * tick - loop.time()
        await asyncio.sleep(max(0.0, delay))
    return applied


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--participants", type=int, default=500)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--rate", type=float, default=1000.0)
    ap.add_argument("--hz", type=float, default=6.0)
    args = ap.parse_args()

    state = build_state(args.participants, args.keys)
    table = ParticipantsTable(state, hz=args.hz)
    table._on_front_end(table, {"t": "hello"}, [])  # a browser view connects: it gets the whole table once
    await asyncio.sleep(0.3)
    reset_bytes = table.bytes_sent
    renders0, messages0 = table.live.renders, table.messages_sent

    html_sizes = []
    html_seconds = []
    for _ in range(3):
        t0 = time.perf_counter()
        html = state.to_frame().to_html()
        html_seconds.append(time.perf_counter() - t0)
        html_sizes.append(len(html.encode("utf-8")))
    full_html_bytes = statistics.mean(html_sizes)

    lags: list[float] = []
    stop = asyncio.Event()
    monitor = asyncio.get_running_loop().create_task(lag_monitor(lags, stop))
    t0 = time.monotonic()
    applied = await drive(state, rate=args.rate, seconds=args.seconds, keys=args.keys)
    elapsed = time.monotonic() - t0
    await asyncio.sleep(0.5)  # let the last render go out
    stop.set()
    await monitor
    table.close()

    renders = table.live.renders - renders0
    messages = table.messages_sent - messages0
    delta_bytes = table.bytes_sent - reset_bytes
    per_render = delta_bytes / max(messages, 1)
    lags_ms = sorted(x * 1000 for x in lags)
    p99 = lags_ms[int(0.99 * (len(lags_ms) - 1))] if lags_ms else float("nan")
    p50 = lags_ms[len(lags_ms) // 2] if lags_ms else float("nan")

    print(f"table: {args.participants} participants x {args.keys} attributes, {args.rate:.0f} changes/s target")
    print(f"  changes applied        {applied} in {elapsed:.1f} s = {applied / elapsed:.0f}/s")
    print(f"  renders                {renders} ({renders / elapsed:.1f}/s; {messages} sent a delta) target >= 5/s")
    print(f"  first (full) message   {reset_bytes:,} B")
    print(f"  bytes per render       {per_render:,.0f} B (delta)")
    print(
        f"  full pandas HTML       {full_html_bytes:,.0f} B per render "
        f"({statistics.mean(html_seconds) * 1000:.0f} ms to build)"
    )
    print(
        f"  ratio                  {full_html_bytes / max(per_render, 1):.1f}x fewer bytes per render (target >= 20x)"
    )
    print(f"  kernel-side render     {table.live.render_seconds / max(table.live.renders, 1) * 1000:.2f} ms per render")
    print(f"  event-loop lag         p50 {p50:.2f} ms, p99 {p99:.2f} ms, max {lags_ms[-1]:.2f} ms (target p99 < 20 ms)")


if __name__ == "__main__":
    asyncio.run(main())
