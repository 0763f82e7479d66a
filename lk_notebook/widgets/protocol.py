"""Every message between Python and the browser, declared once as types (as anywidget's `_protocols.py` does).

The front ends (`static/*.js`) never re-declare a key or a constant of their own: what they need is sent to them
(see each widget's `constants` message). Sections: the participants table, the room browser, the live chart.
"""

from __future__ import annotations

from typing import TypedDict

# -- the participants table (widgets/table.py <-> static/table.js) ---------------------------------------------------


# -- the room browser (widgets/rooms.py <-> static/rooms.js) ---------------------------------------------------------


# -- the live chart (widgets/livechart.py <-> static/livechart.js) ---------------------------------------------------
# The chart is drawn from traits (anywidget syncs them), not messages: `ChartTraits` are the synced values,
# `ChartConstants` what the JS would otherwise hard-code (sent once, as the `constants` trait).

ChartPoint = list[float]
"""[seconds since the sweep started, value]."""


class ChartConstants(TypedDict):
    """Fixed for a chart's life: its canvas and the hooks tests find it by."""

    width: int
    height: int
    css_class: str
    """The canvas's class (tests find the chart by it; it carries data-draws / data-points)."""
    min_value: float
    """The value axis spans at least 0..min_value (an idle chart is not a flat line at the top)."""
    other_color: str
    """CSS colour of a mode without one in `colors`."""


class ChartTraits(TypedDict):
    """The synced traits of `LiveChart`."""

    series: dict[str, list[ChartPoint]]
    """Points per mode; setting it redraws."""
    colors: dict[str, str]
    """CSS colour per mode (the browser's canvas ignores matplotlib names such as "tab:orange")."""
    window: float
    """Seconds of time axis shown (the run's duration in the LabWidget); later points scroll it."""
    title: str
    constants: ChartConstants
