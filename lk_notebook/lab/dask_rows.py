"""The coordinator's rows from the Dask workers' reports: one `ResultRow` per worker that ran receivers.

A row's deliveries and latency are its receivers'; its verdict (`bound`) weighs the process they ran in (the
worker's loop lag and CPU, `calibration.classify`) and every worker that ran the row's senders
(`calibration.sending_reasons`): with the sender on one worker and the receivers on another, the sending loop can
set the pace while the receiving worker is at ease, and only the sender's own evidence says so.
"""

from __future__ import annotations

import math
from collections import defaultdict

from .calibration import ClientEvidence, sending_reasons
from .clocks import ClockEstimate, WorkerClock, clock_label
from .columns import delivery_columns, evidence_columns, latency_columns, settings_columns
from .dask_worker import SenderPlan, WorkerPlan, WorkerReport
from .fan import merge_stats, peer_stats
from .pacing import SendCounters
from .packets import PeerStats, RunResult
from .rig import TOPIC
from .rows import NO_SERVER_LOG, LatencyColumns, RelayColumns, ResultRow
from .spec import RunSpec
from .stats import ReceiverStats
from .theory import datagrams_per_message

__all__ = ["PATH", "WorkerPeerStats", "results"]

_NO_RELAY: RelayColumns = {}
PATH = "direct (Dask workers; no relay: unimpaired only)"


class WorkerPeerStats(PeerStats, total=False):
    worker: str


def results(
    spec: RunSpec, plans: list[WorkerPlan], clocks: dict[str, WorkerClock], reports: dict[str, WorkerReport | str]
) -> list[RunResult]:
    """One RunResult per plan with receivers: measured, or marked failed when its worker's report is why (a str)."""
    ok = {w: r for w, r in reports.items() if isinstance(r, WorkerReport)}
    sent = {rid: c for r in ok.values() for rid, c in r.sent.items()}
    total_sent = sum(c.sent for c in sent.values())
    send_s = max([r.send_s for r in ok.values()] or [spec.duration or 0.0])
    out = []
    for plan in plans:
        if not plan.receivers:
            continue
        report = reports[plan.worker]
        clock = clocks[plan.worker].estimate
        if isinstance(report, str):
            out.append(_failed_result(spec, plan, clock, report, total_sent, send_s))
            continue
        out.append(_worker_result(spec, plan, clocks, report, reports, sent, total_sent, send_s))
    return out


def _send_ratio(spec: RunSpec, senders: list[SenderPlan], sent: dict[int, SendCounters], send_s: float) -> float | None:
    """Achieved / requested rate of `senders` together (None: no rate was requested, or no senders)."""
    if not spec.rate or not senders:
        return None
    done = sum(sent[s.run_id].sent for s in senders if s.run_id in sent)
    return done / max(1e-9, send_s) / (spec.rate * len(senders))


def _sending_side(
    spec: RunSpec,
    plan: WorkerPlan,
    reports: dict[str, WorkerReport | str],
    sent: dict[int, SendCounters],
    send_s: float,
) -> tuple[list[str], ClientEvidence | None]:
    """The other workers that ran this row's senders: why they set the pace (labelled by worker), and the busiest
    one's evidence (by process CPU; None when every sender ran on the row's own worker, whose evidence the row
    has already)."""
    by_worker: dict[str, list[SenderPlan]] = defaultdict(list)
    for s in plan.senders:
        if s.worker != plan.worker:
            by_worker[s.worker].append(s)
    reasons: list[str] = []
    busiest: ClientEvidence | None = None
    for worker, senders in sorted(by_worker.items()):
        report = reports.get(worker, "no report")
        if isinstance(report, str):
            reasons.append(f"the sending worker {worker} {report}")
            continue
        why = sending_reasons(report.evidence, send_ratio=_send_ratio(spec, senders, sent, send_s))
        reasons.extend(f"the sending worker {worker}: {r}" for r in why)
        if busiest is None or report.evidence.process_cpu > busiest.process_cpu:
            busiest = report.evidence
    return reasons, busiest


def _worker_result(
    spec: RunSpec, plan: WorkerPlan, clocks: dict[str, WorkerClock], report: WorkerReport,
    reports: dict[str, WorkerReport | str], sent: dict[int, SendCounters], total_sent: int, send_s: float,
) -> RunResult:  # fmt: skip
    parts = [s for _, stats in report.receivers for s in stats]
    t0 = parts[0].t0_ns
    merged = merge_stats(t0, spec.bin_width, parts)
    send_end = t0 + int(send_s * 1e9)
    own = [s for s in plan.senders if s.worker == plan.worker]
    mine = clocks[plan.worker].estimate
    exact = not report.wall_clock
    bound_ms = 0.0 if exact else max(clocks[s.worker].estimate.bound_ms + mine.bound_ms for s in plan.senders)
    p50 = merged.latency.percentile(50)
    label = clock_label(exact=exact, bound_ms=bound_ms, p50_ms=p50)
    row = _row(spec, plan, merged, t0, send_end, report.evidence, total_sent, send_s,
               _send_ratio(spec, own, sent, send_s), mine, "ok",
               latency=latency_columns(merged.latency, clock=label, bound_ms=round(bound_ms, 4)))  # fmt: skip
    row["start_late_ms"] = round(report.start_late_ms, 3)
    elsewhere, busiest = _sending_side(spec, plan, reports, sent, send_s)
    sender = busiest or report.evidence
    row["sender_loop_cpu"] = round(sender.loop_cpu, 4)
    row["sender_loop_lag_p99_ms"] = sender.loop_lag_p99_ms
    row["sender_cpu"] = round(sender.process_cpu, 4)
    if elsewhere:
        row["bound_reason"] = "; ".join(elsewhere + ([row["bound_reason"]] if row["bound"] == "client" else []))
        row["bound"] = "client"
    peers: list[PeerStats] = [_peer(i, plan.worker, total_sent, stats) for i, stats in report.receivers]
    return RunResult(row=row, series=merged.bins.series(until=send_s), bin_width=spec.bin_width, stats=merged,
                     per_receiver=peers)  # fmt: skip


def _failed_result(
    spec: RunSpec, plan: WorkerPlan, clock: ClockEstimate, why: str, total_sent: int, send_s: float
) -> RunResult:
    stats = ReceiverStats(t0_ns=0, bin_width=spec.bin_width)
    evidence = ClientEvidence(wall_s=0.0, loop_cpu=math.nan, process_cpu=math.nan, host_cpu=math.nan,
                              loop_lag_p99_ms=math.nan)  # fmt: skip
    row = _row(spec, plan, stats, 0, int(send_s * 1e9), evidence, total_sent, send_s, None, clock, why,
               latency=latency_columns(stats.latency, clock="none (the worker failed)"))  # fmt: skip
    row["drained"] = False
    row["bound"] = "client"  # the lab's own worker, not the path, ended this row
    row["bound_reason"] = f"no verdict: the worker {why}"
    return RunResult(row=row, series=[], bin_width=spec.bin_width, stats=stats)


def _row(
    spec: RunSpec, plan: WorkerPlan, stats: ReceiverStats, t0: int, send_end: int, evidence: ClientEvidence,
    total_sent: int, send_s: float, send_ratio: float | None, clock: ClockEstimate, status: str, *,
    latency: LatencyColumns,
) -> ResultRow:  # fmt: skip
    mode = spec.mode
    up, down = datagrams_per_message(spec.size, mode, topic=TOPIC, identity=plan.senders[0].identity)
    row: ResultRow = {
        **settings_columns(plan.senders[0].run_id, mode, spec.size, spec.rate, send_s, spec.impairment),
        **delivery_columns(stats, sent=total_sent, due=total_sent * len(plan.receivers), errors=0, backpressure=0,
                           drained=True, t0=t0, send_end=send_end),
        **latency,
        "datagrams_up": up,
        "datagrams_down": down,
        "legs": 0,
        "expected_loss": 0.0,
        "path": PATH,
        **evidence_columns(evidence, send_ratio=send_ratio, held_by_path_s=0.0, send_s=send_s,
                           latency_p50_ms=stats.latency.percentile(50)),
        "senders": len(plan.senders),
        "receivers": len(plan.receivers),
        "worker": plan.worker,
        "worker_status": status,
        "clock_offset_ms": round(clock.offset_ms, 4),
        "clock_bound_ms": round(clock.bound_ms, 4),
        "start_late_ms": math.nan,  # these three set from the worker's report when it has one
        "sender_loop_cpu": math.nan,
        "sender_loop_lag_p99_ms": math.nan,
        "sender_cpu": math.nan,
        **_NO_RELAY,
        **NO_SERVER_LOG,
    }  # fmt: skip
    return row


def _peer(identity: str, worker: str, due: int, parts: list[ReceiverStats]) -> WorkerPeerStats:
    return {**peer_stats(identity, "receiver", due, parts), "worker": worker}
