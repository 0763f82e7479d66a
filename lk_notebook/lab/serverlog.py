"""What the lab's local livekit-server says it dropped: the server's own account, read from its log.

livekit-server (v1.13.5) drops a data-track frame on its way to a subscriber when the subscriber's data channel
already buffers more than the target latency's worth of bytes (`rtc.datachannel_data_track_target_latency`, 100 ms
of the recent bitrate by default, and more than 8 KiB): `sfu/datachannel/datachannel_writer.go`. It logs every such
frame, one WARN line each, from `rtc/datadowntrack.go`: "could not send data track message ... data dropped due to
high buffered amount". That is LiveKit's documented trade-off for data tracks: under pressure, drop older frames
rather than delay newer ones.

At the lab's rates the 8 KiB floor is often the limit (a logged drop here: "bitrate 329118, buffered amount 8268,
target latency limit 4113, min buffered amount 8192"): about 30 frames of 200 B, 20 ms at 1,600 frames/s. The
buffer counts bytes not yet acknowledged, so two things fill it:

- a receiving side that stops acknowledging for that long, as when a busy host deschedules the lab's process (its
  receiver and its relay thread). Measured here, the process held off the GIL in 0.2 s bursts at 1,600 frames/s:
  0-44 frames dropped by the server per 2 s run. On a quiet host, none;
- a path whose round trip passes the target latency: 60 ms each way through the relay (120 ms round trips) at
  400 frames/s, 190-196 of ~790 frames dropped; 20 ms each way, none.

In every run the frames that left the sender (the relay's count) equalled the frames received plus the frames the
server logged, to 0-3 frames of 3,200 (the relay counts frames bundled in one datagram by its size).

Lossy data-channel messages dropped by the same rule are not logged (`rtc/transportmanager.go` leaves that error
out), so there is no such count for the `lossy` mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["DATA_TRACK_DROP", "ServerLogMark", "count_data_track_drops"]

DATA_TRACK_DROP = "could not send data track message"
"""livekit-server's WARN message for a data-track frame it did not forward to a subscriber."""


def count_data_track_drops(text: str, room: str) -> int:
    """Data-track frames the server logged as not forwarded to a subscriber in `room`, in log `text`."""
    field = f'"room": "{room}"'
    return sum(1 for line in text.splitlines() if DATA_TRACK_DROP in line and field in line)


class ServerLogMark:
    """The local servers' logs from a moment on: `since()` returns the whole lines each has written since.

    Example::

        mark = ServerLogMark([server.log_path])
        ...                                             # the run
        count_data_track_drops(mark.since(), room)
    """

    def __init__(self, paths: Sequence[Path]) -> None:
        self._marks = [(path, path.stat().st_size if path.exists() else 0) for path in paths]

    def since(self) -> str:
        """What the logs gained since the mark, up to each one's last complete line."""
        parts: list[str] = []
        for path, offset in self._marks:
            if not path.exists():
                continue
            with path.open("rb") as f:
                f.seek(offset)
                data = f.read()
            parts.append(data[: data.rfind(b"\n") + 1].decode(errors="replace"))
        return "".join(parts)
