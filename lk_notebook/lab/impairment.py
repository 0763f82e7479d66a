"""What the lab's relay does to each datagram: the `Impairment` a user sets, and the `Impairer` that applies it.

Pure logic (no sockets, no threads), so the decisions can be read and tested apart from the relay's I/O
(`lk_notebook.lab.relay`).
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from typing import Any, Literal

from ..errors import LabError

__all__ = ["NO_IMPAIRMENT", "Impairer", "Impairment"]


@dataclass(frozen=True, slots=True)
class Impairment:
    """What the relay does to each datagram, independently in each direction.

    Example: `Impairment(loss=0.1, delay_ms=20)` drops 10 % of datagrams each way and delays the rest by 20 ms
    each way (so a round trip gains 40 ms and a one-way message through the server, two legs, 40 ms).
    """

    loss: float = 0.0
    """Probability in [0, 1) that a datagram is dropped, drawn independently per datagram and direction."""
    delay_ms: float = 0.0
    """Fixed one-way delay added per direction, in milliseconds."""
    jitter_ms: float = 0.0
    """Standard deviation of a normal delay variation (truncated at zero total delay). Jitter larger than the
    spacing of datagrams reorders them, as a real network would; zero jitter never reorders."""
    rate_kbps: float | None = None
    """Bandwidth cap per direction in kilobits/s (a token-bucket link with a 1 s queue; tail drop beyond)."""
    loss_direction: Literal["up", "down"] | None = None
    """Drop only datagrams going "up" (clients to the server: the senders' leg) or "down" (the receivers' leg);
    None: both. One impaired leg lets the lab tell which message a drop cost when the sender's SCTP fragments
    messages unevenly (`lk_notebook.lab.droplog`)."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss < 1.0:
            raise LabError(f"loss must be a probability in [0, 1), got {self.loss!r}")
        if self.delay_ms < 0 or self.jitter_ms < 0:
            raise LabError(f"delay and jitter must be >= 0 ms, got delay={self.delay_ms!r} jitter={self.jitter_ms!r}")
        if self.loss_direction not in (None, "up", "down"):
            raise LabError(f'loss_direction must be "up", "down" or None, got {self.loss_direction!r}')
        if self.rate_kbps is not None and self.rate_kbps <= 0:
            raise LabError(f"rate_kbps must be positive (or None for no cap), got {self.rate_kbps!r}")

    @property
    def active(self) -> bool:
        return self.loss > 0 or self.delay_ms > 0 or self.jitter_ms > 0 or self.rate_kbps is not None

    def label(self) -> str:
        if not self.active:
            return "none"
        parts = []
        if self.loss:
            parts.append(f"loss={self.loss:g}" + (f"({self.loss_direction})" if self.loss_direction else ""))
        if self.delay_ms or self.jitter_ms:
            parts.append(f"delay={self.delay_ms:g}ms" + (f"±{self.jitter_ms:g}" if self.jitter_ms else ""))
        if self.rate_kbps is not None:
            parts.append(f"cap={self.rate_kbps:g}kbps")
        return ",".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


NO_IMPAIRMENT = Impairment()


class Impairer:
    """The relay's decisions about one datagram, without sockets: is it dropped, and when does it leave (delay,
    jitter, the link's rate). Seeded, so a run's draws repeat; called under the relay's lock, from its thread."""

    def __init__(self, seed: int | None = None) -> None:
        self.impairment = NO_IMPAIRMENT
        self._rng = random.Random(seed)
        self._link_free = [0.0, 0.0]
        """When each direction's link is next free (monotonic s), for the bandwidth cap."""

    def set(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self._link_free = [0.0, 0.0]

    def drops(self, direction: int) -> bool:
        """Draw whether a datagram going `direction` (0 up, 1 down) is lost."""
        imp = self.impairment
        lossy = imp.loss and imp.loss_direction in (None, ("up", "down")[direction])
        return bool(lossy) and self._rng.random() < imp.loss

    def departure(self, direction: int, size: int, now: float) -> float | None:
        """When a datagram of `size` bytes read at `now` leaves; None when the link's queue (about one second) is
        full, a tail drop."""
        imp = self.impairment
        at = now
        if imp.delay_ms or imp.jitter_ms:
            d = imp.delay_ms
            if imp.jitter_ms:
                d = max(0.0, self._rng.gauss(imp.delay_ms, imp.jitter_ms))
            at = now + d / 1000.0
        if imp.rate_kbps is not None:
            tx = size * 8 / (imp.rate_kbps * 1000.0)
            start = max(at, self._link_free[direction])
            if start - at > 1.0:
                return None
            self._link_free[direction] = start + tx
            at = start + tx
        return at
