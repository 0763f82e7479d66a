"""run_sync: synchronous code (an ipywidgets.interact callback, a plain helper) runs lk_notebook coroutines to
completion on the kernel's running loop. Tested the way users hit it: "Run All" of a notebook in a real kernel
(nbclient), with a peer in this process that must see what the callbacks set (the server applied it)."""

from __future__ import annotations

import sys

import nbformat
import pytest
from nbclient import NotebookClient

import lk_notebook as lk
from lk_notebook import run_sync

from .conftest import eventually

pytestmark = pytest.mark.server

CELLS = [
    """
import os
import ipywidgets as w
import lk_notebook as lk
from lk_notebook import run_sync

session = await lk.join(os.environ["LK_TEST_ROOM"], identity="sync-user")
""",
    """
seen = []

def set_mood(mood):
    # A plain (not async) callback: it cannot await, and asyncio.run would refuse (the kernel's loop is running).
    run_sync(session.set_attributes({"mood": mood}))  # returns once the server has confirmed the change
    seen.append(session.state.local.attributes["mood"])

ui = w.interact(set_mood, mood=["happy", "busy"])   # interact calls set_mood("happy") at once
assert seen == ["happy"], seen
""",
    """
ui.widget.children[0].value = "busy"                 # what a click in the dropdown does: the callback runs again
assert seen == ["happy", "busy"], seen
""",
    """
def who_is_here():                                    # a helper a user writes without async
    return sorted(p.identity for p in run_sync(session.admin.list_participants(session.room_name)))

assert "sync-user" in who_is_here() and "sync-peer" in who_is_here(), who_is_here()
try:
    run_sync(session.set_attributes)                  # the function, not a call: a clear error, kernel alive
except lk.InvalidInputError as exc:
    assert "coroutine" in str(exc)
else:
    raise AssertionError("no error for a non-coroutine")
import asyncio
try:
    run_sync(asyncio.sleep(5), timeout=0.2)
except (TimeoutError, asyncio.TimeoutError):
    pass
else:
    raise AssertionError("no timeout")
""",
    """
run_sync(session.leave())
assert session.closed
""",
]


async def test_run_sync_from_interact_callbacks_with_run_all(room_name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    peer = await lk.join(room_name, identity="sync-peer")
    # The kernel's mood as the peer saw it after each event (a join can already carry "happy" if it reached the
    # peer after the first change; either way the peer sees happy, then busy).
    moods: list[str | None] = []

    def note(_event: object) -> None:
        user = peer.state.get("sync-user")
        mood = user.attributes.get("mood") if user is not None else None
        if mood is not None and (not moods or moods[-1] != mood):
            moods.append(mood)

    peer.state.subscribe(note)
    try:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c.strip()) for c in CELLS])
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        monkeypatch.setenv("LK_TEST_ROOM", room_name)  # the kernel inherits this process's environment
        # ~10 s measured for the five cells (kernel start included); x6 for a loaded 2-core machine.
        client = NotebookClient(nb, timeout=60, kernel_name="python3", allow_errors=False)
        await client.async_execute()
        # An independent participant saw the callbacks' changes, in order, and the kernel's session left.
        assert moods == ["happy", "busy"], moods
        await eventually(lambda: "sync-user" not in peer.state, timeout=10, what="the kernel's session left")
    finally:
        await peer.leave()


def test_run_sync_outside_a_running_loop_is_asyncio_run() -> None:
    async def add(a: int, b: int) -> int:
        return a + b

    assert run_sync(add(2, 3)) == 5
    with pytest.raises(lk.InvalidInputError, match="coroutine"):
        run_sync(add)  # type: ignore[arg-type]
    assert sys.modules.get("nest_asyncio") is None  # the archived package is never imported
