"""Builders of the parts of a `ResultRow` that every mode fills the same way.

Packets and data tracks (`run.py`) and streams and RPC (`transfer.py`) differ in how they send, count datagrams
and compute theory; what was asked, what arrived, latency and the calibration verdict are built here, once.

Example::

    row: ResultRow = {
        **settings_columns(run_id, mode, size, rate, send_s, impairment),
        **delivery_columns(stats, sent=sent, due=sent, errors=0, backpressure=0, drained=True, t0=t0,
                           send_end=send_end),
        **latency_columns(stats.latency, clock="monotonic"),
        **evidence_columns(evidence, send_ratio=1.0, held_by_path_s=0.0, send_s=send_s),
        ...                                   # the mode's own path and shape columns
    }
"""

from __future__ import annotations

import math

from .calibration import ClientEvidence, classify
from .clocks import trusted
from .probe import Mode
from .relay import Impairment
from .rows import DeliveryColumns, EvidenceColumns, LatencyColumns, SettingsColumns
from .stats import LatencyHistogram, ReceiverStats

__all__ = ["delivery_columns", "evidence_columns", "latency_columns", "settings_columns"]


def settings_columns(
    run_id: int, mode: Mode, size: int, rate: float | None, send_s: float, impairment: Impairment
) -> SettingsColumns:
    return {
        "run_id": f"{run_id:016x}",
        "mode": mode.value,
        "size": size,
        "rate": float(rate) if rate is not None else None,
        "duration_s": round(send_s, 4),
        "impairment": impairment.label(),
        "loss_setting": impairment.loss,
        "delay_setting": impairment.delay_ms,
        "jitter_setting": impairment.jitter_ms,
        "bandwidth_kbps_setting": impairment.rate_kbps,
    }


def delivery_columns(
    stats: ReceiverStats,
    *,
    sent: int,
    due: int,
    errors: int,
    backpressure: int,
    drained: bool,
    t0: int,
    send_end: int,
) -> DeliveryColumns:
    """`due`: deliveries owed (sent x receivers). Rates over the send time (offered) and the arrival span."""
    unique = stats.seq.unique
    send_s = max(1e-9, (send_end - t0) / 1e9)
    span = max(1e-9, ((stats.last_ns or send_end) - t0) / 1e9)
    lost = max(0, due - unique)
    return {
        "sent": sent,
        "send_errors": errors,
        "backpressure": backpressure,
        "received": unique,
        "lost": lost,
        "drained": drained,
        "loss_rate": lost / due if due else math.nan,
        "duplicates": stats.seq.duplicates,
        "out_of_order": stats.seq.out_of_order,
        "too_old": stats.seq.too_old,
        "offered_msgs_s": sent / send_s,
        "throughput_msgs_s": unique / span,
        "throughput_bytes_s": stats.bytes / span,
    }


def latency_columns(lat: LatencyHistogram, *, clock: str, bound_ms: float = 0.0) -> LatencyColumns:
    """`bound_ms`: how far the clocks behind the latencies may disagree (0 on one process's or host's clock)."""
    p50 = lat.percentile(50)
    return {
        "latency_p50_ms": p50,
        "latency_p95_ms": lat.percentile(95),
        "latency_p99_ms": lat.percentile(99),
        "latency_max_ms": lat.max_ns / 1e6 if lat.count else math.nan,
        "latency_mean_ms": lat.mean(),
        "clock": clock,
        "latency_bound_ms": bound_ms,
        "latency_trusted": trusted(bound_ms=bound_ms, p50_ms=p50),
    }


def evidence_columns(
    evidence: ClientEvidence,
    *,
    send_ratio: float | None,
    held_by_path_s: float,
    send_s: float,
    wire_ratio: float | None = None,
    lossy_path: bool = False,
    latency_p50_ms: float = math.nan,
) -> EvidenceColumns:
    """The verdict (`classify`) and the evidence it weighed. `evidence` is the receiving process's too (the
    receivers run in it, or on the Dask worker whose evidence it is), so its lag and CPU are the receivers'."""
    bound, reason = classify(
        evidence,
        send_ratio=send_ratio,
        held_fraction=held_by_path_s / max(1e-9, send_s),
        wire_ratio=wire_ratio,
        lossy_path=lossy_path,
        latency_p50_ms=latency_p50_ms,
    )
    return {
        "bound": bound,
        "bound_reason": reason,
        "send_ratio": send_ratio,
        "held_by_path_s": round(held_by_path_s, 4),
        "loop_lag_p99_ms": evidence.loop_lag_p99_ms,
        "loop_cpu": round(evidence.loop_cpu, 4),
        "process_cpu": round(evidence.process_cpu, 4),
        "host_cpu": round(evidence.host_cpu, 4),
        "host_udp_drops": evidence.host_udp_drops,
        "udp_drops_where": evidence.udp_drops_where,
        "receiver_loop_lag_p99_ms": evidence.loop_lag_p99_ms,
        "receiver_cpu": round(evidence.process_cpu, 4),
    }
