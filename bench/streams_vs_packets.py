"""Benchmark: a byte stream against the same bytes sent as reliable data packets, 10 KB to 10 MB, clean and impaired.

    python -P bench/streams_vs_packets.py [--sizes 10000,100000,1000000,10000000] [--count 2] [--rounds 2]
                                          [--csv out.csv]

The lab's `byte_stream` mode sends each payload with `send_bytes` (the SDK chunks it into 15,000-byte packets, plus
a header and a trailer packet); `packet_chunks` sends the same bytes as 15,000-byte reliable packets with
`publish_data`, one awaited call each, as an app chunking by hand would. Both ride the same reliable data channel
through the lab's relay on a local server, so the difference is the stream protocol and the SDK's stream code.
Per size and impairment: transfer time p50 (first send to the last byte), goodput, and stream ÷ packets ratios,
with each row's calibration verdict (a "client" row is the Python process's limit, not LiveKit's). The two modes
run back to back per condition, alternating their order each round, and the table shows medians over rounds: in
blocks, the mode measured first after a clean path inherits its larger SCTP congestion window.
"""

from __future__ import annotations

import argparse
import asyncio
import math

import lk_notebook as lk
from lk_notebook.lab import Impairment, Lab, measure

IMPAIRMENTS = (Impairment(), Impairment(delay_ms=20), Impairment(loss=0.02, delay_ms=20))


async def main(sizes: list[int], count: int, rounds: int, csv: str | None) -> None:
    server = lk.LocalServer(relay=True).start()
    try:
        async with Lab(server=server, seed=7) as lab:
            results = await measure(
                modes=["byte_stream", "packet_chunks"],
                sizes=sizes,
                rates=[None],
                count=count,
                rounds=rounds,
                impairments=list(IMPAIRMENTS),
                lab=lab,
            )
    finally:
        server.stop()
    frame = results.frame
    if csv:
        frame.to_csv(csv, index=False)
    print(f"{'impairment':<22} {'size':>10} {'stream p50':>11} {'packets p50':>12} {'time ratio':>10} "
          f"{'stream MB/s':>11} {'packets MB/s':>12}  bound (stream / packets)")  # fmt: skip
    for (imp, size), group in frame.groupby(["impairment", "size"], sort=False):
        med = group.groupby("mode")[["latency_p50_ms", "throughput_bytes_s"]].median()
        s, p = med.loc["byte_stream"], med.loc["packet_chunks"]
        ratio = s["latency_p50_ms"] / p["latency_p50_ms"] if p["latency_p50_ms"] else math.nan
        whole = "" if (group["received"] == group["sent"]).all() else "  NOT ALL DELIVERED"
        bounds = {m: "/".join(sorted(set(g["bound"]))) for m, g in group.groupby("mode")}
        print(
            f"{imp:<22} {size:>10,} {s['latency_p50_ms']:>9.0f}ms {p['latency_p50_ms']:>10.0f}ms {ratio:>9.2f}x "
            f"{s['throughput_bytes_s'] / 1e6:>11.2f} {p['throughput_bytes_s'] / 1e6:>12.2f}  "
            f"{bounds['byte_stream']} / {bounds['packet_chunks']}{whole}"
        )
    client = frame[frame["bound"] == "client"]
    for _, r in client.iterrows():
        print(f"client-bound: {r['mode']} {r['size']:,} B {r['impairment']}: {r['bound_reason']}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000,1000000,10000000")
    parser.add_argument("--count", type=int, default=2, help="payloads per mode, size and impairment")
    parser.add_argument("--rounds", type=int, default=2, help="rounds, alternating the modes' order")
    parser.add_argument("--csv", default=None)
    args = parser.parse_args()
    asyncio.run(main([int(x) for x in args.sizes.split(",")], args.count, args.rounds, args.csv))
