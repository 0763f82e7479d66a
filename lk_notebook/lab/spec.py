"""What one run measures, as the Lab validated it: the same for every run kind (packets, fan-out/in, transfers)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from .probe import Mode
from .relay import Impairment

__all__ = ["RunSpec"]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """`mode` x `size` x `rate` for `duration` seconds or `count` messages, under `impairment`."""

    mode: Mode
    size: int
    rate: float | None
    """Messages/s (None: as fast as the sender can)."""
    duration: float | None
    count: int | None
    impairment: Impairment
    bin_width: float = 0.1
    """Seconds per goodput time bin."""

    def limit(self) -> int:
        """Messages to send at most."""
        return self.count if self.count is not None else 2**62

    def deadline(self) -> float:
        """When sending stops, on `time.monotonic()` (call when sending starts)."""
        return time.monotonic() + self.duration if self.duration is not None else math.inf
