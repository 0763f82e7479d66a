"""The wire formats between Python and the browser (widgets/protocol.py): declared once, sent to the front ends."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from lk_notebook.events import AGENT_STATE_ATTRIBUTE, ParticipantJoined, ParticipantKind
from lk_notebook.state import RoomState, participant
from lk_notebook.widgets._static import STATIC, es_module
from lk_notebook.widgets.protocol import (
    ROOMS_WIRE,
    TABLE_WIRE,
    RoomOpen,
    RoomRow,
    TableDelta,
    TableReset,
    TableRow,
    schema,
)
from lk_notebook.widgets.rooms import RoomList
from lk_notebook.widgets.table import ParticipantsTable, _row_delta, row_fields


def test_schema_gives_labels_keys_and_tags() -> None:
    # One letter a row key: bench/table.py measures bytes per render.
    assert schema(TableRow) == {
        "name": "n",
        "kind": "k",
        "joined": "j",
        "metadata": "m",
        "local": "l",
        "active": "v",
        "attributes": "a",
    }
    assert schema(TableDelta) == {
        "tag": "t",
        "is": "delta",
        "upserts": "up",
        "removed": "rm",
        "columns": "cols",
        "page": "pg",
        "more": "more",
    }
    assert schema(TableReset) == {"tag": "t", "is": "reset", "columns": "cols", "rows": "rows", "more": "more"}
    assert schema(RoomOpen) == {"tag": "t", "is": "open", "room": "room"}
    assert list(schema(RoomRow).values()) == list(RoomRow.__annotations__)
    assert json.loads(json.dumps(TABLE_WIRE)) == TABLE_WIRE  # what the traits sync must be plain JSON
    assert json.loads(json.dumps(ROOMS_WIRE)) == ROOMS_WIRE
    assert TABLE_WIRE["kinds"] == [k.value for k in ParticipantKind]
    assert TABLE_WIRE["agent_state"] == AGENT_STATE_ATTRIBUTE


def test_rows_and_deltas_use_only_declared_keys() -> None:
    bot = participant("bot", name="Bot", kind="agent", attributes={"lk.agent.state": "listening", "x": "1"})
    assert set(row_fields(bot)) == set(TableRow.__annotations__)
    renamed = dataclasses.replace(bot, name="Robot", attributes={"lk.agent.state": "speaking"})
    assert _row_delta(bot, renamed) == {"n": "Robot", "a": {"lk.agent.state": "speaking", "x": None}}
    assert _row_delta(bot, dataclasses.replace(bot)) is None  # equal fields, another object: nothing to send


def test_table_messages_match_their_schema_and_the_front_end_gets_the_wire() -> None:
    state = RoomState("r")
    state.apply(ParticipantJoined(participant("ann", attributes={"seat": "1"}), at=1.0))
    table = ParticipantsTable(state)
    try:
        assert table.wire == TABLE_WIRE
        sent: list[Any] = []
        table.send = sent.append  # type: ignore[method-assign]
        table._on_front_end(table, {TABLE_WIRE["hello"]["tag"]: TABLE_WIRE["hello"]["is"]}, [])
        table.render_now()
        reset = TABLE_WIRE["reset"]
        assert sent[-1][reset["tag"]] == reset["is"]
        assert set(sent[-1]) == {v for k, v in reset.items() if k != "is"}
        assert set(sent[-1][reset["rows"]]["ann"]) == set(TABLE_WIRE["row"].values())
    finally:
        table.close()
    assert RoomList().wire == ROOMS_WIRE


def test_front_ends_declare_no_wire_key_or_constant_of_their_own() -> None:
    for name in ("table.js", "rooms.js"):
        js = (STATIC / name).read_text()
        for kind in ParticipantKind:
            assert f'"{kind.value}"' not in js, f"{name} re-declares the participant kind {kind.value!r}"
        assert AGENT_STATE_ATTRIBUTE not in js, f"{name} re-declares the agent-state key"
        assert not re.search(r"\bmsg\.\w|\{ ?t: ", js), f"{name} reads or writes a message key by hand"
        assert not re.search(r"\br\.[a-z]\b", js), f"{name} reads a short row key by hand"
        # One ES module: the shared helpers first, then the widget's own code (no build step).
        module = es_module(name)
        assert module.index("function listView(") < module.index("function render(")
