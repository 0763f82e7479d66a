"""Every message between Python and the browser, declared once as types (as anywidget's `_protocols.py` does).

The front ends (`static/*.js`) never re-declare a key or a constant of their own: what they need is sent to them
(each widget's synced `wire` or `constants` trait). Sections: the participants table, the room browser, the live chart.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict, get_args, get_origin, get_type_hints

from ..events import AGENT_STATE_ATTRIBUTE, ParticipantKind

# -- the participants table (widgets/table.py <-> static/table.js) ---------------------------------------------------
# Every field is `Annotated[type, "label"]`: the key is short (bytes per render are measured in bench/table.py),
# the label is the name the front end reads it by. `schema()` turns a message type into {label: key} for the JS.


def schema(message: type) -> dict[str, str]:
    """{label: wire key} of a message TypedDict, plus "is": its tag value when it has a field labelled "tag"."""
    out: dict[str, str] = {}
    for key, hint in get_type_hints(message, include_extras=True).items():
        inner, label = get_args(hint)[:2]
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
    rows: Annotated[dict[str, TableRow], "rows"]
    """By identity: the local participant first, then by identity, at most `TableFeed.page_rows` of them."""
    more: Annotated[int, "more"]
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
    more: Annotated[int, "more"]
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
    participants: Annotated[int, "participants"]
    publishers: Annotated[int, "publishers"]
    created: Annotated[int, "created"]
    """Milliseconds since the epoch."""
    metadata: Annotated[str, "metadata"]
    """A preview (`admin.metadata_preview`)."""


class RoomOpen(TypedDict):
    """Browser -> kernel: a row was clicked; inspect that room."""

    t: Annotated[Literal["open"], "tag"]
    room: Annotated[str, "room"]


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
