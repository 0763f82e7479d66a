"""What loss to expect, from first principles, to draw beside what was measured.

A lossy message is sent exactly once (SCTP `maxRetransmits: 0`). If its encoded packet needs k SCTP packets
(UDP datagrams) and each datagram is dropped independently with probability p on each of the `legs` impaired
hops it crosses (sender -> server and server -> receiver when both go through the relay), the message arrives
only if every one of its datagrams does on every leg::

    P(lost) = 1 - (1 - p) ** (k_up + k_down)        (= 1 - (1 - p) ** (k * legs) when k is the same per leg)

Reliable messages are retransmitted until they arrive (no "three retransmissions" limit exists in LiveKit's
code), so their expected loss is 0 whatever p is; they pay in latency instead.

k comes from the SCTP payload capacity of one packet on each side: the client's SCTP (libwebrtc's dcSCTP inside
the Rust SDK) uses 1191-byte SCTP packets, the server's (pion/sctp) 1200-byte ones, minus the 12-byte common header
and a 16-byte DATA chunk header. `datagrams_per_message` applies that to the encoded packet size; the lab also
counts what the relay really forwarded, so a wrong constant shows as a mismatch rather than hiding.
"""

from __future__ import annotations

import math

from .. import limits
from .probe import Mode

__all__ = ["CLIENT_SCTP_CHUNK", "SERVER_SCTP_CHUNK", "datagrams_per_message", "expected_loss"]

CLIENT_SCTP_CHUNK = 1191 - 12 - 16
"""User bytes per SCTP packet from the Rust SDK (dcSCTP default MTU 1191, minus common and DATA chunk headers)."""
SERVER_SCTP_CHUNK = 1200 - 12 - 16
"""User bytes per SCTP packet from livekit-server (pion/sctp, 1200-byte packets)."""
DATA_TRACK_MTU = 16_000
"""Largest data-track packet (rust-sdks livekit-datatrack local/pipeline.rs TRANSPORT_MTU): a frame is split into
packets of at most this size, and each packet is one message on the `_data_track` SCTP channel (lossy settings),
which SCTP fragments like any other message."""
_DATA_TRACK_HEADER = 12
"""Data-track packet base header (version/flags, track handle, sequence, frame number, timestamp)."""


def datagrams_per_message(
    size: int, mode: Mode | str, *, topic: str = "lk_notebook.lab", identity: str = "lab-sender-00000000"
) -> tuple[int, int]:
    """(datagrams on the sender's leg, datagrams on the receiver's leg) for one message of `size` payload bytes."""
    mode = Mode(mode)
    if mode is Mode.DATA_TRACK:
        body = DATA_TRACK_MTU - _DATA_TRACK_HEADER
        packets = [body] * (size // body) + ([size % body] if size % body or size == 0 else [])
        up = sum(math.ceil((n + _DATA_TRACK_HEADER) / CLIENT_SCTP_CHUNK) for n in packets)
        down = sum(math.ceil((n + _DATA_TRACK_HEADER) / SERVER_SCTP_CHUNK) for n in packets)
        return up, down
    encoded = limits.packet_size(b"\0" * size, topic=topic, identity=identity)
    # The server re-stamps the packet for each receiver (identity, sid): about the same size.
    return max(1, math.ceil(encoded / CLIENT_SCTP_CHUNK)), max(1, math.ceil(encoded / SERVER_SCTP_CHUNK))


def expected_loss(loss: float, size: int, mode: Mode | str, *, legs: int = 2) -> float:
    """Expected fraction of messages lost with independent per-datagram loss `loss` on `legs` impaired legs."""
    mode = Mode(mode)
    if mode is Mode.RELIABLE or loss <= 0 or legs <= 0:
        return 0.0
    up, down = datagrams_per_message(size, mode)
    k = up + (down if legs >= 2 else 0) + max(0, legs - 2) * down
    return 1.0 - (1.0 - loss) ** k
