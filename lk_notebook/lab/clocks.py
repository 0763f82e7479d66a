"""Clock offsets between the coordinator and its Dask workers, and when a latency figure may use them.

One-way latency across processes on different hosts subtracts two clocks. The coordinator measures each worker's
wall-clock offset NTP-style: it reads its own clock (t0), asks the worker for its clock (t1, through Dask), reads
its own again (t2). If the request and the answer took equally long, the worker read its clock at (t0 + t2) / 2, so
`offset = t1 - (t0 + t2) / 2`; whatever the asymmetry, the error is at most the round trip's half, `(t2 - t0) / 2`.
Of several samples the one with the smallest round trip has the smallest bound and is kept.

A latency between two workers is corrected by both offsets and carries both bounds (`latency_bound_ms`); when the
bound exceeds `MAX_BOUND_FRACTION` of the latency's median, the row says the clock is too coarse for it
(`latency_trusted` False) rather than presenting the figure as a measurement.

Processes on one host share CLOCK_MONOTONIC (same boot id), so there latency uses it exactly (bound 0) and the
measured offsets are reported as a check of the method.

Example::

    est = best_offset([ClockSample(t0, t1, t2) for t0, t1, t2 in samples])
    est.offset_ns, est.bound_ns
    trusted(bound_ms=0.8, p50_ms=5.0)        # False: 0.8 ms is more than 10 % of 5 ms
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..errors import LabError

__all__ = [
    "MAX_BOUND_FRACTION", "ClockEstimate", "ClockSample", "WorkerClock", "best_offset", "boot_id", "clock_label",
    "trusted",
]  # fmt: skip

MAX_BOUND_FRACTION = 0.1
"""A latency's clock bound may be at most this fraction of its median (10 %) to count as measured."""


@dataclass(frozen=True, slots=True)
class ClockSample:
    """One round trip: coordinator clock before (t0) and after (t2) reading the worker's clock (t1), all ns."""

    t0: int
    t1: int
    t2: int

    @property
    def rtt_ns(self) -> int:
        return self.t2 - self.t0


@dataclass(frozen=True, slots=True)
class ClockEstimate:
    """A worker's clock minus the coordinator's (`offset_ns`), within +-`bound_ns`."""

    offset_ns: int
    bound_ns: int
    rtt_ns: int
    samples: int

    @property
    def offset_ms(self) -> float:
        return self.offset_ns / 1e6

    @property
    def bound_ms(self) -> float:
        return self.bound_ns / 1e6


@dataclass(frozen=True, slots=True)
class WorkerClock:
    """A Dask worker's measured clock: offset and bound against the coordinator, and its host's boot id."""

    worker: str
    estimate: ClockEstimate
    boot_id: str


def best_offset(samples: list[ClockSample]) -> ClockEstimate:
    """The offset from the sample with the smallest round trip (its half is the bound)."""
    valid = [s for s in samples if s.rtt_ns >= 0]
    if not valid:
        raise LabError("no clock sample with a non-negative round trip")
    best = min(valid, key=lambda s: s.rtt_ns)
    return ClockEstimate(
        offset_ns=best.t1 - (best.t0 + best.t2) // 2,
        bound_ns=(best.rtt_ns + 1) // 2,
        rtt_ns=best.rtt_ns,
        samples=len(valid),
    )


def trusted(*, bound_ms: float, p50_ms: float) -> bool:
    """Whether a latency median of `p50_ms` is measured well enough by a clock good to +-`bound_ms`."""
    if bound_ms == 0:
        return True
    if math.isnan(p50_ms) or p50_ms <= 0:
        return False
    return bound_ms <= MAX_BOUND_FRACTION * p50_ms


def clock_label(*, exact: bool, bound_ms: float, p50_ms: float) -> str:
    """The `clock` column of a row measured across processes."""
    if exact:
        return "monotonic (one host: exact)"
    label = f"wall, offset-corrected (+-{bound_ms:.3f} ms)"
    if not trusted(bound_ms=bound_ms, p50_ms=p50_ms):
        label += f": bound too wide for p50 {p50_ms:.3f} ms (> {MAX_BOUND_FRACTION:.0%})"
    return label


def boot_id() -> str:
    """This host's boot id: processes with the same one share CLOCK_MONOTONIC (empty where unknown)."""
    path = Path("/proc/sys/kernel/random/boot_id")
    try:
        return path.read_text().strip()
    except OSError:
        return ""
