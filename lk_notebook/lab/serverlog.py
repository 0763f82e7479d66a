"""What the lab's local livekit-server says it dropped: the server's own account, read from its log.

livekit-server (v1.13.5) drops a data-track packet on its way to a subscriber when the subscriber's data channel
already buffers more than the target latency's worth of bytes (`rtc.datachannel_data_track_target_latency`, 100 ms
of the recent bitrate by default, and more than 8 KiB): `sfu/datachannel/datachannel_writer.go`. It logs every
packet it fails to send, one WARN line each, from `rtc/datadowntrack.go`: "could not send data track message", with
the reason ("data dropped due to high buffered amount" for that rule; a closed or failed transport gives other
reasons). That is LiveKit's documented trade-off for data tracks: under pressure, drop older frames rather than
delay newer ones. A frame up to `theory.DATA_TRACK_MTU` travels in one packet, so for such frames a line is a frame.

At the lab's rates the 8 KiB floor is often the limit (a logged drop here: "bitrate 329118, buffered amount 8268,
target latency limit 4113, min buffered amount 8192"): about 30 frames of 200 B. The buffer counts bytes not yet
acknowledged, so two things fill it:

- a receiving side that stops acknowledging for a while, as when a busy host deschedules the lab's process (its
  receiver and its relay thread). Measured here, the process held off the GIL in 0.2 s bursts at 1,600 frames/s:
  0-44 frames dropped by the server per 2 s run; notebook A1 beside a CPU burner once: 116 of 1,235. On a quiet
  host, none;
- a path whose round trip passes the target latency. Through the relay, 150 ms each way (300 ms round trips),
  frames of 1,000 B: 70-90 % of the frames that left the sender at 400 frames/s (3 runs), 69 % at 100/s, 47 % at
  50/s; 20 ms each way 0-9 %. Frames of 200 B at 400 frames/s: 150 ms each way 63-64 %, 100 ms each way 46-52 %
  (4 runs), 60 ms each way 8-25 % (5 runs), 20 ms none; but when a busy host's sending SDK let only half the frames
  out or fewer, the bytes in flight neared the 8 KiB floor and the share fell (CI runs: 20 % at 100 ms each way,
  8.5 % at 150 ms). Roughly 1 - 100 ms / round trip, which is what keeping
  only 100 ms of bytes in flight would give (a reading of the numbers, not a tested model).

In every run the frames that left the sender (the relay's count) equalled the frames received plus the frames the
server logged, to 0-3 frames of 3,200 (the relay counts frames bundled in one datagram by its size).

What the count cannot see: the lossy data channel gets the same rule only when
`rtc.datachannel_lossy_target_latency` is set (default 0: off), and its drops are not logged
(`rtc/transportmanager.go` leaves that error out), so there is no such count for the `lossy` mode; and a server
whose log level is above "warn", or that samples its log, would hide lines (`logs_send_failures` says whether the
configuration lets every line through).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["DATA_TRACK_DROP", "ServerLogMark", "count_data_track_drops", "logs_send_failures"]

DATA_TRACK_DROP = "could not send data track message"
"""livekit-server's WARN message for a data-track packet it did not send to a subscriber."""
SETTLE_S = 0.2
"""How long the logs must not grow before `ServerLogMark.settled` reads them: the log file is written by a thread
of this process that copies the server's output (`lk_notebook._logging.copy_scrubbed`), which may lag on a busy
host (0.2 s is forty of Python's 5 ms thread switch intervals; not measured beyond that)."""
SETTLE_LIMIT_S = 2.0
"""The longest `settled` waits for logs that keep growing (other rooms may be logging)."""


def count_data_track_drops(text: str, room: str, participant: str) -> int:
    """Data-track packets the server logged as not sent to `participant` in `room`, in log `text`."""
    # the console encoder writes the fields as JSON: quotes and backslashes in a name are escaped there too
    fields = (f'"room": {json.dumps(room)}', f'"participant": {json.dumps(participant)}')
    return sum(1 for line in text.splitlines() if DATA_TRACK_DROP in line and all(f in line for f in fields))


def logs_send_failures(config: Mapping[str, Any]) -> bool:
    """Whether a server started with `config` logs every failed data-track send (WARN, no sampling)."""
    logging = config.get("logging") or {}
    level = str(logging.get("level") or "info").lower()
    sampled = bool(logging.get("sample")) or bool(logging.get("item_sample_seconds"))
    return level in ("debug", "info", "warn") and not sampled


class ServerLogMark:
    """The local servers' logs from a moment on: `since()` returns the whole lines each has written since.

    Example::

        mark = ServerLogMark([server.log_path])
        ...                                             # the run
        count_data_track_drops(await mark.settled(), room, receiver_identity)
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self._marks = [(path, _size(path)) for path in paths]

    def since(self) -> str:
        """What the logs gained since the mark, up to each one's last complete line. A log that restarted (shorter
        than at the mark) is read from its beginning."""
        parts: list[str] = []
        for path, offset in self._marks:
            size = _size(path)
            if size is None:
                continue
            try:
                with path.open("rb") as f:
                    f.seek(offset if offset is not None and offset <= size else 0)
                    data = f.read()
            except OSError:  # gone since: nothing to read
                continue
            parts.append(data[: data.rfind(b"\n") + 1].decode(errors="replace"))
        return "".join(parts)

    async def settled(self, quiet: float = SETTLE_S, limit: float = SETTLE_LIMIT_S) -> str:
        """`since()`, once the logs have not grown for `quiet` seconds (at most `limit` seconds of waiting)."""
        deadline = time.monotonic() + limit
        sizes = [_size(path) for path, _ in self._marks]
        while time.monotonic() < deadline:
            await asyncio.sleep(quiet)
            now = [_size(path) for path, _ in self._marks]
            if now == sizes:
                break
            sizes = now
        return await asyncio.to_thread(self.since)


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:  # not written yet, or gone
        return None
