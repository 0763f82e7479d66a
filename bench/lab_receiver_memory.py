"""Benchmark: 1,000,000 probes through the lab's receive path (parse + streaming statistics); resident growth.

    python bench/lab_receiver_memory.py [--messages 1000000]

No network: the probes are real lab probes handed to the receiver's handler as the SDK would. Target: < 64 MB
resident growth (the design says memory must not grow per message).
"""

from __future__ import annotations

import argparse
import gc
import time

import psutil

from lk_notebook.events import DataKind
from lk_notebook.lab import Lab, Mode
from lk_notebook.lab.packets import Recorder
from lk_notebook.lab.probe import ProbeCodec, new_run_id
from lk_notebook.lab.stats import ReceiverStats


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--size", type=int, default=200)
    args = ap.parse_args()
    proc = psutil.Process()
    lab = Lab(url="ws://unused")  # never started: only its receive handler is exercised
    run_id = new_run_id()
    codec = ProbeCodec(run_id=run_id, mode=Mode.LOSSY, size=args.size)
    gc.collect()
    rss0 = proc.memory_info().rss
    recorder = Recorder(run_id, ReceiverStats(t0_ns=time.monotonic_ns()))
    lab.sink = recorder
    t0 = time.perf_counter()
    peak = rss0
    for i in range(args.messages):
        # a few reorders (swapped pairs) and duplicates, as a network would make
        seq = i + 1 if i % 1000 == 7 else i - 1 if i % 1000 == 8 else i - 5 if i % 1000 == 20 else i
        lab.rig._on_data(codec.encode(seq), "sender", DataKind.LOSSY, 0.0)
        if i % 100_000 == 0:
            peak = max(peak, proc.memory_info().rss)
    elapsed = time.perf_counter() - t0
    gc.collect()
    rss1 = proc.memory_info().rss
    peak = max(peak, rss1)
    s = recorder.stats
    print(
        f"{args.messages:,} messages in {elapsed:.1f} s ({args.messages / elapsed:,.0f}/s incl. encoding); "
        f"received={s.received:,} unique={s.seq.unique:,} dups={s.seq.duplicates} reorders={s.seq.out_of_order} "
        f"p99={s.latency.percentile(99):.3f} ms"
    )
    print(
        f"resident growth: {(rss1 - rss0) / 2**20:.2f} MB (peak growth {(peak - rss0) / 2**20:.2f} MB; target < 64 MB)"
    )


if __name__ == "__main__":
    main()
