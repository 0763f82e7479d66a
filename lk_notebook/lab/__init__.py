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
`measure_propagation` / `measure_node_failure` compare topologies and time a node failure.
"""

from __future__ import annotations

from .cluster_lab import NodeFailure, cross_node_ratios, measure_node_failure, measure_propagation
from .presence import measure_presence
from .probe import Mode, Probe, ProbeClock, ProbeCodec, parse
from .relay import Impairment, ImpairmentRelay, RelayStats
from .rig import ClusterTopology, Rig
from .rows import ResultRow
from .runner import TOPIC, Lab, LiveSample, PathError, RunResult, check_path
from .state_lab import STATE_CHANNELS, measure_state
from .stats import LatencyHistogram, ReceiverStats, SequenceWindow, TimeBins
from .sweep import Results, Sweep, TqdmProgress, WidgetProgress, measure
from .theory import datagrams_per_message, expected_loss

__all__ = [
    "STATE_CHANNELS",
    "TOPIC",
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
    "check_path",
    "cross_node_ratios",
    "datagrams_per_message",
    "expected_loss",
    "measure",
    "measure_node_failure",
    "measure_presence",
    "measure_propagation",
    "measure_state",
    "parse",
]
