"""The relay's counters, per direction: what `ImpairmentRelay.stats()` returns (two readings bracket a run)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["SIZE_BUCKETS", "RelayStats"]

SIZE_BUCKETS = 16
"""Datagram size buckets of 100 bytes each; the last one holds everything larger."""


@dataclass(slots=True)
class RelayStats:
    """Counters of one relay, per direction ("up" = client to server, "down" = server to client)."""

    forwarded: list[int] = field(default_factory=lambda: [0, 0])
    """Datagrams sent on (after impairment)."""
    dropped: list[int] = field(default_factory=lambda: [0, 0])
    """Datagrams dropped by the loss setting."""
    capped: list[int] = field(default_factory=lambda: [0, 0])
    """Datagrams dropped because the bandwidth cap's queue was full."""
    bytes: list[int] = field(default_factory=lambda: [0, 0])
    """Bytes received from each side (before impairment)."""
    received: list[int] = field(default_factory=lambda: [0, 0])
    """Datagrams received from each side (before impairment)."""
    clients: int = 0
    """Client addresses seen (one upstream socket each)."""
    sizes: list[list[int]] = field(default_factory=lambda: [[0] * SIZE_BUCKETS, [0] * SIZE_BUCKETS])
    """Datagrams received per direction by size, in 100-byte buckets (the last one holds everything larger)."""
    dropped_sizes: list[list[int]] = field(default_factory=lambda: [[0] * SIZE_BUCKETS, [0] * SIZE_BUCKETS])
    """Datagrams dropped by the loss setting per direction, in the same size buckets."""

    def copy(self) -> RelayStats:
        return RelayStats(
            list(self.forwarded), list(self.dropped), list(self.capped), list(self.bytes), list(self.received),
            self.clients, [list(self.sizes[0]), list(self.sizes[1])],
            [list(self.dropped_sizes[0]), list(self.dropped_sizes[1])],
        )  # fmt: skip

    def datagrams_at_least(self, direction: int, nbytes: int) -> int:
        """Datagrams received in `direction` (0 up, 1 down) of at least about `nbytes` (100-byte resolution)."""
        return sum(self.sizes[direction][min(nbytes // 100, SIZE_BUCKETS - 1) :])

    def messages_at_least(self, direction: int, nbytes: int, *, message_bytes: int) -> int:
        """Messages of one datagram each (`message_bytes` on the wire) carried in `direction` by datagrams of at
        least `nbytes`, counting a datagram of n such messages bundled together as n (from its size bucket)."""
        total = 0
        for bucket in range(min(nbytes // 100, SIZE_BUCKETS - 1), SIZE_BUCKETS - 1):
            total += self.sizes[direction][bucket] * max(1, round((bucket * 100 + 50) / message_bytes))
        return total + self.sizes[direction][SIZE_BUCKETS - 1]  # the last bucket's sizes are unknown: one each

    def dropped_at_least(self, direction: int, nbytes: int) -> int:
        """Datagrams dropped in `direction` of at least about `nbytes` (100-byte resolution)."""
        return sum(self.dropped_sizes[direction][min(nbytes // 100, SIZE_BUCKETS - 1) :])

    def as_dict(self) -> dict[str, int]:
        out: dict[str, int] = {"clients": self.clients}
        for i, d in enumerate(("up", "down")):
            out[f"{d}_received"] = self.received[i]
            out[f"{d}_forwarded"] = self.forwarded[i]
            out[f"{d}_dropped"] = self.dropped[i]
            out[f"{d}_capped"] = self.capped[i]
            out[f"{d}_bytes"] = self.bytes[i]
        return out
