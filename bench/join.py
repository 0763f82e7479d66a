"""Join to complete state vs a raw SDK connect, on the same local server, in one run.

    python bench/join.py [--rounds 15]

Prints the median of each and their ratio (target: lk_notebook.join <= 1.2x raw rtc.Room.connect). Rounds
alternate between the two so that machine noise hits both alike. A room with 3 participants holding attributes
is used, so "complete" means something.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from livekit import rtc

import lk_notebook as lk


async def main(rounds: int) -> None:
    with lk.LocalServer() as server:
        creds = lk.Credentials(server.url, server.api_key, server.api_secret)
        kw = {"url": server.url, "api_key": server.api_key, "api_secret": server.api_secret}
        others = [
            await lk.join("bench", identity=f"p{i}", attributes={"k": str(i), "role": "x"}, **kw) for i in range(3)
        ]
        raw_times: list[float] = []
        ours_times: list[float] = []
        for i in range(rounds + 1):  # the first round warms both paths up and is not counted
            token = creds.token("bench", f"raw{i}")
            t = time.perf_counter()
            room = rtc.Room()
            await room.connect(server.url, token)
            raw = time.perf_counter() - t
            await room.disconnect()

            t = time.perf_counter()
            s = await lk.join("bench", identity=f"ours{i}", **kw)
            ours = time.perf_counter() - t
            assert {f"p{j}" for j in range(3)} <= set(s.state.participants)
            await s.leave()
            if i:
                raw_times.append(raw)
                ours_times.append(ours)
        for o in others:
            await o.leave()
        # What join() adds of its own, outside the SDK's connect: token minting and session setup.
        own: list[float] = []
        for i in range(rounds):
            t = time.perf_counter()
            creds.token("bench", f"own{i}")
            lk.Session("bench", f"own{i}", url=server.url, credentials=creds)
            own.append(time.perf_counter() - t)
    r, o = statistics.median(raw_times), statistics.median(ours_times)
    print(f"raw rtc.Room.connect      median {r * 1000:7.1f} ms  (n={rounds})")
    print(f"lk_notebook.join (state)  median {o * 1000:7.1f} ms  (n={rounds})")
    print(f"join's own work (token, session setup) median {statistics.median(own) * 1000:.2f} ms")
    print(f"ratio join/raw = {o / r:.3f}   (target <= 1.2; connect time dominates both and varies with load)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=15)
    asyncio.run(main(parser.parse_args().rounds))
