"""An answer a handler gave just before its session leaves still reaches the caller (real livekit-server).

The SDK hands a handler's answer to its native layer, which publishes it from its own thread; a disconnect in
between lost it: the native core logged "Failed to publish RPC error response: ... SendError" and the caller got
no answer (CI once, under load, `tests/newuser/task_5_rpc.py`). Amplified here: the callee leaves the moment its
handler's record ends, from the RPC callback itself."""

from __future__ import annotations

import asyncio

import pytest

import lk_notebook as lk
from lk_notebook.events import RpcRecord

from .conftest import Sessions


def fails(call: object) -> str:
    raise KeyError("8")


async def test_an_answer_given_just_before_leaving_reaches_the_caller(
    sessions: Sessions, room_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = await sessions.two(room_name)
    bob.register_rpc_method("lookup", fails)
    left: list[asyncio.Task[None]] = []

    def leave_at_once(record: RpcRecord) -> None:
        if not record.outgoing and not record.pending and not left:
            left.append(asyncio.ensure_future(bob.leave()))

    bob.on_rpc(leave_at_once)
    with pytest.raises(lk.RpcError) as raised:
        await alice.perform_rpc("bob", "lookup", '{"id": "8"}', timeout=5)
    await asyncio.gather(*left)
    # the handler's own answer (1500 with its exception), not a disconnect (1503) or a timeout (1502)
    assert raised.value.code == 1500 and "KeyError" in str(raised.value), raised.value
    assert not [r.getMessage() for r in caplog.records if "Failed to publish RPC" in r.getMessage()]


def test_leave_waits_only_after_an_answer_this_session_gave() -> None:
    from lk_notebook.rpc import ANSWER_GRACE_S, answer_grace

    def record(*, outgoing: bool, finished_at: float | None) -> RpcRecord:
        return RpcRecord(call_id=1, outgoing=outgoing, method="m", caller="a", callee="b", payload="",
                         started_at=0.0, finished_at=finished_at)  # fmt: skip

    assert answer_grace([], now=100.0) == 0.0
    assert answer_grace([record(outgoing=False, finished_at=99.9)], now=100.0) == pytest.approx(ANSWER_GRACE_S - 0.1)
    assert answer_grace([record(outgoing=False, finished_at=90.0)], now=100.0) == 0.0  # long ago
    assert answer_grace([record(outgoing=False, finished_at=None)], now=100.0) == 0.0  # still running: no answer yet
    assert answer_grace([record(outgoing=True, finished_at=99.9)], now=100.0) == 0.0  # a call it made: nothing to send
