"""The plumbing every view shares: a dirty flag, one render task at a fixed rate, owned action tasks, inline errors.

Handlers only mark a view dirty; one render task per view pushes what changed at most `hz` times a second. Button
handlers run synchronously in the kernel, so the async session call they start is an owned task whose result or
exception is shown next to the widget (never swallowed). Closing a view, or the session leaving, stops its tasks.
"""

from __future__ import annotations

import asyncio
import html
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Protocol, TypeVar

import ipywidgets as w

from .._logging import scrub
from .._tasks import TaskOwner

__all__ = ["ErrorLine", "ErrorSink", "Live", "describe_error"]

log = logging.getLogger("lk_notebook.widgets")
T = TypeVar("T")


def describe_error(exc: BaseException) -> str:
    """`TypeName: message`, with anything token-shaped removed (errors can quote what the server said)."""
    text = str(exc) or repr(exc)
    return f"{type(exc).__name__}: {scrub(text)}"


class ErrorSink(Protocol):
    """Where a view shows what went wrong (an ErrorLine, or a widget with its own error display)."""

    def show_error(self, exc: BaseException, *, where: str = "") -> None: ...


class ErrorLine(w.HTML):  # type: ignore[misc]
    """One line under a form: the outcome of the last action (an error in red, or a short note)."""

    def __init__(self) -> None:
        super().__init__(value="")
        self.add_class("lk-error-line")
        self.last_error: BaseException | None = None

    def show_error(self, exc: BaseException, *, where: str = "") -> None:
        self.last_error = exc
        prefix = f"{html.escape(where)}: " if where else ""
        self.value = f'<span style="color:#b00020">⚠ {prefix}{html.escape(describe_error(exc))}</span>'

    def show_note(self, text: str) -> None:
        self.last_error = None
        self.value = f'<span style="color:#2e7d32">{html.escape(text)}</span>'

    def show_busy(self, text: str) -> None:
        self.value = f'<span style="color:#555">{html.escape(text)}</span>'

    def clear(self) -> None:
        self.last_error = None
        self.value = ""


class Live:
    """A view's life: `mark()` from handlers, `render` called by one owned task at `hz`, `run()` for actions.

    Example::

        live = Live("table", self._render, hz=6, errors=self.error_line)
        unsubscribe = state.subscribe(live.mark)
        live.start()
        ...
        live.close()
    """

    def __init__(
        self,
        name: str,
        render: Callable[[], None],
        *,
        hz: float = 6.0,
        errors: ErrorSink | None = None,
        is_finished: Callable[[], bool] | None = None,
        finished_error: Callable[[], BaseException] | None = None,
        poll: Callable[[], None] | None = None,
    ) -> None:
        if hz <= 0:
            raise ValueError("hz must be positive")
        self.name = name
        self.period = 1.0 / hz
        self.dirty = True
        self.renders = 0
        self.render_seconds = 0.0
        self.closed = False
        self._render = render
        self._errors = errors
        self._is_finished = is_finished
        self._finished_error = finished_error
        """Once finished (its session closed): shown in the view, and the reason every action is refused."""
        self._poll = poll
        """Called every tick before rendering: for sources that cannot notify (e.g. another thread's buffer)."""
        self.tasks = TaskOwner(name, on_error=self._task_failed)
        self._held: set[asyncio.Task[Any]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._cleanups: list[Callable[[], None]] = []

    # -- rendering ----------------------------------------------------------------------------------------------
    def mark(self, *_: object) -> None:
        """Note that something changed (cheap: safe to call per event)."""
        self.dirty = True

    def render_now(self) -> None:
        """Render at once if dirty (the render task does this on its own; tests and scripts call it directly)."""
        if not self.dirty:
            return
        self.dirty = False
        start = time.perf_counter()
        try:
            self._render()
        finally:
            self.renders += 1
            self.render_seconds += time.perf_counter() - start

    def stats(self, *, messages: int, bytes_sent: int) -> dict[str, float]:
        """A view's `stats`: renders done, the messages and bytes it sent to the browser, seconds spent rendering."""
        return {
            "renders": self.renders,
            "messages": messages,
            "bytes": bytes_sent,
            "render_seconds": self.render_seconds,
        }

    def start(self) -> bool:
        """Start the render task on the running loop. Returns False (rendering only on demand) without one."""
        if self._loop_task is not None or self.closed:
            return self._loop_task is not None
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return False
        self._loop_task = self.spawn(self._render_loop(), name="render")
        return True

    async def _render_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed:
            started = loop.time()
            try:
                if self._poll is not None:
                    self._poll()
                self.render_now()
            except Exception as exc:  # one bad render must not kill the view; show it and keep going
                log.exception("%s: render failed", self.name)
                if self._errors is not None:
                    self._errors.show_error(exc, where="render")
            if self._is_finished is not None and self._is_finished():
                self.dirty = True
                self.render_now()  # the final picture (e.g. "disconnected: left")
                if self._finished_error is not None and self._errors is not None:
                    self._errors.show_error(self._finished_error(), where=self.name)  # the view says so
                return
            # A fixed rate: the render's own time counts toward the period, so a 30 ms render of a busy room still
            # renders `hz` times a second (never more), with a quarter period idle at least for everything else.
            await asyncio.sleep(max(self.period / 4, self.period - (loop.time() - started)))

    # -- actions --------------------------------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, T], *, name: str) -> asyncio.Task[T]:
        task = self.tasks.spawn(coro, name=name)
        self._held.add(task)
        task.add_done_callback(self._held.discard)
        return task

    def run(
        self,
        what: str,
        action: Callable[[], Awaitable[T]],
        *,
        on_ok: Callable[[T], None] | None = None,
        errors: ErrorSink | None = None,
        busy: str | None = None,
    ) -> asyncio.Task[None] | None:
        """Start `action()` as an owned task; show its exception inline (and keep the kernel alive).

        Returns the task, or None when the view is closed or no loop runs (the error line says so).
        """
        line = errors if errors is not None else self._errors
        if self.closed:
            if line is not None:
                line.show_error(RuntimeError("this view is closed"), where=what)
            return None
        if self._finished_error is not None and self._is_finished is not None and self._is_finished():
            if line is not None:
                line.show_error(self._finished_error(), where=what)  # refused here: nothing is attempted
            return None

        async def go() -> None:
            try:
                result = await action()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.info("%s: %s failed: %s", self.name, what, describe_error(exc))
                if line is not None:
                    line.show_error(exc, where=what)
                return
            if on_ok is not None:
                on_ok(result)

        if isinstance(line, ErrorLine) and busy is not None:
            line.show_busy(busy)
        try:
            return self.spawn(go(), name=what)
        except RuntimeError as exc:
            if line is not None:
                line.show_error(exc, where=what)
            return None

    def _task_failed(self, where: str, exc: BaseException) -> None:
        if self._errors is not None:
            self._errors.show_error(exc, where=where)

    # -- closing --------------------------------------------------------------------------------------------------
    def on_close(self, cleanup: Callable[[], None]) -> None:
        """Run `cleanup` (e.g. an unsubscribe function) when the view closes."""
        self._cleanups.append(cleanup)

    @property
    def running(self) -> bool:
        return not self.closed and self._loop_task is not None and not self._loop_task.done()

    def close(self) -> None:
        """Stop rendering, cancel every task of this view, run cleanups. Idempotent; needs no await."""
        if self.closed:
            return
        self.closed = True
        self.tasks.closed = True
        for task in list(self._held):
            task.cancel()
        cleanups, self._cleanups = self._cleanups, []
        for cleanup in cleanups:
            try:
                cleanup()
            except Exception:
                log.exception("%s: cleanup failed", self.name)

    async def aclose(self) -> None:
        """`close()`, then wait until the cancelled tasks have finished."""
        self.close()
        await self.tasks.aclose()
