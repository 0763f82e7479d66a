"""One worker's side of a packet run, without a cluster or a server (its handlers called directly). Issue 20: CI
once counted 99 of 100 reliable messages at a receiver on another worker, with no impairment. A worker installed
its receivers' recorders only when its own loop woke at the shared start, so a probe from a sender whose worker woke
earlier (or whose clock offset put its start a few ms sooner) found no recorder and was dropped uncounted."""

from __future__ import annotations

import asyncio
import time

from lk_notebook.events import DataKind
from lk_notebook.lab.dask_worker import SenderPlan, WorkerPlan, _Participants
from lk_notebook.lab.probe import Mode, ProbeCodec

RUN_ID = 7


def _receiving_worker() -> WorkerPlan:
    """A worker with one receiver whose only sender runs on another worker; one message is due."""
    sender = SenderPlan("s0", RUN_ID, "tcp://elsewhere", 0, "other-boot")
    return WorkerPlan(url="ws://unused", api_key="k", api_secret="secret", room="r", tag="t", mode="reliable",
                      size=64, rate=None, duration=None, count=1, senders=(sender,), receivers=("r0",),
                      all_receivers=("r0",), worker="tcp://here", offset_ns=0, boot_id="boot",
                      shared_host_clock=False, timeout=30.0)  # fmt: skip


async def test_a_probe_that_arrives_before_this_workers_start_is_counted() -> None:
    side = _Participants(_receiving_worker())
    on_data = side._handler("r0")
    start_ns = time.time_ns() + 400_000_000
    run = asyncio.create_task(side.run(start_ns))
    await asyncio.sleep(0.1)  # this worker's loop has not reached the start; the sender's worker already sent
    on_data(ProbeCodec(run_id=RUN_ID, mode=Mode.RELIABLE, size=64).encode(0), "s0", DataKind.RELIABLE, 0.0)
    # counted, the drain sees the one message due and ends at once; lost, it gives up after HARD_DRAIN_S (20 s)
    report = await asyncio.wait_for(run, 40.0)
    ((identity, (stats,)),) = report.receivers
    assert identity == "r0" and stats.seq.unique == 1 and report.start_late_ms >= 0.0
