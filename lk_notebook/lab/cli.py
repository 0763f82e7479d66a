"""`lk-notebook bench`: the delivery lab from a terminal.

    lk-notebook bench --modes lossy,reliable --sizes 200,1200,4000 --rate 500 --duration 5 --loss 0.1 --delay 20 \\
        --json out.json --csv out.csv --plot out.png

Without LIVEKIT_URL (or with --local) it starts a local livekit-server with the impairment relay; with LIVEKIT_URL
set it measures that server and refuses impairment options (a server the lab did not start cannot be impaired, even
one on loopback). `--json -` (or `--json` alone) writes the rows to stdout, as `server --json` does; the table
then goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import LkNotebookError
from .probe import Mode
from .relay import Impairment

if TYPE_CHECKING:
    from .sweep import Results

__all__ = ["add_bench_arguments", "main", "run_bench"]


def _csv(kind: Callable[[str], object], what: str) -> Callable[[str], list[object]]:
    def parse(text: str) -> list[object]:
        items = [t.strip() for t in text.split(",") if t.strip()]
        if not items:
            raise argparse.ArgumentTypeError(f"{what}: give at least one value")
        out: list[object] = []
        for item in items:
            try:
                out.append(kind(item))
            except ValueError:
                raise argparse.ArgumentTypeError(f"{what}: {item!r} is not a valid value") from None
        return out

    return parse


def _rate(text: str) -> list[float | None]:
    out: list[float | None] = []
    for item in (t.strip() for t in text.split(",") if t.strip()):
        if item.lower() in ("max", "inf", "fast"):
            out.append(None)
            continue
        try:
            out.append(float(item))
        except ValueError:
            raise argparse.ArgumentTypeError(f"rate: {item!r} is not a number of messages/s (or 'max')") from None
    if not out:
        raise argparse.ArgumentTypeError("rate: give at least one value")
    return out


def add_bench_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `lk-notebook bench`."""
    modes = ",".join(m.value for m in Mode)
    parser.add_argument(
        "--modes",
        type=_csv(str, "modes"),
        default=["lossy", "reliable"],
        help=f"comma-separated modes among {modes} (default lossy,reliable)",
    )
    parser.add_argument(
        "--sizes",
        type=_csv(int, "sizes"),
        default=[200, 1200, 4000],
        help="comma-separated payload sizes in bytes (default 200,1200,4000)",
    )
    parser.add_argument(
        "--rate",
        type=_rate,
        default=[500.0],
        help="messages/s, comma-separated for a sweep; 'max': as fast as possible (default 500)",
    )
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per run (default 5)")
    parser.add_argument(
        "--loss", type=float, default=0.0, help="drop probability per UDP datagram, each direction (local server only)"
    )
    parser.add_argument("--delay", type=float, default=0.0, help="one-way delay in ms per direction (local only)")
    parser.add_argument("--jitter", type=float, default=0.0, help="delay jitter (std dev, ms) (local only)")
    parser.add_argument("--bandwidth", type=float, default=None, help="bandwidth cap in kbit/s per direction")
    parser.add_argument(
        "--baseline", action="store_true", help="with impairment: also run every combination unimpaired, for comparison"
    )
    parser.add_argument(
        "--json",
        nargs="?",
        const="-",
        default=None,
        metavar="FILE",
        help="write the result rows as JSON to FILE; '-' or no FILE: to stdout (the table then goes to stderr)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="start a local server with the impairment relay even when LIVEKIT_URL is set (what impairment needs)",
    )
    parser.add_argument("--csv", type=Path, default=None, help="write the result rows as CSV to FILE")
    parser.add_argument(
        "--plot", type=Path, default=None, help="PNG of loss vs size (with theory); siblings get the other plot kinds"
    )
    parser.add_argument(
        "--receivers",
        type=int,
        default=1,
        help="fan-out: receivers that each get every message (default 1; max 49 in one process, more on Dask)",
    )
    parser.add_argument("--senders", type=int, default=1, help="fan-in: senders, each at --rate (default 1)")
    parser.add_argument(
        "--rounds", type=int, default=1, help="repeat the plan, alternating the modes' order each round (default 1)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="run the participants on a Dask LocalCluster of N worker processes (one row per worker)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run the participants on the workers of this running Dask scheduler (one row per worker)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _error(message: str) -> int:
    print(f"lk-notebook bench: error: {message}", file=sys.stderr)
    return 2


def run_bench(args: argparse.Namespace) -> int:
    """Run the sweep the options describe; print a summary table; write JSON/CSV/PNG. Returns the exit code."""
    try:
        impairment = Impairment(loss=args.loss, delay_ms=args.delay, jitter_ms=args.jitter, rate_kbps=args.bandwidth)
    except LkNotebookError as exc:
        return _error(str(exc))
    remote = bool(os.environ.get("LIVEKIT_URL")) and not args.local
    if remote and impairment.active:
        from .placement import no_relay_advice

        return _error(f"--loss/--delay/--jitter/--bandwidth, and LIVEKIT_URL is set: {no_relay_advice()}")
    if not (isinstance(args.duration, float) and args.duration > 0 and math.isfinite(args.duration)):
        return _error(f"--duration must be a positive number of seconds, got {args.duration}")
    if args.workers is not None and args.scheduler is not None:
        return _error("give --workers (a local Dask cluster) or --scheduler (a running one), not both")
    if args.workers is not None and args.workers < 1:
        return _error(f"--workers must be >= 1, got {args.workers}")
    if args.scheduler is not None and not args.scheduler.startswith("tcp://"):
        return _error(f"--scheduler must be an address tcp://HOST:PORT, got {args.scheduler!r}")
    impairments = [impairment]
    if args.baseline and impairment.active:
        impairments = [Impairment(), impairment]
    try:
        results = asyncio.run(_run(args, impairments))
    except KeyboardInterrupt:
        print("\ncancelled", file=sys.stderr)
        return 130
    except LkNotebookError as exc:
        return _error(str(exc))
    frame = results.frame
    from .rows import SUMMARY_FIELDS, WORKER_FIELDS

    fields = SUMMARY_FIELDS + (WORKER_FIELDS if "worker" in frame.columns else ())
    with_cols = [c for c in fields if c in frame.columns]
    to_stdout = args.json == "-"
    # With the rows on stdout, everything meant for a person goes to stderr, so `| jq` reads only JSON.
    human = sys.stderr if to_stdout else sys.stdout
    print(frame[with_cols].to_string(index=False, float_format=lambda v: f"{v:.3f}"), file=human)
    if to_stdout:
        print(json.dumps(results.json_rows(), indent=2, allow_nan=False), flush=True)
    elif args.json:
        print(f"JSON: {results.to_json(args.json)}")
    if args.csv:
        print(f"CSV: {results.to_csv(args.csv)}", file=human)
    if args.plot:
        from .plots import save_all

        target = Path(args.plot)
        paths = save_all(results, str(target.parent), prefix=target.stem)
        Path(paths["loss_vs_size"]).replace(target)
        paths["loss_vs_size"] = str(target)
        for kind, path in paths.items():
            print(f"plot {kind}: {path}", file=human)
    return 0


async def _run(args: argparse.Namespace, impairments: list[Impairment]) -> Results:
    from .sweep import TqdmProgress, _NoProgress, measure

    progress = _NoProgress() if args.quiet else TqdmProgress()
    server = None
    if args.local:
        from ..server import LocalServer

        server = LocalServer(relay=True)
    return await measure(
        server=server,
        modes=args.modes,
        sizes=args.sizes,
        rates=args.rate,
        impairments=impairments,
        duration=args.duration,
        progress=progress,
        senders=args.senders,
        receivers=args.receivers,
        rounds=args.rounds,
        cluster=args.scheduler if args.scheduler is not None else ("local" if args.workers is not None else None),
        workers=args.workers or 2,
    )


def main(argv: list[str] | None = None) -> int:
    """`python -m lk_notebook.lab.cli ...` (the same as `lk-notebook bench ...`)."""
    parser = argparse.ArgumentParser(prog="lk-notebook bench", description=__doc__.split("\n\n")[0])
    add_bench_arguments(parser)
    return run_bench(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
