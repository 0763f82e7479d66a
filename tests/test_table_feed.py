"""TableFeed (widgets/table_feed.py): what the participants table sends, from a pure RoomState fed events.

Pure unit tests (no LiveKit, no browser): paging of the first load, cells from events, whole-row comparisons for
joins/leaves, columns, and that a steady-state message costs what changed, not the room's size.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest

from lk_notebook.events import (
    AttributesChanged,
    MetadataChanged,
    ParticipantJoined,
    ParticipantLeft,
    Snapshot,
    frozen_map,
)
from lk_notebook.state import RoomState, participant
from lk_notebook.widgets.protocol import TableDelta, TableReset
from lk_notebook.widgets.table import ParticipantsTable
from lk_notebook.widgets.table_feed import TableFeed


def room(n: int, keys: int = 3) -> RoomState:
    state = RoomState("r")
    for i in range(n):
        attrs = {f"k{k}": f"{i}.{k}" for k in range(keys)}
        state.apply(ParticipantJoined(participant(f"p{i:03d}", attributes=attrs, is_local=i == 7), at=1.0))
    return state


def change(state: RoomState, identity: str, **changed: str) -> None:
    p = state.participants[identity]
    attrs = {**p.attributes, **changed}
    attrs = {k: v for k, v in attrs.items() if v != ""}
    state.apply(AttributesChanged(identity, frozen_map(changed), frozen_map(attrs), at=2.0))


def subscribed(state: RoomState, page_rows: int = 500) -> TableFeed:
    feed = TableFeed(state, page_rows=page_rows)
    state.subscribe(feed.note)
    return feed


def load(feed: TableFeed) -> tuple[TableReset, list[TableDelta]]:
    reset = feed.reset()
    pages = []
    while feed.loading:
        message = feed.next()
        assert message is not None
        pages.append(message)
    return reset, pages


def test_first_load_goes_in_pages_local_first_then_by_identity() -> None:
    state = room(25)
    feed = subscribed(state, page_rows=10)
    reset, pages = load(feed)
    assert list(reset["rows"])[:2] == ["p007", "p000"] and len(reset["rows"]) == 10
    assert reset["more"] == 15 and reset["cols"] == ["k0", "k1", "k2"]
    assert [len(m["pg"]) for m in pages] == [10, 5] and [m["more"] for m in pages] == [5, 0]
    every = [*reset["rows"], *(i for m in pages for i in m["pg"])]
    assert sorted(every) == sorted(state.participants) and len(every) == 25
    assert pages[0]["pg"]["p017"]["a"] == {"k0": "17.0", "k1": "17.1", "k2": "17.2"}
    assert feed.next() is None  # loaded, nothing changed
    with pytest.raises(ValueError):
        TableFeed(state, page_rows=0)


def test_changes_while_loading_are_neither_lost_nor_sent_twice() -> None:
    state = room(25)
    feed = subscribed(state, page_rows=10)
    reset = feed.reset()
    change(state, "p001", k0="sent-row")  # in the reset: a delta
    change(state, "p020", k0="unsent-row")  # in a later page: comes in full with it, not as a delta
    state.apply(ParticipantLeft("p021", "gone", at=3.0))  # never sent: nothing to remove
    state.apply(ParticipantJoined(participant("zz-new", attributes={"k9": "x"}), at=3.0))
    first = feed.next()
    assert first is not None and "p001" in reset["rows"]
    assert first["up"]["p001"] == {"a": {"k0": "sent-row"}}
    assert first["up"]["zz-new"]["a"] == {"k9": "x"}  # a joiner, in full, at once
    assert "p020" not in first["up"] and "rm" not in first
    assert first["cols"] == ["k0", "k1", "k2", "k9"]
    rest = feed.next()
    assert rest is not None and rest["more"] == 0
    assert rest["pg"]["p020"]["a"]["k0"] == "unsent-row" and "p021" not in rest["pg"]
    assert feed.next() is None


def test_cells_deletions_whole_rows_and_columns() -> None:
    state = room(5)
    feed = subscribed(state)
    load(feed)
    change(state, "p001", k1="a")
    change(state, "p001", k2="b")
    change(state, "p002", k0="")  # deleted: p000, p001, ... still have k0, so the column stays
    state.apply(MetadataChanged("p003", "", '{"x":1}', at=2.0))
    message = feed.next()
    assert message == {
        "t": "delta",
        "up": {"p001": {"a": {"k1": "a", "k2": "b"}}, "p002": {"a": {"k0": None}}, "p003": {"m": '{"x":1}'}},
    }
    for identity in ("p000", "p001", "p003", "p004"):
        change(state, identity, k0="")
    state.apply(ParticipantLeft("p004", "gone", at=3.0))
    message = feed.next()
    assert message is not None and message["rm"] == ["p004"] and message["cols"] == ["k1", "k2"]
    # A resync may change anything: every row is compared once.
    snap = [dataclass_replace(p, name="renamed") for p in state.participants.values()]
    state.apply(Snapshot("r", "", tuple(snap), at=4.0))
    message = feed.next()
    assert message is not None and {row["n"] for row in message["up"].values()} == {"renamed"}
    assert set(message["up"]) == set(state.participants)


def dataclass_replace(p: Any, **changes: Any) -> Any:
    import dataclasses

    return dataclasses.replace(p, **changes)


class CountingDict(dict[str, Any]):
    """A participants dict that counts whole-room walks (iteration, keys/values/items views)."""

    walks = 0

    def __iter__(self) -> Iterator[str]:
        CountingDict.walks += 1
        return super().__iter__()

    def keys(self) -> Any:
        CountingDict.walks += 1
        return super().keys()

    def values(self) -> Any:
        CountingDict.walks += 1
        return super().values()

    def items(self) -> Any:
        CountingDict.walks += 1
        return super().items()


def test_a_steady_state_message_never_walks_the_room() -> None:
    state = room(2000, keys=20)
    feed = subscribed(state)
    load(feed)
    state._participants = CountingDict(state._participants)
    CountingDict.walks = 0

    def no_scan() -> list[str]:
        raise AssertionError("attribute_keys() rescans the room")

    state.attribute_keys = no_scan  # type: ignore[method-assign]
    for i in range(300):
        change(state, f"p{(i * 7) % 2000:03d}", **{f"k{i % 20}": f"v{i}"})
    walks_by_changes = CountingDict.walks
    message = feed.next()
    assert message is not None and len(message["up"]) == 300
    assert CountingDict.walks == walks_by_changes  # next() walked nothing
    assert sum(len(row["a"]) for row in message["up"].values()) == 300


async def test_the_widget_sends_at_most_one_message_per_render_and_pages_on_its_own() -> None:
    state = room(1200, keys=5)
    table = ParticipantsTable(state, hz=50, page_rows=500)
    sent: list[Any] = []
    table.send = lambda content, buffers=None: sent.append(json.loads(json.dumps(content)))  # type: ignore[method-assign]
    try:
        table._on_front_end(table, {"t": "hello"}, [])
        for _ in range(500):
            if sent and not table.feed.loading:
                break
            await asyncio.sleep(0.01)
        assert [m["t"] for m in sent] == ["reset", "delta", "delta"]
        assert [m.get("more") for m in sent] == [700, 200, 0]
        assert table.last_bytes == len(json.dumps(sent[-1], separators=(",", ":")).encode())
        for i in range(1000):  # a burst, between two renders
            change(state, f"p{i % 1200:03d}", k0=f"v{i}")
        for _ in range(500):
            if sum(len(m.get("up", {})) for m in sent[3:]) >= 1000:
                break
            await asyncio.sleep(0.01)
        assert table.messages_sent <= table.live.renders
        assert sum(len(m.get("up", {})) for m in sent[3:]) == 1000  # every changed row, in one message
        assert len(sent) == 4
    finally:
        table.close()
