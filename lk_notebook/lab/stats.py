"""Streaming receiver statistics whose memory does not grow with the number of messages.

- `LatencyHistogram`: log-spaced buckets (1 % relative resolution from 1 µs to 1000 s, ~2,100 counters), exact
  count, sum, min and max. Percentiles are read from the buckets (error under 1 %).
- `SequenceWindow`: a ring bitmap of the last 2**16 sequence numbers: duplicates and out-of-order arrivals are
  exact within the window; a probe older than the window is counted as `too_old` (neither can be told then).
- `TimeBins`: a ring of per-bin counters (messages, bytes) for goodput over time.
- `ReceiverStats`: all three, fed one probe at a time from the receive path.

Example::

    stats = ReceiverStats(t0_ns=time.monotonic_ns())
    stats.record(len(payload), seq, latency_ns, arrival_mono_ns)
    stats.latency.percentile(99)              # milliseconds
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass

__all__ = ["LatencyHistogram", "ReceiverStats", "SequenceWindow", "TimeBins"]


class LatencyHistogram:
    """Fixed-size log histogram of durations in nanoseconds; reports milliseconds."""

    _GROWTH = 1.01
    _MIN_NS = 1_000.0  # 1 µs: below that everything is one bucket
    _MAX_NS = 1e12  # 1000 s

    def __init__(self) -> None:
        self._log_growth = math.log(self._GROWTH)
        self._n = int(math.log(self._MAX_NS / self._MIN_NS) / self._log_growth) + 2
        self.counts = array("q", bytes(8 * self._n))
        self.count = 0
        self.sum_ns = 0
        self.min_ns = 0
        self.max_ns = 0
        self.negative = 0
        """Samples below zero (only possible across processes, on wall clocks); counted in the first bucket."""

    def __len__(self) -> int:
        return self.count

    def record(self, ns: int) -> None:
        if ns < 0:
            self.negative += 1
            ns = 0
        i = 0 if ns <= self._MIN_NS else min(self._n - 1, 1 + int(math.log(ns / self._MIN_NS) / self._log_growth))
        self.counts[i] += 1
        if self.count == 0 or ns < self.min_ns:
            self.min_ns = ns
        if ns > self.max_ns:
            self.max_ns = ns
        self.count += 1
        self.sum_ns += ns

    def _bucket_value(self, i: int) -> float:
        if i == 0:
            return self._MIN_NS
        # geometric middle of the bucket [MIN*g^(i-1), MIN*g^i)
        return float(self._MIN_NS * self._GROWTH ** (i - 0.5))

    def percentile(self, q: float) -> float:
        """The q-th percentile (0-100) in milliseconds; NaN when empty. Clamped to the exact min and max."""
        if self.count == 0:
            return math.nan
        rank = max(1, math.ceil(q / 100.0 * self.count))
        seen = 0
        for i, c in enumerate(self.counts):
            if c:
                seen += c
                if seen >= rank:
                    v = min(max(self._bucket_value(i), self.min_ns), self.max_ns)
                    return v / 1e6
        return self.max_ns / 1e6

    def mean(self) -> float:
        return self.sum_ns / self.count / 1e6 if self.count else math.nan

    def cdf(self) -> tuple[list[float], list[float]]:
        """(latency ms, cumulative fraction) at each non-empty bucket: what a CDF plot needs."""
        xs: list[float] = []
        ys: list[float] = []
        seen = 0
        for i, c in enumerate(self.counts):
            if c:
                seen += c
                xs.append(min(max(self._bucket_value(i), self.min_ns), self.max_ns) / 1e6)
                ys.append(seen / self.count)
        return xs, ys

    def merge(self, other: LatencyHistogram) -> None:
        for i, c in enumerate(other.counts):
            self.counts[i] += c
        if other.count:
            self.min_ns = other.min_ns if self.count == 0 else min(self.min_ns, other.min_ns)
            self.max_ns = max(self.max_ns, other.max_ns)
        self.count += other.count
        self.sum_ns += other.sum_ns
        self.negative += other.negative


class SequenceWindow:
    """Which of the last `size` sequence numbers have been seen (a ring bitmap, one byte per slot)."""

    def __init__(self, size: int = 1 << 16) -> None:
        self.size = size
        self._seen = bytearray(size)
        self.high = -1
        """Highest sequence number seen so far (-1 before the first)."""
        self.unique = 0
        self.duplicates = 0
        self.out_of_order = 0
        self.too_old = 0

    def add(self, seq: int) -> None:
        size = self.size
        high = self.high
        if seq > high:
            gap = seq - high
            if gap >= size:
                self._seen[:] = bytes(size)
            else:
                # clear the slots the window slides over (they held seq - size and older)
                start = (high + 1) % size
                end = start + gap
                if end <= size:
                    self._seen[start:end] = bytes(gap)
                else:
                    self._seen[start:] = bytes(size - start)
                    self._seen[: end - size] = bytes(end - size)
            self._seen[seq % size] = 1
            self.high = seq
            self.unique += 1
            return
        if seq <= high - size:
            self.too_old += 1
            return
        slot = seq % size
        if self._seen[slot]:
            self.duplicates += 1
            return
        self._seen[slot] = 1
        self.unique += 1
        self.out_of_order += 1

    @property
    def gaps(self) -> int:
        """Sequence numbers below the highest seen that have not arrived (so far)."""
        return max(0, self.high + 1 - self.unique)


class TimeBins:
    """Messages and bytes per fixed-width time bin, for the last `capacity` bins (a ring)."""

    def __init__(self, *, width: float = 0.1, capacity: int = 3_000) -> None:
        self.width = width
        self.capacity = capacity
        self.msgs = array("q", bytes(8 * capacity))
        self.bytes = array("q", bytes(8 * capacity))
        self.first = -1
        self.last = -1

    def add(self, t: float, nbytes: int) -> None:
        b = int(t / self.width)
        if b > self.last:
            if self.first < 0:
                self.first = b
            # clear the bins skipped over (they may hold data from `capacity` bins ago)
            for k in range(max(self.last + 1, b - self.capacity + 1), b + 1):
                self.msgs[k % self.capacity] = 0
                self.bytes[k % self.capacity] = 0
            self.last = b
            self.first = max(self.first, b - self.capacity + 1)
        elif b < self.first:
            return
        i = b % self.capacity
        self.msgs[i] += 1
        self.bytes[i] += nbytes

    def series(self, *, until: float | None = None) -> list[tuple[float, int, int]]:
        """[(bin start time, messages, bytes)] from the first kept bin to the last (or to `until`)."""
        if self.first < 0:
            return []
        last = self.last if until is None else max(self.last, int(until / self.width))
        out = []
        for b in range(self.first, last + 1):
            if b > self.last:
                out.append((b * self.width, 0, 0))
            else:
                i = b % self.capacity
                out.append((b * self.width, self.msgs[i], self.bytes[i]))
        return out


@dataclass(slots=True)
class ReceiverCounts:
    """Counters of a receiver at one moment (cheap to take; what the live plots poll)."""

    received: int
    unique: int
    duplicates: int
    out_of_order: int
    bytes: int


class ReceiverStats:
    """Everything the receiver measures for one run, in constant memory.

    `record()` is the hot path: one call per probe. `arrival_ns` and `t0_ns` (the run's start) are
    `time.monotonic_ns()` values of this process; `latency_ns` is measured by the caller on whichever clock it
    shares with the sender (see `lk_notebook.lab.probe`).
    """

    def __init__(self, *, t0_ns: int, bin_width: float = 0.1, window: int = 1 << 16) -> None:
        self.t0_ns = t0_ns
        self.latency = LatencyHistogram()
        self.seq = SequenceWindow(window)
        self.bins = TimeBins(width=bin_width)
        self.received = 0
        self.bytes = 0
        self.first_ns = 0
        self.last_ns = 0

    def record(self, nbytes: int, seq: int, latency_ns: int, arrival_ns: int) -> None:
        seqw = self.seq
        dups = seqw.duplicates
        seqw.add(seq)
        self.received += 1
        if seqw.duplicates != dups:
            return  # a duplicate is not goodput and its latency is not a delivery
        if self.first_ns == 0:
            self.first_ns = arrival_ns
        self.last_ns = arrival_ns
        self.bytes += nbytes
        self.latency.record(latency_ns)
        self.bins.add((arrival_ns - self.t0_ns) / 1e9, nbytes)

    def snapshot(self) -> ReceiverCounts:
        s = self.seq
        return ReceiverCounts(self.received, s.unique, s.duplicates, s.out_of_order, self.bytes)
