"""Which probe-bearing datagrams the relay dropped, by their place in each flow: the lab's conservation check.

The relay cannot read a probe's sequence number (every datagram is DTLS-encrypted), but it can number the
probe-bearing datagrams of each flow (a client address and a direction) in the order it reads them, and note the
number and size of each one it drops. Within one run that is enough to count, exactly, the messages its drops
cost, without any model of loss:

- one datagram per message (k = 1): each dropped datagram costs the messages bundled in it (SCTP packs several
  small messages into one packet when they queue; the datagram's size says how many);
- k datagrams per message: a flow carries each message as k consecutive datagrams (one SCTP stream, fragments in
  order; the sizes the lab picks leave no room to bundle the next message's head into a tail), so datagram i
  belongs to message i // k, and a message is lost iff any of its datagrams on either leg was dropped. A message
  dropped on the sender's leg never reaches the receiver's leg (the server forwards only whole messages), so the
  receiver's leg numbers only the survivors.

Memory: one pair of ints per dropped datagram, while a window records, at most `MAX_DROPS` (then `truncated`).

Example::

    log = relay.record_drops(DATA_DATAGRAM_BYTES)
    ...                                                    # the run
    relay.stop_recording()
    lost_deliveries(log, k=1, user_bytes=260, receivers=1)  # == the receivers' missing messages
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DATA_DATAGRAM_BYTES", "MAX_DROPS", "DropLog", "FlowDrops", "lost_deliveries", "messages_in_datagram"]

DATA_DATAGRAM_BYTES = 200
"""Datagrams this large or larger carry probe data: an SCTP packet of u user bytes travels in a datagram of about
u + 57 B (SCTP headers 28 B, DTLS ~29 B; measured on the relay: 200 B probes, ~260 B encoded, in 300-399 B
datagrams), while SACKs, STUN consent checks and heartbeats stay below 200 B."""
MAX_DROPS = 200_000
"""Dropped datagrams one log keeps (1.6 MB of ints): a run past that is reported `truncated`, never counted."""
UP, DOWN = 0, 1
_PACKET_OVERHEAD = 12 + 29
"""Bytes of a datagram that are no chunk: the SCTP common header and DTLS (record header, nonce, tag)."""
_CHUNK_HEADER = 16
"""An SCTP DATA chunk's header; its data is padded to 4 bytes."""

Client = tuple[str, int]


@dataclass(slots=True)
class FlowDrops:
    """One flow's probe-bearing datagrams while recording: how many, and (ordinal, size) of each dropped one."""

    datagrams: int = 0
    dropped: list[tuple[int, int]] = field(default_factory=list)


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
                flow.dropped.append((flow.datagrams, size))
                self.kept += 1
            else:
                self.truncated = True
        flow.datagrams += 1

    def copy(self) -> DropLog:
        flows = {key: FlowDrops(f.datagrams, list(f.dropped)) for key, f in self.flows.items()}
        return DropLog(self.min_size, flows, self.kept, self.truncated)


def messages_in_datagram(size: int, user_bytes: int) -> int:
    """Messages of `user_bytes` encoded bytes each that one datagram of `size` bytes carries (>= 1): n DATA chunks
    of 16 + padded user bytes, plus the packet's overhead. Rounding absorbs a small control chunk bundled with
    them (a FORWARD-TSN or SACK: 8-20 B, against >= 216 B per message at the 200 B line)."""
    per_message = _CHUNK_HEADER + (user_bytes + 3) // 4 * 4
    return max(1, round((size - _PACKET_OVERHEAD) / per_message))


def lost_deliveries(log: DropLog, *, k: int | tuple[int, int], user_bytes: int, receivers: int) -> int:
    """Deliveries the relay's drops cost: a message dropped on a sender's leg is lost at all `receivers`; one
    dropped on a receiver's leg at that receiver only. `k`: datagrams per message (or (sender's leg, receivers'
    leg)); `user_bytes`: one message's encoded size (used where k = 1, to count bundles)."""
    ks = (k, k) if isinstance(k, int) else k
    total = 0
    for (direction, _), flow in log.flows.items():
        k = ks[direction]
        if k == 1:
            lost = sum(messages_in_datagram(size, user_bytes) for _, size in flow.dropped)
        else:
            lost = len({ordinal // k for ordinal, _ in flow.dropped})
        total += lost * (receivers if direction == UP else 1)
    return total
