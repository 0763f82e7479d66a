"""Which probe-bearing datagrams the relay dropped, by their place in each flow: the lab's conservation check.

The relay cannot read a probe's sequence number (every datagram is DTLS-encrypted), but it can number the
probe-bearing datagrams of each flow (a client address and a direction) in the order it reads them, and note the
number and size of each one it drops. Within one run that is enough to count, exactly, the messages its drops
cost, without any model of loss:

- one datagram per message (k = 1): each dropped datagram costs the messages bundled in it (SCTP packs several
  small messages into one packet when they queue; the datagram's size says how many);
- k datagrams per message: a message is lost iff any of its datagrams on either leg was dropped. On the
  receivers' leg the server (pion/sctp) cuts each message into full packets and one shorter last one, so a
  datagram shorter than the largest of its flow ends a message: the relay counts messages by those ends, and
  names the message each drop hit. (The sender's SDK, dcSCTP, cuts messages unevenly when its congestion window
  is short, so on the sender's leg only k = 1 can be counted this way: impair one leg, `loss_direction="down"`.)
  A message dropped on the sender's leg never reaches the receiver's leg (the server forwards only whole
  messages), so the receiver's leg carries only the survivors. The server's SCTP now and then sends a dropped
  fragment of a lossy message again within the message (measured: once in 300 messages at 10 % loss, a message of
  four datagrams, the first dropped, that arrived): a message of n datagrams with d dropped is lost iff fewer than
  k arrived, d > n - k.

Memory: one pair of ints per dropped datagram, while a window records, at most `MAX_DROPS` (then `truncated`).

Example::

    log = relay.record_drops(DATA_DATAGRAM_BYTES)
    ...                                                    # the run
    relay.stop_recording()
    lost_deliveries(log, k=1, receivers=1)                 # == the receivers' missing messages
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "DATA_DATAGRAM_BYTES",
    "DOWN",
    "MAX_DROPS",
    "UP",
    "DropLog",
    "FlowDrops",
    "lost_deliveries",
    "messages_in_datagram",
]

DATA_DATAGRAM_BYTES = 200
"""Datagrams this large or larger carry probe data: an SCTP packet of u user bytes travels in a datagram of about
u + 57 B (SCTP headers 28 B, DTLS ~29 B; measured on the relay: 200 B probes, ~260 B encoded, in 300-399 B
datagrams), while SACKs, STUN consent checks and heartbeats stay below 200 B."""
MAX_DROPS = 200_000
"""Dropped datagrams one log keeps (1.6 MB of ints): a run past that is reported `truncated`, never counted."""
UP, DOWN = 0, 1
_OVERHEAD = 62
"""Bytes of a one-message datagram that are not the message: SCTP common header 12, DATA chunk header 16, DTLS 34
(measured on the relay: a full 1163-byte SCTP payload travels in a 1225-byte datagram)."""
_CHUNK_HEADER = 16
"""An SCTP DATA chunk's header; its data is padded to 4 bytes."""
_BUNDLE_TOLERANCE = 64
"""Bytes a datagram of whole messages may differ from the model's bundle size: a control chunk bundled in (a SACK
is 16 B + 4 per gap, a FORWARD-TSN 8-20 B), and measured bundles (4 x 200 B probes in 1,225 B where the model
says 1,181)."""

Client = tuple[str, int]


@dataclass(slots=True)
class FlowDrops:
    """One flow's probe-bearing datagrams while recording: how many, and (ordinal, size) of each dropped one."""

    datagrams: int = 0
    dropped: list[tuple[int, int, int]] = field(default_factory=list)
    """(ordinal, size, message) of each dropped datagram: `message` is how many messages had ended before it."""
    ends: int = 0
    """Datagrams shorter than the largest before them: last fragments, so messages carried when k > 1."""
    largest: int = 0
    group: list[int] = field(default_factory=lambda: [0, 0])
    """Datagrams and drops so far in the current message."""
    hit: dict[tuple[int, int], int] = field(default_factory=dict)
    """Ended messages with a drop, counted by (datagrams, drops): a handful of keys whatever the run's length."""
    sizes: dict[int, int] = field(default_factory=dict)
    """Datagrams by exact size (a few hundred keys at most): with k = 1, the messages the flow carried."""


@dataclass(slots=True)
class DropLog:
    """Filled by the relay's thread (under its lock) while a measurement window records."""

    min_size: int
    flows: dict[tuple[int, Client], FlowDrops] = field(default_factory=dict)
    kept: int = 0
    truncated: bool = False

    def see(self, direction: int, client: Client, size: int, dropped: bool) -> None:
        """Note one datagram of `size` bytes between the relay and `client` (dropped or passed on)."""
        if size < self.min_size:
            return
        flow = self.flows.get((direction, client))
        if flow is None:
            flow = self.flows[(direction, client)] = FlowDrops()
        if dropped:
            if self.kept < MAX_DROPS:
                flow.dropped.append((flow.datagrams, size, flow.ends))
                self.kept += 1
            else:
                self.truncated = True
        flow.datagrams += 1
        flow.sizes[size] = flow.sizes.get(size, 0) + 1
        group = flow.group
        group[0] += 1
        group[1] += dropped
        if size < flow.largest:
            flow.ends += 1
            if group[1]:
                key = (group[0], group[1])
                flow.hit[key] = flow.hit.get(key, 0) + 1
            group[0] = group[1] = 0
        flow.largest = max(flow.largest, size)

    def copy(self) -> DropLog:
        flows = {
            key: FlowDrops(f.datagrams, list(f.dropped), f.ends, f.largest, list(f.group), dict(f.hit), dict(f.sizes))
            for key, f in self.flows.items()
        }
        return DropLog(self.min_size, flows, self.kept, self.truncated)

    def messages(self, direction: int, *, k: int = 2) -> int:
        """Messages carried in `direction` (dropped ones included): with k > 1 by their last, shorter datagram;
        with k = 1 by each datagram's size (bundles)."""
        flows = [f for (d, _), f in self.flows.items() if d == direction]
        if k > 1:
            return sum(f.ends for f in flows)
        return sum(n * messages_in_datagram(size, _single(f)) for f in flows for size, n in f.sizes.items())

    def split_datagrams(self, direction: int) -> int:
        """Datagrams in `direction` that are neither one message alone nor a whole bundle of them: the
        sender's SCTP filled a packet with part of the next message, or sent the rest of one (measured: 1,000 B
        data-track frames in 200-900 B and 1,2xx B datagrams in a new track's first rows through a 150 ms path).
        Counting one-datagram messages by size (`messages` with k = 1, the relay's `wire_ratio`) can then be off by
        one for each such datagram; with none, the count is exact. "Whole" is to within `_BUNDLE_TOLERANCE` of the
        bundle's size (and no more than 4 B under one message alone), so a piece smaller than that is not seen
        here, but the rest of its message is, when it travels alone. Meaningful for messages of one datagram
        (k = 1) only."""
        split = 0
        for (d, _), f in self.flows.items():
            if d != direction:
                continue
            single = _single(f)
            per_message = _bytes_per_message(single)
            for size, n in f.sizes.items():
                off = (size - single) % per_message
                if size < single - 4 or min(off, per_message - off) > _BUNDLE_TOLERANCE:
                    split += n
        return split


def messages_in_datagram(size: int, single: int) -> int:
    """Messages in one datagram of `size` bytes when one message alone travels in `single` bytes: each more
    adds a DATA chunk, 16 B + its padded bytes. Read from `single` because the server re-stamps each packet
    (measured: 47 B larger for a 200 B probe), so the two legs differ. Rounding absorbs a control chunk bundled in
    (a FORWARD-TSN: 8-20 B, against >= 216 B per message at the 200 B line). A datagram smaller than `single`
    carries none: every probe of a run is the same size (measured: one 289 B datagram in a run of 329 B probes)."""
    if size < single - 4:
        return 0
    return 1 + round((size - single) / _bytes_per_message(single))


def _bytes_per_message(single: int) -> int:
    """What one more message adds to a datagram whose one message alone travels in `single` bytes: a DATA chunk,
    16 B + its bytes padded to 4."""
    return _CHUNK_HEADER + (single - _OVERHEAD + 3) // 4 * 4


def _single(flow: FlowDrops) -> int:
    """A flow's most common datagram size: one message alone (bundles are the exception, measured <= 5 %)."""
    return max(flow.sizes.items(), key=lambda kv: kv[1])[0] if flow.sizes else 0


def lost_deliveries(log: DropLog, *, k: int | tuple[int, int], receivers: int) -> int:
    """Deliveries the relay's drops cost: a message dropped on a sender's leg is lost at all `receivers`; one
    dropped on a receiver's leg at that receiver only. `k`: datagrams per message (or (sender's leg, receivers'
    leg)); where k = 1, bundles are counted by size."""
    ks = (k, k) if isinstance(k, int) else k
    total = 0
    for (direction, _), flow in log.flows.items():
        k = ks[direction]
        if k == 1:
            single = _single(flow)
            lost = sum(messages_in_datagram(size, single) for _, size, _ in flow.dropped)
        else:
            lost = sum(count for (n, d), count in flow.hit.items() if d > n - k)
        total += lost * (receivers if direction == UP else 1)
    return total
