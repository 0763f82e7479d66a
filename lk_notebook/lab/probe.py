"""The wire format of the lab's probe messages.

A probe is a fixed 48-byte header followed by padding up to the requested size::

    magic "LKP1" | mode u8 | flags u8 | reserved u16 | run id u64 | clock id u64 | seq u64 | mono ns u64 | wall ns u64

`clock id` names the sender's process: when the receiver runs in the same process (the usual lab set-up) it
measures latency on the one monotonic clock both share; otherwise it can only compare wall clocks, whose offset is
unknown, and says so (`ProbeClock.WALL`). Anything on the topic that does not parse, or belongs to another run,
is ignored by the receiver (`parse` returns None).

Example::

    codec = ProbeCodec(run_id=new_run_id(), mode=Mode.LOSSY, size=200)
    payload = codec.encode(seq=0)
    probe = parse(payload)            # Probe(run_id=..., seq=0, ...)
"""

from __future__ import annotations

import enum
import os
import secrets
import struct
import time
from typing import NamedTuple

from ..errors import LabError

__all__ = [
    "CLOCK_ID",
    "HEADER_SIZE",
    "MAGIC",
    "Mode",
    "Probe",
    "ProbeClock",
    "ProbeCodec",
    "new_run_id",
    "parse",
]

MAGIC = b"LKP1"
_HEADER = struct.Struct("!4sBBHQQQQQ")
HEADER_SIZE = _HEADER.size  # 48
CLOCK_ID = int.from_bytes(secrets.token_bytes(8), "big") ^ os.getpid()
"""Identifies this process's monotonic clock in every probe it sends."""


class Mode(str, enum.Enum):
    """How probes travel: the two data-channel modes and data tracks; and whole text streams, byte streams, RPC
    calls and payloads chunked into packets by hand (lab/transfer.py), which ride the reliable channel."""

    RELIABLE = "reliable"
    LOSSY = "lossy"
    DATA_TRACK = "data_track"
    TEXT_STREAM = "text_stream"
    BYTE_STREAM = "byte_stream"
    RPC = "rpc"
    PACKET_CHUNKS = "packet_chunks"
    """The byte streams' baseline: the same bytes as reliable data packets of one stream chunk each."""

    @property
    def is_transfer(self) -> bool:
        """A whole-payload mode: one message is a whole stream, call or chunked payload, not a probe packet."""
        return self in (Mode.TEXT_STREAM, Mode.BYTE_STREAM, Mode.RPC, Mode.PACKET_CHUNKS)

    @property
    def is_reliable(self) -> bool:
        """Retransmitted until delivered (the reliable data channel carries streams and RPC too)."""
        return self not in (Mode.LOSSY, Mode.DATA_TRACK)


_MODE_CODE = {
    Mode.LOSSY: 0,
    Mode.RELIABLE: 1,
    Mode.DATA_TRACK: 2,
    Mode.TEXT_STREAM: 3,
    Mode.BYTE_STREAM: 4,
    Mode.RPC: 5,
    Mode.PACKET_CHUNKS: 6,
}
_CODE_MODE = {v: k for k, v in _MODE_CODE.items()}


class ProbeClock(str, enum.Enum):
    """Which clock a latency figure comes from."""

    MONOTONIC = "monotonic (one process: exact)"
    WALL = "wall (two processes: clock offset unknown)"


class Probe(NamedTuple):
    run_id: int
    mode: Mode
    seq: int
    clock_id: int
    mono_ns: int
    wall_ns: int
    size: int


def new_run_id() -> int:
    return int.from_bytes(secrets.token_bytes(8), "big")


class ProbeCodec:
    """Builds the probes of one run: fixed header, zero padding to `size` bytes."""

    def __init__(self, *, run_id: int, mode: Mode, size: int) -> None:
        if size < HEADER_SIZE:
            raise LabError(f"probe size must be at least {HEADER_SIZE} bytes (the header), got {size}")
        self.run_id = run_id
        self.mode = mode
        self.size = size
        self._buf = bytearray(size)

    def encode(self, seq: int) -> bytes:
        """A fresh probe stamped now (the SDK keeps a pointer to the bytes while sending: never reuse them)."""
        _HEADER.pack_into(
            self._buf,
            0,
            MAGIC,
            _MODE_CODE[self.mode],
            0,
            0,
            self.run_id,
            CLOCK_ID,
            seq,
            time.monotonic_ns(),
            time.time_ns(),
        )
        return bytes(self._buf)


def parse(payload: bytes) -> Probe | None:
    """The probe in `payload`, or None for anything else (foreign messages on the topic are ignored)."""
    if len(payload) < HEADER_SIZE or payload[:4] != MAGIC:
        return None
    _, code, _, _, run_id, clock_id, seq, mono, wall = _HEADER.unpack_from(payload, 0)
    mode = _CODE_MODE.get(code)
    if mode is None:
        return None
    return Probe(run_id, mode, seq, clock_id, mono, wall, len(payload))


def unpack_fast(payload: bytes) -> tuple[int, int, int, int, int] | None:
    """(run_id, clock_id, seq, mono_ns, wall_ns) without building a Probe: the receiver's hot path."""
    if len(payload) < HEADER_SIZE or payload[:4] != MAGIC:
        return None
    _, _, _, _, run_id, clock_id, seq, mono, wall = _HEADER.unpack_from(payload, 0)
    return run_id, clock_id, seq, mono, wall
