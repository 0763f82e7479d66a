"""`Results.per_receiver_frame` and `Results.extend`: pure data, built from hand-made runs (no server)."""

from __future__ import annotations

from typing import Any, cast

from lk_notebook.lab.packets import PeerStats, RunResult
from lk_notebook.lab.rows import ResultRow
from lk_notebook.lab.stats import ReceiverStats
from lk_notebook.lab.sweep import Results


def _run(run_id: str, *, receivers: int, per_receiver: list[PeerStats]) -> RunResult:
    row = cast(
        ResultRow,
        {
            "run_id": run_id,
            "mode": "reliable",
            "size": 200,
            "rate": 50.0,
            "receivers": receivers,
            "senders": 1,
            "impairment": "none",
            "sent": 100,
            "received": 100 * receivers,
        },
    )
    return RunResult(
        row=row,
        series=[(0.0, 10, 2000)],
        bin_width=0.1,
        stats=ReceiverStats(t0_ns=0),
        per_receiver=per_receiver,
    )


def _peer(identity: str, received: int, p50: float) -> PeerStats:
    return {"identity": identity, "role": "receiver", "sent": 100, "received": received,
            "loss_rate": 1 - received / 100, "latency_p50_ms": p50, "latency_p95_ms": 2 * p50,
            "latency_p99_ms": 3 * p50}  # fmt: skip


def test_per_receiver_frame_has_a_row_per_receiver_with_its_runs_settings() -> None:
    fan = _run("r7", receivers=2, per_receiver=[_peer("r0", 100, 4.0), _peer("r1", 90, 6.0)])
    single = _run("r8", receivers=1, per_receiver=[])  # a one-to-one run has no per-receiver rows
    frame = Results(runs=[fan, single]).per_receiver_frame()
    assert list(frame.identity) == ["r0", "r1"]
    assert set(frame.run_id) == {"r7"} and set(frame["mode"]) == {"reliable"} and set(frame["receivers"]) == {2}
    by: dict[str, Any] = frame.set_index("identity").to_dict("index")
    assert by["r1"]["received"] == 90 and abs(by["r1"]["loss_rate"] - 0.1) < 1e-12
    assert by["r0"]["latency_p50_ms"] == 4.0 and by["r0"]["rate"] == 50.0 and by["r0"]["senders"] == 1
    assert Results().per_receiver_frame().empty


def test_extend_appends_the_other_results_runs_in_order() -> None:
    a = Results(runs=[_run("r1", receivers=1, per_receiver=[])])
    b = Results(
        runs=[_run("r2", receivers=2, per_receiver=[_peer("r0", 100, 3.0)]), _run("r3", receivers=1, per_receiver=[])]
    )
    a.extend(b)
    assert [r.row["run_id"] for r in a.runs] == ["r1", "r2", "r3"]
    assert list(a.frame.run_id) == ["r1", "r2", "r3"] and len(a.series) == 3
    assert list(a.per_receiver_frame().run_id) == ["r2"]
    assert [r.row["run_id"] for r in b.runs] == ["r2", "r3"]  # the other is left as it was
    a.extend(Results())
    assert len(a.runs) == 3
