"""Attributes at scale, on Dask workers: N participants each change an attribute at `rate`/s; how long until every
participant's view equals the server's.

Every participant sets `lab.v` to 0, 1, ... `changes - 1` on one schedule from the shared start, so the final
value is known to all: a worker's participants are converged when each sees every identity's `lab.v` at the
final value. The time is from the scheduled last change to when the slowest of them sees it; the coordinator then
checks that the server's view is that final value for everyone (`server_final`). LiveKit's advice is to change
attributes "not more than once every few seconds": these rows put numbers on what faster churn costs.

Example::

    rows = await measure_attributes_at_scale(participants=[10, 40], rate=1.0, duration=5, cluster="local")
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from ..admin import ServerAPI
from ..config import Credentials, resolve_credentials
from ..errors import LabError
from ..session import Session
from .dask_lab import ClusterLike, check_workers, cluster_client, measure_clocks, run_tasks
from .dask_worker import WorkerRoom, join_all, run_side
from .rows import AttributeScaleRow

__all__ = ["ChurnPlan", "ChurnReport", "measure_attributes_at_scale", "run_attribute_churn"]

KEY = "lab.v"
DONE = "lab.settled"
"""Set to "1" by a participant whose view converged or gave up: everyone stays until all have it
(see `_Churn._stay_until_all_settled`)."""
STALE_SHOWN = 8
"""Entries of `stale_views` a row keeps: enough to see a pattern, short enough to read."""


def lacking(state: Any, identities: Sequence[str], key: str, value: str) -> list[tuple[str, str]]:
    """Who in `identities` this view does not show with `key` = `value`, and what it holds instead ("absent")."""
    out = []
    for i in identities:
        q = state.get(i)
        held = "absent" if q is None else repr(q.attributes.get(key))
        if q is None or q.attributes.get(key) != value:
            out.append((i, held))
    return out


@dataclass(frozen=True, slots=True)
class ChurnPlan(WorkerRoom):
    identities: tuple[str, ...]
    all_identities: tuple[str, ...]
    rate: float
    changes: int
    worker: str
    offset_ns: int
    timeout: float
    settle_timeout: float


@dataclass(slots=True)
class ChurnReport:
    worker: str
    converged_ms: list[float]
    """Per participant of this worker: ms from the scheduled last change until its view had every final value
    (NaN: not within `settle_timeout`)."""
    set_errors: int
    server_final: bool
    """The server listed this worker's participants with the final value (read before they left)."""
    stale: list[str]
    """For each of this worker's views that did not converge: whose final value it lacked, and what it held."""


def run_attribute_churn(plan: ChurnPlan) -> ChurnReport:
    """The Dask task: this worker's participants churn their attributes, then wait to converge."""
    run_s = plan.changes / plan.rate + plan.settle_timeout
    return run_side(_Churn(plan), tag=plan.tag, worker=plan.worker, timeout=plan.timeout, run_s=run_s)


class _Churn:
    def __init__(self, plan: ChurnPlan) -> None:
        self.plan = plan
        self.joined: dict[str, Session] = {}

    @property
    def sessions(self) -> list[Session]:
        return list(self.joined.values())

    async def join(self) -> None:
        p = self.plan
        creds = Credentials(url=p.url, api_key=p.api_key, api_secret=p.api_secret)
        await join_all(p.room, list(p.identities), creds, into=self.joined)

    async def run(self, start_coord_ns: int) -> ChurnReport:
        p = self.plan
        final = str(p.changes - 1)

        def converged(state: Any) -> bool:
            return not lacking(state, p.all_identities, KEY, final)

        everyone = await asyncio.gather(*(s.wait_for(lambda st: all(i in st for i in p.all_identities),
                                                     timeout=p.timeout) for s in self.sessions))  # fmt: skip
        if not all(everyone):
            raise LabError(f"not every participant saw all {len(p.all_identities)} in {p.timeout:g} s")
        wait_s = (start_coord_ns + p.offset_ns - time.time_ns()) / 1e9
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        t0 = time.monotonic()
        errors = 0

        async def churn(s: Session) -> None:
            nonlocal errors
            for k in range(p.changes):
                due = t0 + k / p.rate
                if due > time.monotonic():
                    await asyncio.sleep(due - time.monotonic())
                try:
                    await s.set_attributes({KEY: str(k)}, confirm=False)
                except Exception:  # counted: a refused or failed write is a result of the run
                    errors += 1

        await asyncio.gather(*(churn(s) for s in self.sessions))
        last_due = t0 + (p.changes - 1) / p.rate

        stale: list[str] = []

        async def settle(s: Session) -> float:
            ok = await s.wait_for(converged, timeout=p.settle_timeout)
            if not ok:  # say what this view lacked, so that a failure can be read
                missing = lacking(s.state, p.all_identities, KEY, final)
                stale.extend(f"{s.identity} saw {i} = {held}" for i, held in missing)
            return (time.monotonic() - last_due) * 1e3 if ok else math.nan

        times = await asyncio.gather(*(settle(s) for s in self.sessions))
        await self._stay_until_all_settled(deadline=last_due + p.settle_timeout)
        creds = p.credentials()
        async with ServerAPI(creds) as api:
            listed = {q.identity: q.attributes.get(KEY) for q in await api.list_participants(p.room)}
        server_final = all(listed.get(i) == final for i in p.identities)
        return ChurnReport(worker=p.worker, converged_ms=list(times), set_errors=errors, server_final=server_final,
                           stale=stale)  # fmt: skip

    async def _stay_until_all_settled(self, *, deadline: float) -> None:
        """Leave only once every participant, on every worker, has settled (or at the shared settle deadline).

        A worker whose views converged first used to leave at once, taking its participants out of the views still
        settling on a slower worker: those could then never converge (two CI runs on a busy host: the slow worker's
        views had the fast worker's participants "absent", and the server's log showed them leaving). Each
        participant says it has settled with an attribute; the deadline is the same on every worker (`last_due` is
        on the shared schedule), so a view that never converges holds the others up to it and no further.
        """
        p = self.plan
        for s in self.sessions:
            await s.set_attributes({DONE: "1"}, confirm=False)

        def all_settled(state: Any) -> bool:
            return not lacking(state, p.all_identities, DONE, "1")

        remaining = deadline - time.monotonic()
        if remaining > 0:
            await asyncio.gather(*(s.wait_for(all_settled, timeout=remaining) for s in self.sessions))

    async def close(self) -> None:
        for s in self.sessions:
            with contextlib.suppress(Exception):
                await s.leave()


async def measure_attributes_at_scale(
    *,
    participants: Sequence[int],
    rate: float = 1.0,
    duration: float = 5.0,
    cluster: ClusterLike = "local",
    workers: int = 2,
    credentials: Credentials | None = None,
    settle_timeout: float = 30.0,
) -> list[AttributeScaleRow]:
    """One row per N in `participants`: N participants over the cluster's workers, each changing `lab.v` at
    `rate`/s for `duration` s."""
    if rate <= 0 or duration <= 0 or any(n < 2 for n in participants):
        raise LabError("rate and duration must be positive and every N at least 2")
    changes = max(1, round(rate * duration))
    creds = credentials or await asyncio.to_thread(resolve_credentials)
    if creds is None:
        raise LabError("no LiveKit server: set LIVEKIT_URL or pass credentials")
    out: list[AttributeScaleRow] = []
    async with AsyncExitStack() as stack:
        client = await cluster_client(stack, cluster, workers=workers)
        names = await asyncio.to_thread(check_workers, client)
        for n in participants:
            clocks = await asyncio.to_thread(measure_clocks, client, names)
            tag = secrets.token_hex(4)
            room = f"lk-lab-attrs-{tag}"
            ids = [f"lab-attrs-{tag}-{i}" for i in range(n)]
            timeout = 60.0 + 2.0 * math.ceil(n / len(names))
            plans = {
                w: ChurnPlan(creds.url, creds.api_key, creds.api_secret, room, tag, tuple(ids[k :: len(names)]),
                             tuple(ids), rate, changes, w, clocks[w].estimate.offset_ns, timeout, settle_timeout)
                for k, w in enumerate(names) if ids[k :: len(names)]
            }  # fmt: skip
            reports = await run_tasks(client, tag, run_attribute_churn, plans, timeout, changes / rate + settle_timeout)
            out.append(_row(n, rate, changes, reports))
    return out


def _row(n: int, rate: float, changes: int, reports: dict[str, Any]) -> AttributeScaleRow:
    ok = [r for r in reports.values() if isinstance(r, ChurnReport)]
    done = sorted(t for r in ok for t in r.converged_ms if not math.isnan(t))
    return {
        "participants": n,
        "rate": rate,
        "changes": changes,
        "updates_s": n * rate,
        "converged_p50_ms": done[len(done) // 2] if done else math.nan,
        "converged_max_ms": done[-1] if done else math.nan,
        "not_converged": n - len(done),
        "set_errors": sum(r.set_errors for r in ok),
        "failed_workers": ", ".join(f"{w}: {r}" for w, r in reports.items() if isinstance(r, str)),
        "server_final": bool(ok) and len(ok) == len(reports) and all(r.server_final for r in ok),
        "stale_views": "; ".join([v for r in ok for v in r.stale][:STALE_SHOWN]),
    }
