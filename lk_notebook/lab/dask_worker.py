"""What one Dask worker runs: many lab participants on one asyncio loop of its own, for one run.

`run_participants(plan)` is the Dask task (`lk_notebook.lab.dask_lab` submits one per worker, pinned to it). The
SDK's `rtc.Room` binds to the loop it is created on, and the task's thread must stay free to talk to the scheduler,
so the participants live on a loop in a thread the task starts and stops. The task: joins its participants, says
it is ready (a Dask `Queue`), waits for the start time the coordinator publishes (a Dask `Variable`, on the
coordinator's wall clock, which the worker shifts by its measured offset), sends and receives until the run's end,
drains, leaves, and returns a `WorkerReport` (plain, picklable statistics; the coordinator builds the rows).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from ..config import Credentials
from ..errors import LabError
from ..events import DataKind
from ..joining import join
from ..session import Session
from .calibration import ClientEvidence, ClientMonitor
from .pacing import DEFAULT_WINDOW, SendCounters, send_data
from .packets import Recorder
from .probe import Mode, ProbeClock, ProbeCodec
from .rig import TOPIC
from .stats import ReceiverStats

__all__ = [
    "SenderPlan", "Side", "WorkerPlan", "WorkerReport", "WorkerRoom", "join_all", "ready_queue", "run_participants",
    "run_side",
    "start_variable",
]  # fmt: skip

T = TypeVar("T")
R = TypeVar("R", covariant=True)

START_LEAD_S = 3.0
"""Seconds between the coordinator publishing the start time and the start: every worker is joined by then, and
this is the slack for a loaded scheduler to hand the start to each and for the senders to see every receiver
active (measured: with 2 s one worker began 281 ms late at load average ~9)."""
IDLE_DRAIN_S = 1.0
"""After the send deadline, a worker's receivers are done when nothing new arrived for this long (their senders
may be on another worker, so the count due is unknown without `count`)."""
RELIABLE_IDLE_DRAIN_S = 5.0
"""The same for reliable runs, where every message arrives in the end, so a quiet second means a slow sender, not
loss. Measured: under a CI run's load (~8 on 2 cores) a 1 s lull ended notebook 12's reliable fan-out to 8
receivers with deliveries still on their way (the sum came out short of sent x 8)."""
HARD_DRAIN_S = 20.0


JOIN_CONCURRENCY = 8
"""Joins in flight per worker. One at a time, a join's round trips (signal, then the peer connection) add up: 100
receivers took most of a minute per worker and 200 did not fit the run's timeout. A few at once keep the server's
signal path busy without flooding it."""


async def join_all(room: str, identities: list[str], creds: Credentials, *, into: dict[str, Session]) -> None:
    """Join every identity, `JOIN_CONCURRENCY` at a time, into `into` as each joins (so the caller's close leaves
    every session that joined, even when another join failed); the first failure is raised once all have ended."""
    gate = asyncio.Semaphore(JOIN_CONCURRENCY)

    async def one(identity: str) -> None:
        async with gate:
            into[identity] = await join(
                room, identity=identity, url=creds.url, api_key=creds.api_key, api_secret=creds.api_secret
            )

    outcomes = await asyncio.gather(*(one(i) for i in identities), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def ready_queue(tag: str) -> str:
    return f"lk-lab-ready-{tag}"


def start_variable(tag: str) -> str:
    """The start time (a Variable) and that it is set (an Event of the same name)."""
    return f"lk-lab-start-{tag}"


def abort_event(tag: str) -> str:
    return f"lk-lab-abort-{tag}"


@dataclass(frozen=True, slots=True)
class SenderPlan:
    identity: str
    run_id: int
    worker: str
    offset_ns: int
    """The sender's worker's wall clock minus the coordinator's."""
    boot_id: str


@dataclass(frozen=True, slots=True)
class WorkerRoom:
    """Where a worker's participants join, and the run's tag: the first fields of every plan sent to a worker.
    The secret never shows in a repr."""

    url: str
    api_key: str
    api_secret: str = field(repr=False)
    room: str
    tag: str

    def credentials(self) -> Credentials:
        return Credentials(self.url, self.api_key, self.api_secret, "dask coordinator")


@dataclass(frozen=True, slots=True)
class WorkerPlan(WorkerRoom):
    """What one worker runs: its participants and the run's spec."""

    mode: str
    size: int
    rate: float | None
    duration: float | None
    count: int | None
    senders: tuple[SenderPlan, ...]
    """Every sender in the room (this worker runs those whose `worker` is `worker`)."""
    receivers: tuple[str, ...]
    """This worker's receivers."""
    all_receivers: tuple[str, ...]
    worker: str
    offset_ns: int
    boot_id: str
    shared_host_clock: bool
    """Use CLOCK_MONOTONIC for senders with this worker's boot id (one host: exact)."""
    timeout: float


@dataclass(slots=True)
class WorkerReport:
    """What a worker measured: per receiver, one ReceiverStats per sender run; its senders' counters; evidence."""

    worker: str
    receivers: list[tuple[str, list[ReceiverStats]]]
    sent: dict[int, SendCounters]
    """By run id, this worker's senders."""
    send_s: float
    evidence: ClientEvidence
    wall_clock: bool
    """Some latency was read on offset-corrected wall clocks (another host's sender)."""
    start_late_ms: float
    """How late this worker started after the shared start time (on its own clock, offset applied)."""


class Side(Protocol[R]):
    """One worker's participants for one run: join, then run from the shared start, then close."""

    async def join(self) -> None: ...
    async def run(self, start_coord_ns: int) -> R: ...
    async def close(self) -> None: ...


def run_side(side: Side[R], *, tag: str, worker: str, timeout: float, run_s: float) -> R:
    """In the Dask task's thread: the side's participants on a loop in a thread of their own (see the module
    docstring), ready and start through Dask's Queue and Variable named by `tag`."""
    import distributed

    dd: Any = distributed  # untyped: its Queue and Variable
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="lk-lab-participants", daemon=True)
    thread.start()

    def call(coro: Coroutine[Any, Any, T], limit: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(limit)

    abort = dd.Event(abort_event(tag))

    def until_done(fut: concurrent.futures.Future[Any], what: str) -> None:
        """Wait for `fut`, giving up when the coordinator aborts the run (a cancelled Dask task keeps running in
        its thread, so the worker would stay busy and the next run's task would queue behind it)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                fut.result(1.0)
                return
            except concurrent.futures.TimeoutError:
                if abort.is_set() or time.monotonic() > deadline:
                    fut.cancel()
                    why = "aborted by the coordinator" if abort.is_set() else "timed out"
                    raise LabError(f"{what}: {why}") from None

    try:
        until_done(asyncio.run_coroutine_threadsafe(side.join(), loop), "joining")
        dd.Queue(ready_queue(tag)).put(worker, timeout=timeout)
        start_event = dd.Event(start_variable(tag))
        deadline = time.monotonic() + timeout
        while not start_event.wait(1.0):
            if abort.is_set() or time.monotonic() > deadline:
                raise LabError("waiting for the start: aborted by the coordinator or timed out")
        start_ns = int(dd.Variable(start_variable(tag)).get(timeout=timeout))
        return call(side.run(start_ns), timeout + START_LEAD_S + run_s + HARD_DRAIN_S)
    finally:
        with contextlib.suppress(Exception):
            call(side.close(), 30.0)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10.0)
        loop.close()


def run_participants(plan: WorkerPlan) -> WorkerReport:
    """The Dask task of a packet run: see the module docstring."""
    run_s = plan.duration if plan.duration is not None else 600.0
    return run_side(_Participants(plan), tag=plan.tag, worker=plan.worker, timeout=plan.timeout, run_s=run_s)


class _Participants:
    """This worker's sessions and recorders, on the task's loop."""

    def __init__(self, plan: WorkerPlan) -> None:
        self.plan = plan
        self.mode = Mode(plan.mode)
        self.creds = plan.credentials()
        self.own_senders = [s for s in plan.senders if s.worker == plan.worker]
        self.sessions: dict[str, Session] = {}
        self.recorders: dict[str, dict[int, Recorder]] = {}

    async def join(self) -> None:
        identities = [s.identity for s in self.own_senders] + list(self.plan.receivers)
        await join_all(self.plan.room, identities, self.creds, into=self.sessions)
        for identity in self.plan.receivers:
            self.sessions[identity].add_raw_handler(TOPIC, self._handler(identity))

    def _handler(self, identity: str) -> Any:
        def on_data(payload: bytes, sender: str | None, kind: DataKind, arrival: float) -> None:
            now = time.monotonic_ns()
            by_run = self.recorders.get(identity)
            if by_run is not None and len(payload) >= 16:
                rec = by_run.get(int.from_bytes(payload[8:16], "big"))
                if rec is not None:
                    rec(payload, now)

        return on_data

    async def _wait_active(self) -> None:
        """Lossy data to a receiver not yet active is dropped by the server: senders wait for every receiver."""
        wanted = self.plan.all_receivers
        for s in self.own_senders:

            def all_active(state: Any) -> bool:
                return all((p := state.get(i)) is not None and p.active for i in wanted)

            session = self.sessions[s.identity]
            if not await session.wait_for(all_active, timeout=self.plan.timeout):
                # how far it got says whether the server never announced some (absent) or they never activated
                absent = [i for i in wanted if session.state.get(i) is None]
                idle = [i for i in wanted if (p := session.state.get(i)) is not None and not p.active]
                raise LabError(
                    f"receivers did not all become active for {s.identity} in {self.plan.timeout:g} s: "
                    f"{len(wanted) - len(absent) - len(idle)} of {len(wanted)} active, {len(absent)} never announced "
                    f"(e.g. {absent[:3]}), {len(idle)} not active (e.g. {idle[:3]})"
                )

    async def run(self, start_coord_ns: int) -> WorkerReport:
        plan, mode = self.plan, self.mode
        # the coordinator's start time on this worker's wall clock, then on its monotonic clock
        t0 = time.monotonic_ns() + start_coord_ns + plan.offset_ns - time.time_ns()
        # Record from now, not from this loop's wake-up at t0: a sender on a worker that woke sooner (a loaded host
        # wakes late; the offsets are estimates) sends its first probe before then, and a probe that found no
        # recorder was dropped uncounted (CI once: 99 of 100 reliable messages, no impairment).
        for identity in plan.receivers:
            self.recorders[identity] = {
                s.run_id: Recorder(
                    s.run_id,
                    ReceiverStats(t0_ns=t0),
                    host_clock=plan.shared_host_clock and s.boot_id == plan.boot_id and bool(s.boot_id),
                    wall_correction_ns=s.offset_ns - plan.offset_ns,
                )
                for s in plan.senders
            }
        await self._wait_active()
        if (wait_ns := t0 - time.monotonic_ns()) > 0:
            await asyncio.sleep(wait_ns / 1e9)
        started = time.monotonic_ns()
        start_late_ms = max(0.0, (started - t0) / 1e6)
        monitor = ClientMonitor().start()
        counters = {s.run_id: SendCounters() for s in self.own_senders}
        limit = plan.count if plan.count is not None else 2**62
        deadline = time.monotonic() + plan.duration if plan.duration is not None else float("inf")
        unused = ReceiverStats(t0_ns=started)  # send_data's in-flight bound needs the receiver: not across processes
        await asyncio.gather(*(
            send_data(self.sessions[s.identity], ProbeCodec(run_id=s.run_id, mode=mode, size=plan.size),
                      reliable=mode is Mode.RELIABLE, rate=plan.rate, deadline=deadline, limit=limit,
                      window=DEFAULT_WINDOW, counters=counters[s.run_id], stats=unused, max_in_flight=None)
            for s in self.own_senders
        ))  # fmt: skip
        if plan.duration is not None:
            await asyncio.sleep(max(0.0, deadline - time.monotonic()))
        send_s = (time.monotonic_ns() - started) / 1e9
        await self._drain(deadline)
        # the evidence covers the receiving too: a worker of receivers only is loaded until its last arrival
        evidence = monitor.with_host_drops(await monitor.stop())
        recs = [(i, list(self.recorders[i].values())) for i in plan.receivers]
        wall = any(r.clock is ProbeClock.WALL for _, rs in recs for r in rs)
        return WorkerReport(
            worker=plan.worker,
            receivers=[(i, [r.stats for r in rs]) for i, rs in recs],
            sent=counters,
            send_s=send_s,
            evidence=evidence,
            wall_clock=wall,
            start_late_ms=start_late_ms,
        )

    async def _drain(self, deadline: float) -> None:
        plan = self.plan
        hard = time.monotonic() + HARD_DRAIN_S
        due = plan.count * len(plan.senders) if plan.count is not None else None
        idle = RELIABLE_IDLE_DRAIN_S if self.mode is Mode.RELIABLE else IDLE_DRAIN_S
        last, last_change = -1, time.monotonic()
        while time.monotonic() < hard:
            got = [sum(r.stats.seq.unique for r in by_run.values()) for by_run in self.recorders.values()]
            if due is not None and all(g >= due for g in got):
                return
            now = time.monotonic()
            if sum(got) != last:
                last, last_change = sum(got), now
            elif now > deadline and now - last_change > idle:
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        for s in self.sessions.values():
            with contextlib.suppress(Exception):
                await s.leave()
        self.sessions.clear()
