"""The live view of a running sweep: goodput per mode over time, fed the lab's LiveSamples.

Example::

    live = LivePlot()
    live.show()                                   # in a notebook: a browser-drawn chart (see livechart.py)
    await lab.run(..., on_sample=live.add)
    live.figure                                   # the same data as a matplotlib Figure, up to date
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from .._tasks import TaskOwner
from ..lab.packets import LiveSample
from ..lab.plots import MODE_COLORS, mode_color, new_figure
from .livechart import DEFAULT_WINDOW_S, LiveChart

__all__ = ["LivePlot", "display_view"]


def display_view(obj: Any) -> None:
    """IPython's display() (IPython has no type hints: called through importlib, typed here)."""
    display: Callable[[Any], None] = importlib.import_module("IPython.display").display
    display(obj)


class LivePlot:
    """Goodput per mode over time, fed LiveSamples, pushed to its view at `hz` (>= 2) only when something changed.

    Example::

        live = LivePlot()
        live.show()                                   # in a notebook: a browser-drawn chart (see livechart.py)
        await lab.run(..., on_sample=live.add)
        live.figure                                   # the same data as a matplotlib Figure, up to date

    `widget("chart")` (default) sends only the numbers and lets the browser draw: the cheapest for the kernel's
    loop. `widget("png")` shows matplotlib frames instead, rendered in a worker thread.
    """

    def __init__(
        self, *, hz: float = 4.0, window: float = DEFAULT_WINDOW_S, history: int = 2_000, dpi: int = 72
    ) -> None:
        if hz < 2:
            raise ValueError("hz must be at least 2 (updates per second)")
        self.hz = hz
        self.dpi = dpi
        self.window = window
        self._draw_lock = threading.Lock()
        # No constrained layout here: solving it on every frame costs more than drawing the lines.
        self._figure, (self._ax,) = new_figure(width=7, height=3.5, layout=None)
        self._figure.subplots_adjust(left=0.1, right=0.98, bottom=0.15, top=0.9)
        self._figure.set_dpi(dpi)
        self._canvas = FigureCanvasAgg(self._figure)
        self._points: dict[str, deque[tuple[float, float]]] = {}
        self._lines: dict[str, Any] = {}
        self._history = history
        self._clock0 = time.monotonic()
        self._dirty = False
        self._last_add = 0.0
        self.renders = 0
        """Updates pushed to the view (chart or image) so far."""
        self.image: Any = None
        self.chart: Any = None
        self.tasks = TaskOwner("live plot")
        self._ax.set_xlabel("time (s)")
        self._ax.set_ylabel("goodput (messages/s)")
        self._ax.grid(True, alpha=0.3)
        self._ax.set_title("Live goodput per mode")

    def set_window(self, seconds: float) -> None:
        """Show `seconds` of time axis (a run's duration); later points scroll it."""
        self.window = seconds
        if self.chart is not None:
            self.chart.window = seconds
        self._dirty = True

    def reset(self) -> None:
        """Start a new time axis (a new sweep): forget the points, count time from now."""
        self._points.clear()
        self._clock0 = time.monotonic()
        self._last_add = 0.0
        self._dirty = True

    def add(self, sample: LiveSample) -> None:
        """Record a sample; cheap (marks the plot dirty, the view is updated at most `hz` times a second)."""
        now = time.monotonic() - self._clock0
        pts = self._points.setdefault(sample.mode, deque(maxlen=self._history))
        pts.append((now, sample.msgs_s))
        self._dirty = True
        self._last_add = now
        if (self.image is not None or self.chart is not None) and not self.tasks:
            with contextlib.suppress(RuntimeError):  # no running loop: render() on demand instead
                self.tasks.spawn(self._render_loop(), name="render")

    @property
    def figure(self) -> Figure:
        """The matplotlib Figure, brought up to date with every sample so far."""
        self._update_artists(self._snapshot())
        return self._figure

    def render(self) -> None:
        """Push the current data to the view now, on this thread."""
        self._dirty = False
        data = self._snapshot()
        if self.chart is not None:
            self._push_chart(data)
        if self.image is not None:
            self.image.value = self._draw(data)
        elif self.chart is None:
            self._update_artists(data)
            self.renders += 1

    def _snapshot(self) -> dict[str, list[tuple[float, float]]]:
        return {mode: list(pts) for mode, pts in self._points.items()}

    def _push_chart(self, data: dict[str, list[tuple[float, float]]]) -> None:
        latest = max((pts[-1][0] for pts in data.values() if pts), default=0.0)
        keep = latest - self.window
        self.chart.series = {m: [[round(t, 3), round(v, 1)] for t, v in pts if t >= keep] for m, pts in data.items()}
        self.renders += 1

    def _update_artists(self, data: dict[str, list[tuple[float, float]]]) -> None:
        with self._draw_lock:
            latest = 0.0
            top = 0.0
            for mode, pts in data.items():
                xs = [p[0] for p in pts]
                ys = [p[1] for p in pts]
                if xs:
                    latest = max(latest, xs[-1])
                    top = max(top, max(ys))
                line = self._lines.get(mode)
                if line is None:
                    (line,) = self._ax.plot(xs, ys, color=mode_color(mode), label=mode)
                    self._lines[mode] = line
                    self._ax.legend(fontsize="small", loc="upper left")
                else:
                    line.set_data(xs, ys)
            self._ax.set_xlim(max(0.0, latest - self.window), max(self.window, latest))
            self._ax.set_ylim(0, max(10.0, top * 1.1) if not math.isnan(top) else 10.0)

    def _draw(self, data: dict[str, list[tuple[float, float]]]) -> bytes:
        """Update the artists and render a PNG (from a worker thread in the render loop)."""
        self._update_artists(data)
        with self._draw_lock:
            self.renders += 1
            return self.png()

    def png(self) -> bytes:
        """The figure as PNG: Agg draw plus Pillow with light compression. Measured from a worker thread against
        the loop's lag: savefig() holds the GIL in long stretches (loop lag p99 9-11 ms, max 60 ms), this way
        much less (p99 ~5 ms, max ~14 ms) for the same picture."""
        from PIL import Image

        canvas = self._canvas
        canvas.draw()  # type: ignore[no-untyped-call]
        width, height = canvas.get_width_height(physical=True)
        rgba = canvas.buffer_rgba()  # type: ignore[no-untyped-call]
        image = Image.frombuffer("RGBA", (width, height), rgba, "raw", "RGBA", 0, 1)
        out = io.BytesIO()
        image.save(out, format="PNG", compress_level=1)
        return out.getvalue()

    async def _render_loop(self) -> None:
        period = 1.0 / self.hz
        while True:
            started = time.monotonic()
            if self._dirty:
                self._dirty = False
                data = self._snapshot()
                if self.chart is not None:
                    self._push_chart(data)  # a few KB of JSON: cheap enough for the loop itself
                if self.image is not None:
                    # Agg takes 50-150 ms on a busy 2-core machine: on the loop that would stall every SDK event.
                    png = await asyncio.to_thread(self._draw, data)
                    self.image.value = png  # widget traits are set on the loop thread only
            elif started - self._clock0 - self._last_add > 2.0:
                return  # idle: the next sample starts a new render loop
            # a fixed rate, not a fixed pause: a slow render does not stretch the period further
            await asyncio.sleep(max(0.0, period - (time.monotonic() - started)))

    def widget(self, kind: str = "chart") -> Any:
        """The live view: "chart" (browser-drawn, default) or "png" (matplotlib frames). Created once."""
        if kind == "chart":
            if self.chart is None:
                from matplotlib.colors import to_hex

                # CSS colours: the browser's canvas ignores matplotlib names such as "tab:orange" (lines went grey).
                self.chart = LiveChart(colors={m: to_hex(c) for m, c in MODE_COLORS.items()}, window=self.window)
            return self.chart
        if kind == "png":
            if self.image is None:
                import ipywidgets as w

                self.image = w.Image(format="png", value=self.png())
            return self.image
        raise ValueError(f"kind must be 'chart' or 'png', got {kind!r}")

    def show(self, kind: str = "chart") -> Any:
        view = self.widget(kind)
        display_view(view)
        return view

    async def aclose(self) -> None:
        await self.tasks.aclose()
