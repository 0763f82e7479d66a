"""Run an lk_notebook coroutine to completion from plain synchronous code, on the kernel's running loop.

Cells can `await` directly. Some code cannot: an `ipywidgets.interact` callback, an `observe` handler, a helper
function a user writes without `async`. They run *inside* the kernel's event loop (called from a cell or a comm
message), so they can neither `await` nor call `asyncio.run` (the loop is already running), and the session's
`rtc.Room` is bound to that loop, so the coroutine cannot move to another thread's loop either. `run_sync` makes
the running loop re-entrant with `nest-asyncio2` (the maintained fork; never the archived `nest-asyncio`) and runs
the coroutine on it until it finishes: the SDK's events keep flowing meanwhile.

Example::

    from ipywidgets import interact
    from lk_notebook import run_sync

    @interact(mood=["happy", "busy"])
    def set_mood(mood):
        run_sync(session.set_attributes({"mood": mood}))     # waits for the server's confirmation

Keep it for short calls: while it waits, the cell that triggered it waits too. Outside a running loop (a script)
it is `asyncio.run`: each call makes a new loop and closes it, so a session joined by one `run_sync` call cannot
be used by the next (the SDK delivers the server's answers to the loop the session joined on). The next call
raises EventLoopError saying so; in scripts write `asyncio.run(main())` and `await` inside `main`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from .errors import InvalidInputError

__all__ = ["run_sync"]

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run `coro` to completion and return its result (or raise its exception), from synchronous code.

    Raises:
        InvalidInputError: `coro` is not a coroutine (e.g. the function itself, not its call).
        TimeoutError: it did not finish within `timeout` seconds (then it is cancelled).
    """
    if not asyncio.iscoroutine(coro):
        raise InvalidInputError(
            f"run_sync needs a coroutine such as session.set_attributes({{...}}), not {type(coro).__name__}"
        )
    awaitable: Coroutine[Any, Any, T] = asyncio.wait_for(coro, timeout) if timeout is not None else coro
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        loop = None
    if loop is None:
        return asyncio.run(awaitable)  # a script: nothing is running, so nothing needs re-entry
    import nest_asyncio2

    nest_asyncio2.apply(loop)  # idempotent; patches this loop (and asyncio.run) to allow re-entry
    return loop.run_until_complete(awaitable)
