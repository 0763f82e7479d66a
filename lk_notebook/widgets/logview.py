"""LogView: the SDK's log lines in one place instead of scattered over whichever cell happens to be running.

The Rust SDK logs from its native thread through Python logging's "livekit" logger. Without a handler, Python's
last-resort handler prints those lines to the stderr of the cell that is running at that moment. While a LogView
is open, one shared handler on "livekit" (and "lk_notebook") keeps records in a bounded buffer instead, and those
loggers stop propagating to the root; closing the last LogView restores them. The handler only appends to a deque
(thread-safe), so nothing touches a widget from the SDK's thread: the view's render task polls the buffer.
"""

from __future__ import annotations

import html
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass

import ipywidgets as w

from .._logging import scrub
from ._live import Live
from ._text import TextFallback

__all__ = ["LogRecordLine", "LogView", "capture_logs"]

CAPTURED_LOGGERS = ("livekit", "lk_notebook")


@dataclass(frozen=True, slots=True)
class LogRecordLine:
    """One captured log line."""

    at: float
    level: str
    levelno: int
    logger: str
    message: str
    thread: str


class _LogHub(logging.Handler):
    """The one handler behind every LogView (reference-counted install on the captured loggers)."""

    def __init__(self, capacity: int = 2_000) -> None:
        super().__init__(logging.DEBUG)
        self.lines: deque[LogRecordLine] = deque(maxlen=capacity)
        self.count = 0
        """Lines ever captured; views compare it to know whether to render."""
        self._users = 0
        self._saved: dict[str, bool] = {}
        self._lock_install = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = scrub(record.getMessage())
            if record.exc_info and record.exc_info[1] is not None:
                text += f" ({type(record.exc_info[1]).__name__}: {scrub(str(record.exc_info[1]))})"
            line = LogRecordLine(
                record.created, record.levelname, record.levelno, record.name, text, record.threadName or ""
            )
            self.lines.append(line)  # deque.append is atomic: safe from the SDK's thread
            self.count += 1
        except Exception:  # a logging handler must never raise into the SDK's thread
            self.handleError(record)

    def acquire_capture(self) -> None:
        with self._lock_install:
            self._users += 1
            if self._users > 1:
                return
            for name in CAPTURED_LOGGERS:
                logger = logging.getLogger(name)
                self._saved[name] = logger.propagate
                logger.propagate = False
                logger.addHandler(self)

    def release_capture(self) -> None:
        with self._lock_install:
            if self._users == 0:
                return
            self._users -= 1
            if self._users > 0:
                return
            for name in CAPTURED_LOGGERS:
                logger = logging.getLogger(name)
                logger.removeHandler(self)
                logger.propagate = self._saved.pop(name, True)

    @property
    def capturing(self) -> bool:
        return self._users > 0


_hub = _LogHub()


def capture_logs() -> _LogHub:
    """The process-wide log buffer (its `lines` and `capturing`)."""
    return _hub


_LEVEL_COLOURS = {"DEBUG": "#777", "INFO": "#333", "WARNING": "#b26a00", "ERROR": "#b00020", "CRITICAL": "#b00020"}


class LogView(TextFallback, w.VBox):  # type: ignore[misc]
    """The SDK's and lk_notebook's log lines, newest last, while the view is open.

    Example::

        logs = LogView()          # from now on, "livekit" log lines land here instead of in random cells
        logs.lines                # what it shows
        logs.close()              # restores normal logging (once no other LogView is open)
    """

    def text_fallback(self) -> str:
        return f"LogView: the SDK's and lk_notebook's log, {_hub.count - self._cleared_at} record(s) since shown"

    def __init__(self, *, show: int = 200, hz: float = 2.0) -> None:
        self.output = w.HTML(value="")
        self.output.add_class("lk-log-lines")
        self.level = w.Dropdown(
            options=["DEBUG", "INFO", "WARNING", "ERROR"], value="DEBUG", description="show", layout={"width": "180px"}
        )
        self.clear_button = w.Button(description="clear", layout={"width": "70px"})
        self.summary = w.HTML(value="")
        super().__init__(children=[w.HBox([self.level, self.clear_button, self.summary]), self.output])
        self.add_class("lk-logview")
        self.show_lines = show
        self._cleared_at = 0
        self._seen = -1
        self.live = Live("log view", self._render, hz=hz, poll=self._poll)
        self.level.observe(lambda _c: self.live.mark(), names="value")
        self.clear_button.on_click(self._clear)
        _hub.acquire_capture()
        self.live.on_close(_hub.release_capture)
        self.live.start()

    def _clear(self, _b: object = None) -> None:
        self._cleared_at = _hub.count
        self.live.mark()

    @property
    def lines(self) -> list[LogRecordLine]:
        """The captured lines this view shows (after `clear`, at the chosen level)."""
        new = _hub.count - self._cleared_at
        recent = list(_hub.lines)[-new:] if new > 0 else []
        floor = logging.getLevelName(self.level.value)
        return [line for line in recent if line.levelno >= floor]

    def _render(self) -> None:
        lines = self.lines[-self.show_lines :]
        rows = []
        for line in lines:
            colour = _LEVEL_COLOURS.get(line.level, "#333")
            stamp = time.strftime("%H:%M:%S", time.localtime(line.at)) + f".{int(line.at * 1000) % 1000:03d}"
            rows.append(
                f'<div style="color:{colour}"><code>{stamp} {html.escape(line.level[:4])} '
                f"{html.escape(line.logger)}</code> {html.escape(line.message)}</div>"
            )
        self.output.value = (
            '<div style="max-height:180px;overflow:auto;font-size:11px;border:1px solid #eee;padding:2px">'
            + ("".join(rows) or '<span style="color:#999">no log lines yet</span>')
            + "</div>"
        )
        self.summary.value = f'<span style="color:#666">{len(lines)} line(s)</span>'

    def _poll(self) -> None:
        if _hub.count != self._seen:
            self._seen = _hub.count
            self.live.mark()

    def close(self) -> None:
        self.live.close()
        super().close()
