"""Polling an async API from a view that has no Session: one owned task, a steady pace, back-off on failure.

The pattern for views such as the room browser and the API-only observer:

- `Poller(fetch, on_result, on_error)` owns one task (through `TaskOwner`) that awaits `fetch()` on the kernel's
  loop, hands the result to `on_result` (quick: update a model, mark a view dirty) and sleeps. The kernel is never
  blocked: every wait is an `await`.
- The pace is `Backoff`, pure and testable: `interval` while calls succeed (stretched to `slow_factor` times the
  last call's duration when the server is slow, so a big deployment is not hammered), doubling up to
  `max_interval` while they fail, back to `interval` after the next success.
- `refresh()` wakes the task at once (a Refresh button, a click); `close()` cancels it. A failure goes to `on_error`
  (the view's error line) and polling continues: a server that comes back is picked up again.

Example::

    poller = Poller(admin.list_rooms, on_result=view.show_rooms, on_error=view.show_error, interval=1.0)
    poller.start()
    ...
    await poller.aclose()
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from ._tasks import TaskOwner

__all__ = ["Backoff", "Poller"]

T = TypeVar("T")


class Backoff:
    """When to poll next. Pure: told how each call went, it answers with the delay before the next one."""

    def __init__(
        self, *, interval: float = 1.0, max_interval: float = 30.0, factor: float = 2.0, slow_factor: float = 5.0
    ) -> None:
        if interval <= 0 or max_interval < interval or factor <= 1 or slow_factor <= 0:
            raise ValueError("need 0 < interval <= max_interval, factor > 1, slow_factor > 0")
        self.interval = interval
        self.max_interval = max_interval
        self.factor = factor
        self.slow_factor = slow_factor
        self.failures = 0
        """Consecutive failed calls (0 after a success)."""

    def succeeded(self, duration: float) -> float:
        self.failures = 0
        return min(self.max_interval, max(self.interval, self.slow_factor * duration))

    def failed(self) -> float:
        self.failures += 1
        return min(self.max_interval, self.interval * self.factor**self.failures)


class Poller(Generic[T]):
    """One owned task calling `fetch()` at the pace `Backoff` sets, until closed.

    `on_result(value)` after each success, `on_error(exc)` after each failure; both run on the loop and must be
    quick. `last_duration` is the last call's duration in seconds, `calls` how many were made.
    """

    def __init__(
        self,
        fetch: Callable[[], Awaitable[T]],
        *,
        on_result: Callable[[T], None],
        on_error: Callable[[BaseException], None],
        name: str = "poller",
        backoff: Backoff | None = None,
        interval: float = 1.0,
        max_interval: float = 30.0,
    ) -> None:
        self._fetch = fetch
        self._on_result = on_result
        self._on_error = on_error
        self.name = name
        self.backoff = backoff or Backoff(interval=interval, max_interval=max(max_interval, interval))
        self.tasks = TaskOwner(name, on_error=lambda _where, exc: on_error(exc))
        self.calls = 0
        """Calls started."""
        self.completed = 0
        """Calls whose outcome has been handed to `on_result` / `on_error`."""
        self.last_duration = 0.0
        self.next_delay = 0.0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> bool:
        """Start polling on the running loop (now, then at the set pace). False when no loop runs."""
        if self.running or self.tasks.closed:
            return self.running
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._wake = asyncio.Event()
        self._task = self.tasks.spawn(self._loop(), name="poll")
        return True

    def refresh(self) -> None:
        """Poll again now instead of at the next tick."""
        if self._wake is not None:
            self._wake.set()

    async def poll_once(self) -> T:
        """One call, timed, with its outcome handed to the callbacks; returns the value or raises."""
        start = time.perf_counter()
        self.calls += 1
        try:
            value = await self._fetch()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.last_duration = time.perf_counter() - start
            self.next_delay = self.backoff.failed()
            self.completed += 1
            self._on_error(exc)
            raise
        self.last_duration = time.perf_counter() - start
        self.next_delay = self.backoff.succeeded(self.last_duration)
        self.completed += 1
        self._on_result(value)
        return value

    async def _loop(self) -> None:
        assert self._wake is not None
        while not self.tasks.closed:
            try:
                await self.poll_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # reported through on_error; keep polling at the backed-off pace
                pass
            self._wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):  # the normal end of a wait: time to poll
                await asyncio.wait_for(self._wake.wait(), self.next_delay)

    def close(self) -> None:
        """Stop polling (needs no await)."""
        self.tasks.closed = True
        if self._task is not None:
            self._task.cancel()

    async def aclose(self) -> None:
        self.close()
        await self.tasks.aclose()
