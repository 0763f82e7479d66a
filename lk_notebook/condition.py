"""Waiting for a condition on a model that calls back on each change: one loop for `RoomState` and `AgentView`.

Pure: asyncio only, no I/O.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

__all__ = ["wait_until_true"]


async def wait_until_true(
    check: Callable[[], bool],
    subscribe: Callable[[Callable[[], None]], Callable[[], None]],
    *,
    timeout: float,
) -> bool:
    """Wait until `check()` is true, checked now and after every change `subscribe` reports. False on timeout.

    An exception from `check` ends the wait with that exception, whether the first check raises it or one after a
    change does. (A subscriber's exception would only be logged: the same check would then fail at once in one run
    and time out in the next, depending on when the model caught up.)
    """
    if check():
        return True
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_change() -> None:
        if done.done():
            return
        try:
            if check():
                done.set_result(None)
        except Exception as exc:
            done.set_exception(exc)

    unsubscribe = subscribe(on_change)
    try:
        await asyncio.wait_for(done, timeout)
        return True
    except asyncio.TimeoutError:
        return check()
    finally:
        unsubscribe()
