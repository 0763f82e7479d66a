"""The coordinator's rows from workers' reports (pure: built reports, no cluster). Issue 19: a row whose
receivers were at ease while the worker that ran its sender was saturated must say client-bound, naming that
worker and its evidence (bench/scale.py's 1 -> 1 shape said `path` from the receivers' worker alone)."""

from __future__ import annotations

import dataclasses

from lk_notebook.lab.calibration import ClientEvidence
from lk_notebook.lab.clocks import ClockEstimate, WorkerClock
from lk_notebook.lab.dask_rows import results
from lk_notebook.lab.dask_worker import SenderPlan, WorkerPlan, WorkerReport
from lk_notebook.lab.impairment import Impairment
from lk_notebook.lab.pacing import SendCounters
from lk_notebook.lab.probe import Mode
from lk_notebook.lab.spec import RunSpec
from lk_notebook.lab.stats import ReceiverStats

CALM = ClientEvidence(wall_s=3, loop_cpu=0.2, process_cpu=0.3, host_cpu=0.5, loop_lag_p99_ms=3.0, loop_lag_p90_ms=2.0)
SATURATED = dataclasses.replace(CALM, loop_cpu=0.97, process_cpu=1.2, loop_lag_p99_ms=9.0)


def _plans(rate: float | None) -> tuple[RunSpec, list[WorkerPlan]]:
    spec = RunSpec(Mode.RELIABLE, 200, rate, 3.0, None, Impairment())
    sender = SenderPlan("s0", 7, "tcp://w0", 0, "boot")
    common = dict(url="ws://x", api_key="k", api_secret="secret", room="r", tag="t", mode="reliable", size=200,
                  rate=rate, duration=3.0, count=None, senders=(sender,), all_receivers=("r0",), offset_ns=0,
                  boot_id="boot", shared_host_clock=True, timeout=30.0)  # fmt: skip
    return spec, [
        WorkerPlan(**common, receivers=(), worker="tcp://w0"),  # type: ignore[arg-type]
        WorkerPlan(**common, receivers=("r0",), worker="tcp://w1"),  # type: ignore[arg-type]
    ]


def _report(worker: str, evidence: ClientEvidence, sent: int | None) -> WorkerReport:
    receivers = [] if sent is not None else [("r0", [ReceiverStats(t0_ns=1)])]
    return WorkerReport(worker=worker, receivers=receivers, sent={7: SendCounters(sent=sent)} if sent else {},
                        send_s=3.0, evidence=evidence, wall_clock=False, start_late_ms=0.0)  # fmt: skip


def _row(spec: RunSpec, plans: list[WorkerPlan], sender: ClientEvidence | str, sent: int = 1800) -> dict[str, object]:
    clocks = {p.worker: WorkerClock(p.worker, ClockEstimate(0, 10_000, 20_000, 8), "boot") for p in plans}
    reports: dict[str, WorkerReport | str] = {
        "tcp://w0": sender if isinstance(sender, str) else _report("tcp://w0", sender, sent),
        "tcp://w1": _report("tcp://w1", CALM, None),
    }
    (run,) = results(spec, plans, clocks, reports)
    return dict(run.row)


def test_a_saturated_sending_worker_makes_the_row_client_bound_and_says_which() -> None:
    spec, plans = _plans(None)
    calm = _row(spec, plans, CALM)
    assert calm["worker"] == "tcp://w1" and calm["bound"] == "path", calm["bound_reason"]
    assert calm["sender_loop_cpu"] == 0.2
    busy = _row(spec, plans, SATURATED)
    assert busy["bound"] == "client"
    assert busy["bound_reason"] == (
        "the sending worker tcp://w0: its event-loop thread was busy 97% of the time; the sending worker tcp://w0: "
        "its process used 1.20 CPU seconds per second (SDK threads and loop)"
    )
    # the SDK's threads alone at their limit, the loop at ease: still the sending process's limit
    native = _row(spec, plans, dataclasses.replace(CALM, process_cpu=0.95))
    assert native["bound"] == "client" and "its process used 0.95 CPU seconds" in str(native["bound_reason"])
    assert (busy["sender_loop_cpu"], busy["sender_loop_lag_p99_ms"], busy["sender_cpu"]) == (0.97, 9.0, 1.2)
    assert (busy["loop_cpu"], busy["receiver_cpu"]) == (0.2, 0.3)  # the receivers' own evidence is kept beside it


def test_a_sending_worker_behind_its_rate_or_failed_is_named() -> None:
    spec, plans = _plans(100.0)
    assert _row(spec, plans, CALM, sent=297)["bound"] == "path"  # 99 % of 100/s for 3 s
    behind = _row(spec, plans, CALM, sent=150)
    assert behind["bound"] == "client"
    assert behind["bound_reason"] == "the sending worker tcp://w0: offered 50% of the requested rate"
    failed = _row(spec, plans, "failed: the worker left the cluster mid-run")
    assert failed["bound"] == "client"
    assert failed["bound_reason"] == "the sending worker tcp://w0 failed: the worker left the cluster mid-run"


def test_attribute_rows_say_what_a_stale_view_lacked() -> None:
    import math

    from lk_notebook.lab.dask_attributes import STALE_SHOWN, ChurnReport, _row

    stale = [f"p{k} saw p9 = '1'" for k in range(STALE_SHOWN + 2)]
    lagging = ChurnReport(worker="w0", converged_ms=[5.0, math.nan], set_errors=0, server_final=True, stale=stale)
    row = _row(4, 2.0, 3, {"w0": lagging, "w1": "failed: the worker died"})
    assert row["not_converged"] == 3 and row["failed_workers"] == "w1: failed: the worker died"
    assert row["stale_views"] == "; ".join(stale[:STALE_SHOWN])  # the first few, in order
    calm = ChurnReport(worker="w0", converged_ms=[5.0, 6.0], set_errors=0, server_final=True, stale=[])
    assert _row(2, 2.0, 3, {"w0": calm})["stale_views"] == ""
