"""Cross-node vs same-node propagation on a local 2-node cluster, per channel, in one run; plus the CLI's start time
and what a node failure does.

    python bench/cluster.py [--repeats 100] [--no-failure] [--cli-rounds 3]

Prints, for each channel (attributes, metadata, room metadata, data), p50 and p99 in every topology
(lk_notebook.lab.cluster_lab) and the ratio of each cross-node topology to its same-node baseline:

- sender_relayed / same_node: the sender's signal relayed through the other node (room metadata: server API call to
  the other node);
- receiver_relayed / same_node: the receiver's signal relayed;
- api_remote / api_same: every change a server API call to the node that does not host the room;
- same_node / single_node and api_same / single_api: a cluster (Redis routing) against one server without Redis.

Topologies and channels are interleaved change by change, so machine noise lands on all of them alike. Then the time
from starting `lk-notebook server --nodes 2 --json` to its JSON line (target < 15 s once the binary is installed),
and a node failure: the room's node is killed and the survivors' detection, reconnection and recovery times.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # for tests.cli_server: the CLI is started exactly as the test suite starts it

import argparse  # noqa: E402
import asyncio  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import pandas as pd  # noqa: E402

from lk_notebook.cluster import LocalCluster  # noqa: E402
from lk_notebook.lab.cluster_lab import cross_node_ratios, measure_node_failure, measure_propagation  # noqa: E402
from lk_notebook.server import LocalServer  # noqa: E402
from tests.cli_server import start_cli_server  # noqa: E402


def cli_start_seconds(rounds: int) -> list[float]:
    times: list[float] = []
    for _ in range(rounds):
        t = time.perf_counter()
        proc = start_cli_server("--nodes", "2", "--json")
        assert proc.stdout is not None
        line = json.loads(proc.stdout.readline())
        times.append(time.perf_counter() - t)
        assert len(line["urls"]) == 2
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return times


async def main(repeats: int, failure: bool, cli_rounds: int) -> None:
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    with LocalCluster(nodes=2) as cluster, LocalServer() as single:
        t = time.perf_counter()
        frame = await measure_propagation(cluster, repeats=repeats, single=single)
        took = time.perf_counter() - t
        print(f"propagation, {repeats} changes per channel and topology ({took:.0f} s):")
        columns = ["topology", "channel", "sender_node", "receiver_node", "api_node", "timeouts", "p50_ms", "p99_ms"]
        print(frame[columns])
        ratios = cross_node_ratios(frame)
        print("\ncross-node / same-node, per channel (one run):")
        for row in ratios.to_dict("records"):
            print(
                f"  {row['topology']:>16} / {row['baseline']:<9} {row['channel']:<13} "
                f"p50 {row['p50_ms']:6.2f} / {row['same_p50_ms']:6.2f} ms = {row['ratio_p50']:5.2f}x   "
                f"p99 {row['p99_ms']:6.2f} / {row['same_p99_ms']:6.2f} ms = {row['ratio_p99']:5.2f}x"
            )
        same = frame[frame.topology == "same_node"].set_index("channel")
        relayed = frame[frame.topology == "sender_relayed"].set_index("channel")
        print(
            "\nseed's claim (participant state vs room metadata): same node p50 attributes "
            f"{same.loc['attributes', 'p50_ms']:.2f} ms vs room metadata {same.loc['room_metadata', 'p50_ms']:.2f} ms; "
            f"cross node attributes {relayed.loc['attributes', 'p50_ms']:.2f} ms vs room metadata "
            f"{relayed.loc['room_metadata', 'p50_ms']:.2f} ms"
        )
        if failure:
            result = await measure_node_failure(cluster, victim=1)
            print(f"\nnode failure (room's node SIGKILLed): {result}")
    if cli_rounds:
        times = cli_start_seconds(cli_rounds)
        print(
            f"\n`lk-notebook server --nodes 2 --json` to its line: median {statistics.median(times):.2f} s, "
            f"max {max(times):.2f} s over {cli_rounds} (target < 15 s)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=100)
    parser.add_argument("--no-failure", action="store_true")
    parser.add_argument("--cli-rounds", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.repeats, not args.no_failure, args.cli_rounds))
