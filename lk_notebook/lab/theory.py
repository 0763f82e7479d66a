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

__all__ = [
    "CHECK_SIGMA",
    "CLIENT_SCTP_CHUNK",
    "SERVER_SCTP_CHUNK",
    "datagrams_per_message",
    "expected_loss",
    "expected_loss_legs",
    "loss_tolerance",
    "mathis_msgs_s",
    "smallest_fragment",
]

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


def smallest_fragment(
    size: int, mode: Mode | str, *, topic: str = "lk_notebook.lab", identity: str = "lab-sender-00000000"
) -> int:
    """User bytes in the smallest SCTP packet of one message on the sender's leg (its last fragment): the relay can
    tell a message's datagrams from SACKs and heartbeats by size only when this one is large enough."""
    mode = Mode(mode)
    if mode is Mode.DATA_TRACK:
        body = DATA_TRACK_MTU - _DATA_TRACK_HEADER
        packets = [body] * (size // body) + ([size % body] if size % body or size == 0 else [])
        return min((n + _DATA_TRACK_HEADER) % CLIENT_SCTP_CHUNK or CLIENT_SCTP_CHUNK for n in packets)
    encoded = limits.packet_size(b"\0" * size, topic=topic, identity=identity)
    return encoded % CLIENT_SCTP_CHUNK or CLIENT_SCTP_CHUNK


def expected_loss(loss: float, size: int, mode: Mode | str, *, legs: int = 2) -> float:
    """Expected fraction of messages lost with independent per-datagram loss `loss` on `legs` impaired legs."""
    mode = Mode(mode)
    if mode.is_reliable or loss <= 0 or legs <= 0:
        return 0.0
    up, down = datagrams_per_message(size, mode)
    k = up + (down if legs >= 2 else 0) + max(0, legs - 2) * down
    return 1.0 - (1.0 - loss) ** k


def expected_loss_legs(p_up: float, p_down: float, size: int, mode: Mode | str) -> float:
    """Expected message loss with a different measured per-datagram loss on each leg (sender -> server `p_up`,
    server -> receiver `p_down`): 1 - (1 - p_up) ** k_up * (1 - p_down) ** k_down."""
    mode = Mode(mode)
    if mode.is_reliable:
        return 0.0
    up, down = datagrams_per_message(size, mode)
    return 1.0 - (1.0 - p_up) ** up * (1.0 - p_down) ** down


CHECK_SIGMA = 4.0
"""Binomial standard deviations a measured loss may stray from its theory before a check (the tests, the lab
notebook, the README and docs/measurements.md) calls it a difference: a true theory then fails by chance about once
in 15,000 runs (two-sided normal tail), which a suite run many times a day can afford; 3 would be once in 370."""


def loss_tolerance(q: float, n: int) -> float:
    """CHECK_SIGMA binomial standard deviations of a loss fraction `q` measured over `n` messages: each message is
    lost or not, independently, with probability q. Zero when q is 0 or 1 (no spread), infinite when n is 0."""
    if n <= 0:
        return math.inf
    return CHECK_SIGMA * math.sqrt(q * (1.0 - q) / n)


BASE_RTT_MS = 1.0
"""Round trip through the relay and server on loopback with no added delay (measured ~0.3-1 ms; the larger is
the safer bound's denominator)."""


def mathis_msgs_s(size: int, *, loss: float, delay_ms: float, mode: Mode | str = Mode.RELIABLE) -> float:
    """Mathis et al.'s ceiling for one congestion-controlled association on a lossy path, in messages/s:
    goodput <= MSS / RTT x 1.22 / sqrt(p), with MSS one SCTP packet's user bytes and RTT = 2 x `delay_ms` (the
    relay delays each direction) + BASE_RTT_MS. SCTP applies its congestion window to lossy (partially reliable)
    messages too, so both data-channel modes meet it. Infinite when `loss` is 0."""
    if loss <= 0:
        return math.inf
    rtt = (2 * delay_ms + BASE_RTT_MS) / 1000.0
    up, _ = datagrams_per_message(size, mode)
    bytes_s = CLIENT_SCTP_CHUNK / rtt * 1.22 / math.sqrt(loss)
    # a message of k packets costs k MSS of window; smaller ones bundle, so charge at least their own bytes
    per_message = max(float(size), up * CLIENT_SCTP_CHUNK if size > CLIENT_SCTP_CHUNK else float(size))
    return bytes_s / per_message
