"""The measurement window: what every run does around its sending, in one place, with one proof of the path.

Example::

    async with rig.window(Impairment(loss=0.1), drain=wait_for_the_last_probes) as w:
        w.receive([recorder])                  # the rig's receiver hands probes to the run while the window is open
        ...send...
        send_end = await w.end_sending(sent)   # the client evidence covers the sending
    w.evidence, w.before, w.after              # host UDP drops over the drain too; the relay's counters
    await w.server_logs.settled()              # what the local servers logged since it opened (`lab.serverlog`)

On entry: every participant's selected ICE pair ends at the relay (`Rig.check_paths`); then the impairment is set
(only now: ICE and DTLS under loss are slow, and not what is measured), the relay's counters read and the client
monitor started. On a clean exit: the drain hook runs, the impairment is cleared, the paths are checked again (an
ICE switch mid-run would void the impairment), and the relay must have carried at least min(sent, 10) datagrams
during the window (`prove_crossed`). Any failure raises PathError and no result is reported.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import TYPE_CHECKING

from .calibration import ClientEvidence, ClientMonitor
from .droplog import DATA_DATAGRAM_BYTES, DropLog
from .paths import PathError
from .relay import Impairment, RelayStats
from .serverlog import ServerLogMark

if TYPE_CHECKING:
    from .rig import Rig, Sink

__all__ = ["Drain", "Window", "prove_crossed"]

Drain = Callable[[], Awaitable[None]]
"""Waits, after the last send, for what is still arriving (each run kind knows when it is done)."""


def prove_crossed(before: RelayStats, after: RelayStats, sent: int) -> None:
    """The second, independent proof: the run's datagrams crossed the relay (PathError if fewer than
    min(sent, 10) did while `sent` messages were sent)."""
    crossed = sum(after.received) - sum(before.received)
    if sent and crossed < min(sent, 10):
        raise PathError(
            f"{sent} messages were sent but only {crossed} datagrams crossed the relay: traffic bypasses it, so "
            f"these results are not reported."
        )


class Window:
    """One run's measurement on a started rig (see the module docstring); made by `Rig.window()`."""

    def __init__(self, rig: Rig, impairment: Impairment | None, *, drain: Drain | None = None) -> None:
        self.rig = rig
        self.impairment = impairment
        self.before: RelayStats | None = None
        """The relay's counters when the window opened (None without a relay)."""
        self.after: RelayStats | None = None
        """The relay's counters when it closed, after the drain."""
        self.sent = 0
        """Messages sent in the window: the relay must have carried at least min(sent, 10) datagrams."""
        self.send_end_ns = 0
        self.drops: DropLog | None = None
        """Which probe-bearing datagrams the relay dropped in the window, per flow (None without a relay)."""
        self.server_logs: ServerLogMark | None = None
        """The rig's local livekit-servers' logs from the window's opening on, for their own account of what they
        dropped (None without a local server whose configuration logs every failed send)."""
        self._drain = drain
        self._monitor = ClientMonitor()
        self._evidence: ClientEvidence | None = None
        self._callbacks: list[Callable[[], object]] = []

    @property
    def evidence(self) -> ClientEvidence:
        """The client's evidence over the sending (host UDP drops over the drain too, once the window closed)."""
        if self._evidence is None:
            raise RuntimeError("no evidence before end_sending()")
        return self._evidence

    async def __aenter__(self) -> Window:
        rig = self.rig
        await rig.check_paths()
        relay = rig.relay
        try:
            if relay is not None:
                if self.impairment is not None:
                    relay.set_impairment(self.impairment)
                relay.record_drops(DATA_DATAGRAM_BYTES)
                self.before = relay.stats()
            logs = rig.server_logs()
            self.server_logs = ServerLogMark(logs) if logs else None
            self._monitor.start()
        except BaseException:
            if relay is not None:
                relay.clear()
                relay.stop_recording()
            raise
        return self

    def receive(self, sinks: Sequence[Sink]) -> None:
        """Install `sinks` as the rig's receivers' sinks (by index) until the window closes."""
        rig_sinks = self.rig.sinks
        for i, sink in enumerate(sinks):
            rig_sinks[i] = sink

        def remove() -> None:
            for i in range(len(sinks)):
                rig_sinks[i] = None

        self.callback(remove)

    def callback(self, fn: Callable[[], object]) -> None:
        """Call `fn` when the window closes (after the drain, before the impairment is cleared), however it does."""
        self._callbacks.append(fn)

    async def end_sending(self, sent: int) -> int:
        """Mark the end of sending (`sent` messages); returns its `time.monotonic_ns()`."""
        self.send_end_ns = time.monotonic_ns()
        self.sent = sent
        self._evidence = await self._monitor.stop()
        return self.send_end_ns

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        rig, relay = self.rig, self.rig.relay
        try:
            if exc_type is None:
                if self._evidence is None:
                    await self.end_sending(self.sent)
                if self._drain is not None:
                    await self._drain()
                # drops while draining count too
                self._evidence = self._monitor.with_host_drops(self.evidence, rig.udp_owners())
        finally:
            try:
                await self._monitor.stop()
                for fn in reversed(self._callbacks):
                    fn()
            finally:
                if relay is not None:
                    relay.clear()  # whatever failed above: the next run must not inherit this impairment
                    self.drops = relay.stop_recording()
        if exc_type is not None:
            return
        await rig.check_paths()
        if relay is not None and self.before is not None:
            self.after = relay.stats()
            prove_crossed(self.before, self.after, self.sent)
