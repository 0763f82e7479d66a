"""How often a process that used the native SDK aborts at interpreter exit, with and without lk_notebook's guard.

    python bench/native_exit.py [--runs 48] [--parallel 8] [--burners 3]

Each child joins a room with the raw SDK and exits at once, without leaving: the native runtime is busy (logging,
ICE) while Python finalises, which makes livekit-ffi's "panic in a function that cannot unwind" (exit -6) frequent.
Rounds alternate between children that call `lk_notebook.native_exit.quiet_native_exit()` and children that do
not, so machine noise hits both alike. See lk_notebook/native_exit.py for the mechanism.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import lk_notebook as lk


async def child(url: str, token: str, guard: bool) -> None:
    from livekit import rtc

    from lk_notebook.native_exit import quiet_native_exit

    room = rtc.Room()
    if guard:
        quiet_native_exit()
    await room.connect(url, token)


def run(env: dict[str, str], guard: bool, creds: lk.Credentials) -> int:
    token = creds.token(f"exit-{uuid.uuid4().hex[:6]}", "x")
    argv = [sys.executable, __file__, "--child", creds.url, token, "1" if guard else "0"]
    return subprocess.run(argv, env=env, capture_output=True, timeout=120, check=False).returncode


def main(runs: int, parallel: int, burners: int) -> None:
    burning = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(burners)]
    try:
        with lk.LocalServer() as server:
            creds = lk.Credentials(server.url, server.api_key, server.api_secret)
            env = dict(os.environ)
            codes: dict[bool, list[int]] = {False: [], True: []}
            with ThreadPoolExecutor(parallel) as pool:
                for _ in range(2):  # two rounds of each, alternating
                    for guard in (False, True):
                        codes[guard] += pool.map(lambda _, g=guard: run(env, g, creds), range(runs // 2))
            print(f"load {os.getloadavg()[0]:.1f}, {parallel} at a time, {burners} CPU burners")
            for guard, got in codes.items():
                aborted = sum(c == -6 for c in got)
                other = sum(c not in (0, -6) for c in got)
                which = "with" if guard else "without"
                print(f"{which} the guard: {aborted} of {len(got)} aborted (other failures {other})")
    finally:
        for p in burning:
            p.kill()
            p.wait()


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        asyncio.run(child(sys.argv[2], sys.argv[3], sys.argv[4] == "1"))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--runs", type=int, default=48, help="children per variant")
        parser.add_argument("--parallel", type=int, default=8)
        parser.add_argument("--burners", type=int, default=3)
        a = parser.parse_args()
        main(a.runs, a.parallel, a.burners)
