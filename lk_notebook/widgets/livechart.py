"""A live line chart drawn by the browser (anywidget, no JS build): the kernel only sends the numbers.

Why not a matplotlib PNG per update: rendering and encoding a figure costs 50-150 ms of CPU per frame on a busy
2-core machine, and a good part of it holds the GIL, so even from a worker thread it showed as 15-120 ms p99
event-loop lag while the lab received at full rate. Sending ~2 x 120 points of JSON at 4 Hz costs well under a
millisecond. The matplotlib Figure of the same data stays available (`LivePlot.figure`).

The ES module is `static/livechart.js`; its traits are `protocol.ChartTraits`.
"""

from __future__ import annotations

import pathlib
from typing import Any

import anywidget
import traitlets

from .protocol import ChartConstants

__all__ = ["CHART_CONSTANTS", "LiveChart"]

CHART_CONSTANTS: ChartConstants = {
    "width": 640,
    "height": 260,
    "css_class": "lk-live-chart",
    "min_value": 10.0,
    "other_color": "#666666",
}
DEFAULT_WINDOW_S = 30.0


class LiveChart(anywidget.AnyWidget):
    """Lines per mode over time; set `series` ({mode: [[t, value], ...]}) to redraw in the browser."""

    _esm = pathlib.Path(__file__).parent / "static" / "livechart.js"
    series = traitlets.Dict({}).tag(sync=True)
    colors = traitlets.Dict({}).tag(sync=True)
    window = traitlets.Float(DEFAULT_WINDOW_S).tag(sync=True)
    title = traitlets.Unicode("goodput per mode (messages/s)").tag(sync=True)
    constants = traitlets.Dict(dict(CHART_CONSTANTS)).tag(sync=True)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
