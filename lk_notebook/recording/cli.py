"""`lk-notebook record` and `lk-notebook recording`: the recorder and the reader from a terminal.

lk-notebook record ROOM --out FILE [--duration S] [--webhook-port P]
    prints one JSON line {"recording": FILE, "room": ROOM} once it is in the room, records until SIGINT,
    SIGTERM or --duration, then closes the file (exit 0); a full disk stops it with exit 1 and a message.
lk-notebook recording FILE
    prints one JSON line: room, schema version, records by kind, start and end; or a clear error (exit 1).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time

from ..errors import JournalError
from .recorder import record
from .recording import Recording

__all__ = ["run_record", "run_summary"]


def run_record(args: argparse.Namespace) -> int:
    return asyncio.run(_record(args))


async def _record(args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    # Installed before joining, so a signal that arrives while joining still stops (and closes the file) cleanly.
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    failures: list[JournalError] = []

    def failed(error: JournalError) -> None:
        failures.append(error)
        stop.set()

    rec = await record(
        args.room, args.out, webhook_port=args.webhook_port, poll_interval=args.poll,
        keep_stream_bytes=args.keep_stream_bytes, max_bytes=args.max_bytes, on_error=failed,
    )  # fmt: skip
    deadline = None if args.duration is None else time.monotonic() + args.duration
    try:
        print(json.dumps({"recording": str(rec.path), "room": args.room}), flush=True)
        while not stop.is_set() and not rec.session.closed:
            left = 0.5 if deadline is None else min(0.5, deadline - time.monotonic())
            if left <= 0:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), left)
    finally:
        await rec.aclose()
    counts = ", ".join(f"{k} {v}" for k, v in rec.counts.items())
    print(f"lk-notebook: recorded {args.room!r} into {rec.path}: {counts}", file=sys.stderr, flush=True)
    if failures:
        print(f"lk-notebook: {failures[0]}", file=sys.stderr, flush=True)
        return 1
    return 0


def run_summary(args: argparse.Namespace) -> int:
    with Recording(args.file) as rec:
        line = {
            "recording": str(rec.path),
            "room": rec.room,
            "schema_version": rec.schema_version,
            "records": len(rec),
            "kinds": rec.kinds(),
            "start": rec.start.isoformat(),
            "end": rec.end.isoformat(),
        }
    print(json.dumps(line), flush=True)
    return 0
