"""Owned background tasks: strong references, cancellation on close, and no swallowed exceptions.

asyncio keeps only weak references to tasks, so a fire-and-forget task can vanish mid-flight; and an exception in
one is otherwise only printed when it is garbage-collected, if ever. Every background task in lk_notebook is
created through a `TaskOwner`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["TaskOwner"]

log = logging.getLogger("lk_notebook")
T = TypeVar("T")
ErrorHandler = Callable[[str, BaseException], None]


class TaskOwner:
    """Creates tasks, keeps them alive, reports their failures, and cancels them all on `aclose()`.

    Example::

        owner = TaskOwner("table", on_error=lambda where, exc: panel.show_error(exc))
        owner.spawn(render_loop(), name="render")
        ...
        await owner.aclose()
    """

    def __init__(self, owner: str, *, on_error: ErrorHandler | None = None) -> None:
        self.owner = owner
        self._on_error = on_error
        self._tasks: set[asyncio.Task[Any]] = set()
        self.closed = False

    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        """Start `coro` as a task owned by this object."""
        if self.closed:
            coro.close()
            raise RuntimeError(f"{self.owner} is closed; it cannot start {name!r}")
        task = asyncio.get_running_loop().create_task(coro, name=f"{self.owner}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is None:
            return
        log.error("background task %s failed: %r", task.get_name(), exc, exc_info=exc)
        if self._on_error is not None:
            try:
                self._on_error(task.get_name(), exc)
            except Exception:
                log.exception("error handler of %s failed", self.owner)

    def __len__(self) -> int:
        return len(self._tasks)

    async def aclose(self) -> None:
        """Cancel every task and wait until they have finished. Idempotent."""
        self.closed = True
        tasks = [t for t in self._tasks if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
