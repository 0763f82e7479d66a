"""Every message between Python and the browser, declared once as types (as anywidget's `_protocols.py` does).

The front ends (`static/*.js`) never re-declare a key or a constant of their own: what they need is sent to them
(each widget's synced `wire` or `constants` trait). Sections: the participants table, the room browser, the live chart,
the agent panel.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict, get_args, get_origin, get_type_hints

from ..events import AGENT_STATE_ATTRIBUTE, ParticipantKind

# -- the participants table (widgets/table.py <-> static/table.js) ---------------------------------------------------
# A field is `Annotated[type, "label"]` where its key is not the name the front end reads it by: the table's keys are
# short (bytes per render are measured in bench/table.py); a plain field's label is its key. `schema()` turns a
# message type into {label: key} for the JS.


def schema(message: type) -> dict[str, str]:
    """{label: wire key} of a message TypedDict, plus "is": its tag value when it has a field labelled "tag"."""
    out: dict[str, str] = {}
    for key, hint in get_type_hints(message, include_extras=True).items():
        inner, label = get_args(hint)[:2] if get_origin(hint) is Annotated else (hint, key)
        out[label] = key
        if label == "tag":
            out["is"] = get_args(inner)[0] if get_origin(inner) is Literal else ""
    return out


class TableRow(TypedDict, total=False):
    """One participant (a delta carries only the keys that changed; in `a`, None means the key was deleted)."""

    n: Annotated[str, "name"]
    k: Annotated[str, "kind"]
    """A `ParticipantKind` value."""
    j: Annotated[int | None, "joined"]
    """Milliseconds since the epoch; None when unknown."""
    m: Annotated[str, "metadata"]
    l: Annotated[bool, "local"]  # noqa: E741 - a wire key, kept to one letter
    v: Annotated[bool, "active"]
    """False until the participant is active (lossy data to it is dropped)."""
    a: Annotated[dict[str, str | None], "attributes"]


class TableReset(TypedDict):
    """Kernel -> browser, once per view: the columns and the first page of rows (all of them in a small room)."""

    t: Annotated[Literal["reset"], "tag"]
    cols: Annotated[list[str], "columns"]
    """Attribute keys, one column each."""
    rows: dict[str, TableRow]
    """By identity: the local participant first, then by identity, at most `TableFeed.page_rows` of them."""
    more: int
    """Rows still to come, a page per following delta (`pg`): a 10,000-row room is never one 6 MB message."""


class _DeltaTag(TypedDict):
    t: Annotated[Literal["delta"], "tag"]


class TableDelta(_DeltaTag, total=False):
    """Kernel -> browser, at most `hz` times a second and one message per render (Jupyter Server drops output
    beyond 1,000 messages/s): only what changed since the last message."""

    up: Annotated[dict[str, TableRow], "upserts"]
    """New rows in full, changed rows as deltas, by identity."""
    rm: Annotated[list[str], "removed"]
    cols: Annotated[list[str], "columns"]
    pg: Annotated[dict[str, TableRow], "page"]
    """The next page of the first load, in full, by identity (not highlighted: they are not changes)."""
    more: int
    """Rows of the first load still to come after this page (sent with every page; 0 with the last)."""


class TableHello(TypedDict):
    """Browser -> kernel: a new view, which has nothing yet (answered by a TableReset)."""

    t: Annotated[Literal["hello"], "tag"]


TABLE_WIRE: dict[str, Any] = {
    "row": schema(TableRow),
    "reset": schema(TableReset),
    "delta": schema(TableDelta),
    "hello": schema(TableHello),
    "kinds": [kind.value for kind in ParticipantKind],
    "default_kind": ParticipantKind.STANDARD.value,
    "agent_state": AGENT_STATE_ATTRIBUTE,
}
"""What static/table.js reads the wire with (its `wire` trait): keys by label, tags, kinds, the agent-state key."""


# -- the room browser (widgets/rooms.py <-> static/rooms.js) ---------------------------------------------------------
class RoomRow(TypedDict):
    """One room of the synced list (labels are the column headers)."""

    name: Annotated[str, "room"]
    participants: int
    publishers: int
    created: int
    """Milliseconds since the epoch."""
    metadata: str
    """A preview (`admin.metadata_preview`)."""
    agents: int | None
    """Participants of kind agent (counted every few seconds); None while not counted."""


class RoomOpen(TypedDict):
    """Browser -> kernel: a row was clicked; inspect that room."""

    t: Annotated[Literal["open"], "tag"]
    room: str


class RoomRefresh(TypedDict):
    """Browser -> kernel: fetch the list now."""

    t: Annotated[Literal["refresh"], "tag"]


ROOMS_WIRE: dict[str, Any] = {"row": schema(RoomRow), "open": schema(RoomOpen), "refresh": schema(RoomRefresh)}
"""What static/rooms.js reads the wire with (its `wire` trait)."""


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


# -- the agent panel (widgets/agent_panel.py <-> static/agent_panel.js) ----------------------------------------------
# One kernel -> browser message kind, `AgentPanelDelta`: only what changed since the last one (lines added, text that
# grew, state changes, tool rows and turn rows that changed). The browser says hello when a view opens and gets
# everything once (`reset`). Times are milliseconds since the epoch, latencies seconds. Labels are the keys.


class AgentLine(TypedDict):
    """One transcript line: a conversation item, or a reply still streaming on `lk.transcription`."""

    k: Annotated[str, "key"]
    role: str
    """user, assistant, tool_call, tool_output, handoff, config (`frames.ConversationRow.role`)."""
    text: str
    at: float
    final: bool
    """False while the reply streams (its text then grows by `AgentGrow`)."""
    interrupted: bool


class AgentGrow(TypedDict):
    """Text appended to a streaming line (the chunks that arrived since the last message), and whether it is final."""

    k: Annotated[str, "key"]
    add: str
    final: bool


class AgentStatePoint(TypedDict):
    who: str
    """agent or user."""
    state: str
    at: float


class AgentToolRow(TypedDict):
    k: Annotated[str, "key"]
    name: str
    arguments: str
    output: str | None
    is_error: bool
    status: str
    at: float | None
    duration: float | None


class AgentTurnBar(TypedDict):
    """One user turn: seconds from the user message to each phase (`turns.Turn`), tokens and tools."""

    turn: int
    user: str
    to_thinking: float | None
    to_first_chunk: float | None
    to_speaking: float | None
    to_final: float | None
    input_tokens: int
    output_tokens: int
    tools: str


class _AgentDeltaTag(TypedDict):
    t: Annotated[Literal["agent"], "tag"]


class AgentPanelDelta(_AgentDeltaTag, total=False):
    """Kernel -> browser, at most `hz` times a second."""

    reset: bool
    """The view forgets what it had first (the answer to a hello)."""
    lines: list[AgentLine]
    """New or replaced lines, by key."""
    grow: list[AgentGrow]
    drop: list[str]
    """Keys of lines to remove (a streamed reply once its conversation item arrived with the same text)."""
    states: list[AgentStatePoint]
    tools: list[AgentToolRow]
    """New or changed tool calls, by key."""
    turns: list[AgentTurnBar]
    """New or changed turns, by number."""


class AgentPanelHello(TypedDict):
    """Browser -> kernel: a new view, which has nothing yet."""

    t: Annotated[Literal["hello"], "tag"]


AGENT_STATE_COLORS = {
    "initializing": "#bdbdbd",
    "idle": "#e0e0e0",
    "listening": "#4caf50",
    "thinking": "#ff9800",
    "speaking": "#2196f3",
    "away": "#9e9e9e",
}
"""The state strip's colours (agent and user states share them)."""

AGENT_LATENCY_PHASES = [
    ("to_thinking", "thinking", "#ff9800"),
    ("to_first_chunk", "first chunk", "#9c27b0"),
    ("to_speaking", "speaking", "#2196f3"),
    ("to_final", "final", "#37474f"),
]
"""Per-turn latency bars, in order: (turn field, label, colour)."""

AGENT_PANEL_WIRE: dict[str, Any] = {
    "delta": schema(AgentPanelDelta),
    "hello": schema(AgentPanelHello),
    "line": schema(AgentLine),
    "grow": schema(AgentGrow),
    "state": schema(AgentStatePoint),
    "tool": schema(AgentToolRow),
    "turn": schema(AgentTurnBar),
    "colors": AGENT_STATE_COLORS,
    "phases": [list(p) for p in AGENT_LATENCY_PHASES],
    "who": ["agent", "user"],
}
"""What static/agent_panel.js reads the wire with (its `wire` trait)."""
