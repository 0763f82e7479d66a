"""The delivery lab: measure lossy, reliable and data-track delivery (and state propagation) on your own server.

Example::

    from lk_notebook.lab import Impairment, measure
    results = await measure(modes=["lossy", "reliable"], sizes=[200, 1200, 4000], rates=[500],
                            impairments=[Impairment(), Impairment(loss=0.1, delay_ms=20)], duration=2)
    results.frame                                   # tidy: one row per mode x size x rate x impairment
    loss_vs_size(results.frame)                     # a matplotlib Figure, theory drawn beside the measurement

Without LIVEKIT_URL the lab starts a local livekit-server with a userland UDP relay as the only media path, so it
can drop and delay datagrams (no root needed); it proves from RTC stats that traffic crosses the relay before it
reports any impaired result. With LIVEKIT_URL set it measures that server, unimpaired. On a `LocalCluster`,
`Lab(cluster=..., topology=ClusterTopology(...))` places the sender, the receiver and the room on chosen nodes, and
`measure_propagation` / `measure_node_failure` compare topologies and time a node failure. `measure_agent` times
a LiveKit Agents agent's turns from the client's side, clean and through the impaired relay.

The lab's views (LabWidget, LivePlot, WidgetProgress) live in `lk_notebook.widgets`; `WidgetProgress` and
`LivePlot` stay importable from here (loaded on first use: the lab itself never imports a widget).
"""

from __future__ import annotations

from typing import Any

from .agent_turns import AgentTurnRow, AgentTurns, measure_agent
from .cluster_lab import NodeFailure, cross_node_ratios, measure_node_failure, measure_propagation
from .lab import Lab
from .packets import LiveSample, RunResult
from .paths import PathError, check_path
from .presence import measure_presence
from .probe import Mode, Probe, ProbeClock, ProbeCodec, parse
from .relay import Impairment, ImpairmentRelay, RelayStats
from .rig import TOPIC, ClusterTopology, Rig
from .rows import ResultRow
from .state_lab import STATE_CHANNELS, measure_state
from .stats import LatencyHistogram, ReceiverStats, SequenceWindow, TimeBins
from .sweep import Results, Sweep, TqdmProgress, measure
from .theory import datagrams_per_message, expected_loss
from .window import Window

__all__ = [
    "STATE_CHANNELS",
    "TOPIC",
    "AgentTurnRow",
    "AgentTurns",
    "ClusterTopology",
    "Impairment",
    "ImpairmentRelay",
    "Lab",
    "LatencyHistogram",
    "LiveSample",
    "Mode",
    "NodeFailure",
    "PathError",
    "Probe",
    "ProbeClock",
    "ProbeCodec",
    "ReceiverStats",
    "RelayStats",
    "ResultRow",
    "Results",
    "Rig",
    "RunResult",
    "SequenceWindow",
    "Sweep",
    "TimeBins",
    "TqdmProgress",
    "WidgetProgress",
    "Window",
    "check_path",
    "cross_node_ratios",
    "datagrams_per_message",
    "expected_loss",
    "measure",
    "measure_agent",
    "measure_node_failure",
    "measure_presence",
    "measure_propagation",
    "measure_state",
    "parse",
]

_VIEWS = {
    "LabWidget": "lk_notebook.widgets.lab",
    "LivePlot": "lk_notebook.widgets.liveplot",
    "WidgetProgress": "lk_notebook.widgets.lab",
}
"""Names that moved to lk_notebook.widgets, still importable from here; imported on first use, so that importing
the lab never imports ipywidgets (widgets import the lab, not the other way round)."""


def __getattr__(name: str) -> Any:
    if name in _VIEWS:
        import importlib

        return getattr(importlib.import_module(_VIEWS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
