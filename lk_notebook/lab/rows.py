"""The one schema of a lab result row, shared by the runner, sweeps, the CLI's JSON/CSV and the plots.

A row is a `ResultRow` (a TypedDict, so mypy checks every key a module reads or writes); each column name is
written once, in the TypedDicts. DataFrames built from rows keep the schema's column order (`frame_of`), and whoever
names columns outside a row (the CLI's JSON contract `JSON_FIELDS`, its summary `SUMMARY_FIELDS`, the plots) names
them through `columns()`, so a misspelt column fails at import.

The other experiments' rows are typed too: `StateRow` (measure_state), `PresenceRow` (measure_presence),
`PropagationRow` and `RatioRow` (the cluster lab).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "JSON_FIELDS",
    "NO_SERVER_LOG",
    "SERIES_COLUMNS",
    "SUMMARY_FIELDS",
    "WORKER_FIELDS",
    "AttributeScaleRow",
    "Bound",
    "DeliveryColumns",
    "EvidenceColumns",
    "Field",
    "LatencyColumns",
    "PathColumns",
    "PresenceRow",
    "PropagationRow",
    "RatioRow",
    "ResultRow",
    "SeriesRow",
    "ServerColumns",
    "SettingsColumns",
    "ShapeColumns",
    "StateRow",
    "WorkerColumns",
    "columns",
    "frame_of",
    "frame_of_rows",
]

Bound = Literal["path", "client"]
"""What limited a run: the path (network, server, congestion control) or the lab's own client process."""


class RelayColumns(TypedDict, total=False):
    """The relay's counters: only in rows measured through the lab's relay (a local server)."""

    relay_datagrams_up: int
    relay_datagrams_down: int
    relay_dropped_up: int
    relay_dropped_down: int
    relay_data_datagrams_up: int
    """Datagrams of at least DATA_DATAGRAM_BYTES (probe-bearing: SACKs, STUN and heartbeats are smaller)."""
    relay_data_datagrams_down: int
    relay_data_dropped_up: int
    relay_data_dropped_down: int
    wire_ratio: float
    """Messages that left the sender (counted by the relay: datagrams, bundles of small messages counted by size)
    per message sent: below 1 the sender's SDK accepted messages it never put on the wire (NaN when a fragment is
    too small to count)."""
    leg_loss_up: float
    """Measured drop fraction of probe-bearing datagrams on the sender -> server leg (the p probes met)."""
    leg_loss_down: float
    expected_loss_measured: float
    """1-(1-p_up)^k_up (1-p_down)^k_down with the legs' measured p (lossy and data tracks; 0 for reliable)."""
    relay_lost_deliveries: int
    """Deliveries the relay's drops cost, counted from which datagrams of each flow it dropped (lossy only): a
    message is lost iff any of its datagrams on either leg was; k = 1 bundles counted by size
    (`lk_notebook.lab.droplog`). Equal to `lost` when the relay was the only loss (conservation)."""
    relay_messages_up: int
    """Messages the relay saw leave the senders, dropped ones included (lossy only; k = 1: bundles counted by
    exact size; k > 1: by each message's shorter last datagram, exact on the server's side only)."""
    relay_messages_down: int
    """Messages the relay carried towards the receivers, counted the same way: `received` =
    `relay_messages_down` - `relay_lost_deliveries` when only the receivers' leg is impaired."""
    relay_split_datagrams_up: int
    """Datagrams of at least DATA_DATAGRAM_BYTES on the senders' leg that are neither one message nor a whole
    bundle of them: the sender's SCTP split a message across datagrams, so the relay's count of messages that left
    (`wire_ratio` x `sent`) may be off by one for each; 0 means that count is exact. Only for messages of one
    datagram (lossy and data tracks) through the relay (`DropLog.split_datagrams`)."""


class ServerColumns(TypedDict, total=False):
    """The local livekit-server's own account of the run, read from its log (`lk_notebook.lab.serverlog`)."""

    server_dropped_frames: int
    """Data-track frames the server logged as not sent to the receiver: in every run the lab has seen, because its
    buffer towards the receiver held more than its target latency (100 ms of bitrate, and over 8 KiB); it logs
    each failed send with its reason. Only in data-track rows on a local server whose log shows warnings, for frames
    of one packet (absent: not known). Frames that left the sender (`wire_ratio` x `sent`) = `received` + this,
    to within `relay_split_datagrams_up` (exactly when that is 0; `lk_notebook.lab.serverlog`)."""


NO_SERVER_LOG: ServerColumns = {}
"""For a row built where no server log was read (a Dask worker, a remote server, a mode the server does not log,
frames of several packets)."""


class SettingsColumns(TypedDict):
    """What was asked: the run's identity, mode, size, rate and impairment settings."""

    run_id: str
    mode: str
    size: int
    rate: float | None
    """Requested messages/s (None: as fast as the client can)."""
    duration_s: float
    impairment: str
    loss_setting: float
    delay_setting: float
    jitter_setting: float
    bandwidth_kbps_setting: float | None


class DeliveryColumns(TypedDict):
    """What was sent and what arrived, counted per delivery (a message x a receiver)."""

    sent: int
    send_errors: int
    backpressure: int
    received: int
    lost: int
    drained: bool
    loss_rate: float
    duplicates: int
    out_of_order: int
    too_old: int
    offered_msgs_s: float
    """Messages/s the sender achieved (what it offered the path)."""
    throughput_msgs_s: float
    throughput_bytes_s: float


class LatencyColumns(TypedDict):
    """One-way latency percentiles (an RPC's round trip for the rpc mode, as `clock` says)."""

    latency_p50_ms: float
    latency_p95_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    latency_mean_ms: float
    clock: str
    latency_bound_ms: float
    """How far the clocks the latency was read on may disagree (0: one process, or one host's monotonic clock;
    across hosts: the sender's and the receiver's measured offset bounds added, `lk_notebook.lab.clocks`)."""
    latency_trusted: bool
    """False when `latency_bound_ms` exceeds 10 % of `latency_p50_ms`: the figure is the clocks', not the path's."""


class PathColumns(TypedDict):
    """The path's shape: datagrams per message each way, impaired legs, the theory's loss, the proven route."""

    datagrams_up: int
    datagrams_down: int
    legs: int
    expected_loss: float
    """1-(1-p)^k from the loss *setting* and the computed datagram counts."""
    path: str


class EvidenceColumns(TypedDict):
    """Calibration: was it the path or the instrument? The verdict and the evidence behind it."""

    bound: Bound
    bound_reason: str
    send_ratio: float | None
    """Achieved / requested send rate (None when no rate was requested)."""
    held_by_path_s: float
    """Seconds the reliable sender waited on its end-to-end in-flight bound (the path was the limit then)."""
    loop_lag_p99_ms: float
    """99th percentile of how late the event loop woke a 20 ms timer: how long a probe waited to be handled."""
    loop_cpu: float
    """CPU seconds of the event-loop thread per wall second (1.0: the Python thread was saturated)."""
    process_cpu: float
    """CPU seconds of the whole process (SDK threads included) per wall second."""
    host_cpu: float
    """Busy fraction of the whole machine during the run (other processes included)."""
    host_udp_drops: int | None
    """UDP datagrams the kernel dropped at full receive buffers on this host during the run and its drain (all
    processes: sender, relay, server, receiver). Above 0, lost messages may be the host's doing; None: unknown."""
    udp_drops_where: str
    """Whose sockets dropped them: "livekit-server 640, relay 0, other 31" ("other": the SDK's sockets or any
    other process); empty when nothing was dropped."""
    receiver_loop_lag_p99_ms: float
    """How late the receivers' event loop woke (p99): the receivers' side of the verdict, weighed against the
    latency p50 (`calibration.RECEIVER_LAG_SHARE`). The process's own loop in this process, the worker's on Dask."""
    receiver_cpu: float
    """CPU seconds per wall second of the process the receivers ran in (SDK threads and loop; above
    `calibration.RECEIVER_CPU_MAX` the row is client-bound)."""


class ShapeColumns(TypedDict):
    """The room's shape for the run."""

    senders: int
    """Participants sending (fan-in): `rate` is per sender; `sent` counts all of them."""
    receivers: int
    """Participants receiving every message (fan-out): `received`/`lost` count deliveries (sent x receivers)."""


class WorkerColumns(TypedDict, total=False):
    """Only in rows measured on Dask workers (`measure(..., cluster=...)`): one row per worker and run."""

    worker: str
    """The Dask worker that ran this row's receivers (its address)."""
    worker_status: str
    """"ok", or "failed: why" (the worker died or timed out; its counts are then zero, the others' are kept)."""
    clock_offset_ms: float
    """The worker's wall clock minus the coordinator's, measured (minimum-RTT round trip through Dask)."""
    clock_bound_ms: float
    """The offset's error bound: half that round trip."""
    start_late_ms: float
    """How late the worker began sending after the run's shared start time (its joins or a busy host held it, or its
    loop woke late). Its receivers count from the shared start, whenever the worker itself began."""
    sender_loop_cpu: float
    """The event loop of the busiest process (by CPU) that ran this row's senders (another worker's, or this
    row's own when they all ran here): near 1, the sending loop set the pace; `bound` then names the worker."""
    sender_loop_lag_p99_ms: float
    """How late that sending worker's event loop woke (p99)."""
    sender_cpu: float
    """CPU seconds per wall second of that sending worker's process (SDK threads and loop; above
    `calibration.RECEIVER_CPU_MAX` it set the pace)."""


class ResultRow(
    SettingsColumns,
    DeliveryColumns,
    LatencyColumns,
    PathColumns,
    EvidenceColumns,
    ShapeColumns,
    RelayColumns,
    ServerColumns,
    WorkerColumns,
):
    """One measurement: parameters, counts, loss, throughput, latency, theory, calibration and relay counters.

    Built from its parts (`lab/columns.py` builds the shared ones), so every mode fills them the same way."""


Field = str
"""A column name of a ResultRow (checked where named: `columns`)."""

COLUMNS: tuple[str, ...] = tuple(ResultRow.__annotations__)
"""Every column name of a ResultRow, in schema order: the TypedDicts above are the one place they are written."""


def columns(row_type: type, *names: str) -> tuple[str, ...]:
    """`names`, each a key of the TypedDict `row_type` (ValueError at import for a misspelt column)."""
    unknown = [n for n in names if n not in row_type.__annotations__]
    if unknown:
        raise ValueError(f"not columns of {row_type.__name__}: {unknown}")
    return names


JSON_FIELDS = columns(
    ResultRow,
    "mode", "size", "rate", "loss_setting", "delay_setting", "sent", "received", "loss_rate", "duplicates",
    "out_of_order", "throughput_msgs_s", "throughput_bytes_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "bound",
)  # fmt: skip
"""Columns every JSON row carries first (the CLI's contract); the rest follow in schema order."""

SUMMARY_FIELDS = columns(
    ResultRow,
    "mode", "size", "rate", "impairment", "sent", "received", "loss_rate", "expected_loss", "duplicates",
    "out_of_order", "offered_msgs_s", "throughput_msgs_s", "latency_p50_ms", "latency_p95_ms", "latency_p99_ms",
    "bound", "senders", "receivers",
)  # fmt: skip
"""What `lk-notebook bench` prints per row."""

WORKER_FIELDS = columns(
    ResultRow, "worker", "worker_status", "latency_bound_ms", "latency_trusted", "clock_offset_ms", "clock_bound_ms"
)
"""What `lk-notebook bench` prints more per row when the participants ran on Dask workers."""


def frame_of(rows: list[ResultRow]) -> pd.DataFrame:
    """A DataFrame of `rows`, columns in schema order (optional columns only when some row has them)."""
    import pandas as pd

    present = [c for c in COLUMNS if any(c in r for r in rows)]
    frame: pd.DataFrame = pd.DataFrame([dict(r) for r in rows], columns=present or list(COLUMNS))
    return frame


def frame_of_rows(rows: Sequence[Any]) -> pd.DataFrame:
    """A DataFrame of typed rows of any kind (columns in the order each row was written)."""
    import pandas as pd

    frame: pd.DataFrame = pd.DataFrame([dict(r) for r in rows])
    return frame


class SeriesRow(TypedDict):
    """One time bin of a run's goodput (`RunResult.series_frame`, `Results.series`)."""

    t: float
    """Seconds since the run started (the bin's start)."""
    msgs: int
    bytes: int
    msgs_s: float
    bytes_s: float
    run_id: str
    mode: str
    size: int
    rate: float | None
    impairment: str


SERIES_COLUMNS: tuple[str, ...] = tuple(SeriesRow.__annotations__)


class StateRow(TypedDict):
    """One channel of `measure_state`: how fast a change reaches another participant, and a late joiner."""

    channel: str
    """attributes, metadata, room_metadata, data; or join:/leave: + a presence kind."""
    kind: str
    """"state", "message" or "presence"."""
    changes: int
    timeouts: int
    latency_p50_ms: float
    latency_p95_ms: float
    latency_max_ms: float
    reaches_late_joiner: bool
    impairment: str


class PresenceRow(TypedDict):
    """One join and leave of `measure_presence`."""

    kind: str
    """"data_only" or "publisher"."""
    identity: str
    join_visible_ms: float
    leave_visible_ms: float
    data_arrived: bool
    data_before_visible: bool
    data_sender: str | None


class PropagationRow(TypedDict):
    """One topology x channel of the cluster lab's `measure_propagation` (nodes 1-based; 0 on a single server)."""

    topology: str
    channel: str
    room_node: int
    sender_node: int
    receiver_node: int
    api_node: int
    by_api: bool
    changes: int
    timeouts: int
    p50_ms: float
    p99_ms: float
    max_ms: float


class AttributeScaleRow(TypedDict):
    """One N of `measure_attributes_at_scale`: N participants each changing an attribute at `rate`/s."""

    participants: int
    rate: float
    changes: int
    """Changes each participant made (rate x duration)."""
    updates_s: float
    """Attribute changes per second in the room (N x rate); each reaches N - 1 others."""
    converged_p50_ms: float
    """From the scheduled last change until a participant's view had everyone's final value (median over N)."""
    converged_max_ms: float
    """The same for the slowest participant: when every view equalled the server's."""
    not_converged: int
    """Participants whose view did not converge within the settle timeout (or whose worker failed)."""
    set_errors: int
    failed_workers: str
    server_final: bool
    """The server listed every participant with its final value."""
    stale_views: str
    """For each view that did not converge: whose final value it lacked and what it held instead, e.g.
    "lab-attrs-1 saw lab-attrs-2 = '1'" (at most `dask_attributes.STALE_SHOWN` entries; empty when all converged)."""


class RatioRow(TypedDict):
    """A cross-node topology's latency over its same-node baseline's (`cross_node_ratios`)."""

    topology: str
    baseline: str
    channel: str
    p50_ms: float
    same_p50_ms: float
    ratio_p50: float
    p99_ms: float
    same_p99_ms: float
    ratio_p99: float
