"""Benchmark: the lab's sender/receiver vs a raw SDK publish/receive loop, same server, same run, both modes.

    python bench/lab_vs_raw.py [--count 3000] [--size 200] [--rounds 3]

Both sides send `count` probes as fast as a window of DEFAULT_WINDOW publishes in flight allows, and time from the
first send to the last arrival. Rounds alternate raw and lab so load from other processes hits both alike; the
median per side is compared. Target: lab / raw >= 0.95 in both modes. A plain local server (no relay) is used, so
the numbers are the SDK's and the lab's, not the relay's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import time

from livekit import api, rtc

from lk_notebook.lab import Lab
from lk_notebook.lab.lab import DEFAULT_WINDOW
from lk_notebook.server import LocalServer


async def raw_run(url: str, key: str, secret: str, *, reliable: bool, count: int, size: int, window: int) -> float:
    """Messages/s of a bare rtc.Room pair: publish_data with `window` in flight; count data_received."""
    room = f"raw-{time.monotonic_ns()}"

    def token(identity: str) -> str:
        grants = api.VideoGrants(room_join=True, room=room, can_publish_data=True)
        return api.AccessToken(key, secret).with_identity(identity).with_grants(grants).to_jwt()

    a, b = rtc.Room(), rtc.Room()
    await a.connect(url, token("raw-a"))
    await b.connect(url, token("raw-b"))
    got = 0
    last = 0.0
    done = asyncio.Event()

    def on_data(packet: rtc.DataPacket) -> None:
        nonlocal got, last
        got += 1
        last = time.monotonic()
        if got >= count:
            done.set()

    b.on("data_received", on_data)
    while True:  # lossy data to a receiver that is not active yet is dropped
        p = a.remote_participants.get("raw-b")
        if p is not None and p.state == rtc.ParticipantState.PARTICIPANT_STATE_ACTIVE:
            break
        await asyncio.sleep(0.05)
    payload = b"\0" * size
    next_seq = 0

    async def worker() -> None:
        nonlocal next_seq
        while next_seq < count:
            next_seq += 1
            await a.local_participant.publish_data(payload, reliable=reliable, topic="raw")

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(window)))
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(done.wait(), 10)
    rate = got / max(1e-9, last - t0)
    await a.disconnect()
    await b.disconnect()
    return rate


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=3000)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    server = LocalServer().start()
    try:
        lab = await Lab(server=server).start()
        try:
            for mode in ("lossy", "reliable"):
                raw_rates, lab_rates = [], []
                for _ in range(args.rounds):
                    raw_rates.append(
                        await raw_run(server.url, server.api_key, server.api_secret, reliable=mode == "reliable",
                                      count=args.count, size=args.size, window=DEFAULT_WINDOW)
                    )  # fmt: skip
                    r = await lab.run(mode=mode, size=args.size, count=args.count)
                    lab_rates.append(r.row["throughput_msgs_s"])
                raw_m, lab_m = statistics.median(raw_rates), statistics.median(lab_rates)
                print(
                    f"{mode:9s} raw {raw_m:8.0f} msg/s  lab {lab_m:8.0f} msg/s  ratio {lab_m / raw_m:5.2f} "
                    f"(rounds raw={[round(x) for x in raw_rates]} lab={[round(x) for x in lab_rates]})"
                )
        finally:
            await lab.aclose()
    finally:
        server.stop()


if __name__ == "__main__":
    asyncio.run(main())
