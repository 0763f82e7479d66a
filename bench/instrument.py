"""Benchmark: the lab's own ceiling, single process vs the lab on Dask worker processes, against a non-Python anchor.

    python bench/instrument.py [--seconds 3] [--size 200] [--workers 2] [--mode reliable]

On one plain local server (no relay), in one run:
1. single-process ceiling: the lab (sender and receiver in this process) sending as fast as it can;
2. multi-process ceiling: a Dask LocalCluster of `--workers` worker processes, `--workers` senders and receivers
   in one room spread over them (lk_notebook.lab.dask_lab), from one common start, deliveries summed over the
   workers' rows;
3. non-Python anchor: LiveKit's JS SDK (`livekit-client`, the npm package in tests/peers/node, loaded into Debian's
   Chromium the way tests/jsclient.py does), two rooms in one page, 4 publishes in flight, as fast as it can;
and the ratios between them, with the host's CPU use during each (a 2-core machine shares its cores with the
server, so a ceiling can be the machine's).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # for tests.jsclient: the anchor launches Chromium exactly as the test suite does

import argparse  # noqa: E402
import asyncio  # noqa: E402
import contextlib  # noqa: E402
import time  # noqa: E402

import psutil  # noqa: E402

from lk_notebook.config import Credentials  # noqa: E402
from lk_notebook.lab import Lab, measure  # noqa: E402
from lk_notebook.server import LocalServer  # noqa: E402
from tests.jsclient import CHROMIUM, CHROMIUM_ARGS, UMD_BUNDLE  # noqa: E402

_JS_RUN = """
async ([url, tokenA, tokenB, seconds, size, reliable]) => {
  const L = window.LivekitClient;
  const a = new L.Room(), b = new L.Room();
  let got = 0, last = 0;
  b.on(L.RoomEvent.DataReceived, () => { got++; last = performance.now(); });
  await b.connect(url, tokenB);
  await a.connect(url, tokenA);
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let i = 0; i < 200 && a.remoteParticipants.size === 0; i++) await sleep(50);
  await sleep(500);  // the receiver active, the data channels open
  const payload = new Uint8Array(size);
  for (let i = 0; i < 20; i++) await a.localParticipant.publishData(payload, { reliable });  // warm
  await sleep(300);
  got = 0;
  let sent = 0;
  const t0 = performance.now(), end = t0 + seconds * 1000;
  const worker = async () => {
    while (performance.now() < end) { await a.localParticipant.publishData(payload, { reliable }); sent++; }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  const sendEnd = performance.now();
  for (let prev = -1; got !== prev && got < sent; ) { prev = got; await sleep(300); }
  await a.disconnect();
  await b.disconnect();
  return { sent, got, seconds: (Math.max(last, sendEnd) - t0) / 1000 };
}
"""


class HostCpu:
    """Host busy % and CPU seconds of this process, its children (workers, Chromium) and the server, over a block."""

    def __init__(self, server_pid: int | None) -> None:
        self.server = psutil.Process(server_pid) if server_pid else None

    @staticmethod
    def _cpu(p: psutil.Process) -> float:
        t = p.cpu_times()
        return float(t.user + t.system)

    def _tree(self) -> dict[int, float]:
        out = {}
        server = self.server.pid if self.server else None
        for p in [psutil.Process(), *psutil.Process().children(recursive=True)]:
            if p.pid == server:
                continue  # the local server is our child too; it is counted on its own
            with contextlib.suppress(psutil.Error):  # a child may end while we look
                out[p.pid] = self._cpu(p)
        return out

    def __enter__(self) -> HostCpu:
        psutil.cpu_percent(None)
        self._t0 = self._tree()
        self._s0 = self._cpu(self.server) if self.server else 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.busy = psutil.cpu_percent(None)
        t1 = self._tree()
        # processes that ended inside the block (Dask workers) are missing: psutil cannot read the dead
        self.client_s = sum(v - self._t0.get(pid, 0.0) for pid, v in t1.items())
        self.server_s = (self._cpu(self.server) if self.server else 0.0) - self._s0

    def per_message_us(self, messages: int) -> str:
        m = max(1, messages)
        return f"CPU per message: client {self.client_s / m * 1e6:.0f} us, server {self.server_s / m * 1e6:.0f} us"


def _children_cpu(skip: int | None) -> float:
    """CPU seconds of this process's descendants (the Playwright driver and Chromium), the server excluded."""
    total = 0.0
    for p in psutil.Process().children(recursive=True):
        if p.pid != skip:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
    return total


async def js_anchor(
    creds: Credentials, *, seconds: float, size: int, reliable: bool, server_pid: int | None
) -> tuple[float, int, int, float]:
    """(deliveries/s, sent, delivered, Chromium's CPU seconds during the run)."""
    from playwright.async_api import async_playwright

    if not await asyncio.to_thread(lambda: Path(CHROMIUM).exists() and UMD_BUNDLE.exists()):
        sys.exit(
            f"the anchor needs {CHROMIUM} (apt-get install chromium) and {UMD_BUNDLE} (npm ci in tests/peers/node)"
        )
    room = f"anchor-{time.monotonic_ns()}"
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = await browser.new_page()
            await page.goto("about:blank")
            await page.add_script_tag(path=str(UMD_BUNDLE))
            cpu0 = _children_cpu(server_pid)
            out = await page.evaluate(
                _JS_RUN,
                [creds.url, creds.token(room, "js-a"), creds.token(room, "js-b"), seconds, size, reliable],
            )
            cpu = _children_cpu(server_pid) - cpu0  # before close: a closed browser's CPU cannot be read
        finally:
            await browser.close()
    return out["got"] / max(1e-9, out["seconds"]), out["sent"], out["got"], cpu


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--size", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--mode", default="reliable", choices=["reliable", "lossy"])
    args = ap.parse_args()
    server = LocalServer().start()
    creds = Credentials(server.url, server.api_key, server.api_secret, "local server")
    try:
        pid = server.pid()
        async with Lab(server=server) as lab:
            await lab.run(mode=args.mode, size=args.size, duration=0.3)  # warm
            with HostCpu(pid) as cpu1:
                row = (await lab.run(mode=args.mode, size=args.size, duration=args.seconds)).row
        single = row["throughput_msgs_s"]
        print(
            f"single-process ceiling : {single:8.0f} msg/s  (p50 {row['latency_p50_ms']:.1f} ms, loop busy "
            f"{row['loop_cpu']:.0%}, process CPU {row['process_cpu']:.2f} cores, host busy {cpu1.busy:.0f} %; "
            f"{cpu1.per_message_us(row['received'])})"
        )
        with HostCpu(pid) as cpu2:
            par = await measure(modes=args.mode, sizes=args.size, rates=None, duration=args.seconds,
                                senders=args.workers, receivers=args.workers, cluster="local", workers=args.workers,
                                progress=False, lab=None)  # fmt: skip
        rows = par.rows
        multi = sum(r["throughput_msgs_s"] for r in rows)
        each = ", ".join(f"{r['throughput_msgs_s']:.0f} ({r['bound']})" for r in rows)
        cores = sum(r["process_cpu"] for r in rows)
        print(f"multi-process ceiling  : {multi:8.0f} msg/s  ({len(rows)} workers: {each}; "
              f"p50 {max(r['latency_p50_ms'] for r in rows):.1f} ms; host busy {cpu2.busy:.0f} % incl. joining; "
              f"workers' process CPU {cores:.2f} cores of {psutil.cpu_count()})")  # fmt: skip
        with HostCpu(pid) as cpu3:
            js, sent, got, js_cpu = await js_anchor(
                creds, seconds=args.seconds, size=args.size, reliable=args.mode == "reliable", server_pid=pid
            )
        print(f"livekit-client anchor  : {js:8.0f} msg/s  (Chromium, two rooms in one page: {got}/{sent} delivered; "
              f"host busy {cpu3.busy:.0f} %; CPU per message: Chromium {js_cpu / max(1, got) * 1e6:.0f} us, server "
              f"{cpu3.server_s / max(1, got) * 1e6:.0f} us)")  # fmt: skip
        print(f"ratios: multi/single {multi / single:.2f}  anchor/single {js / single:.2f}  "
              f"anchor/multi {js / multi:.2f}  (target multi/single >= 1.8)")  # fmt: skip
    finally:
        server.stop()


if __name__ == "__main__":  # the guard Dask's spawned workers need
    asyncio.run(main())
