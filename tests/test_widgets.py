"""Every view's model, without a browser, against a real server and a second real client.

What the views show must come from someone else: a second `lk_notebook.join` (another SDK participant) changes
state and sends messages; the widgets' kernel-side models (traits, HTML values, messages sent to the browser) are
checked. The browser itself is exercised in tests/browser/.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials, Grants
from lk_notebook.widgets import (
    Composer,
    Dashboard,
    DataTracksView,
    LogView,
    MessageLog,
    ParticipantsTable,
    RoomMetadataView,
    RoomPanel,
    StateEditor,
    show,
)
from lk_notebook.widgets.composer import code_snippets, parse_payload
from lk_notebook.widgets.editor import attribute_changes
from lk_notebook.widgets.messages import preview

from .conftest import eventually, join_args

pytestmark = pytest.mark.server


@pytest.fixture
async def pair(credentials: Credentials, room_name: str) -> AsyncIterator[tuple[lk.Session, lk.Session]]:
    """`me` (the notebook's session) and `peer` (a second real client that joined second, with attributes)."""
    me = await lk.join(room_name, identity="me", name="Me", attributes={"role": "host"}, **join_args(credentials))
    peer = await lk.join(
        room_name,
        identity="peer",
        name="Peer",
        attributes={"color": "red", "seat": "3"},
        metadata='{"team": "blue", "level": 2}',
        **join_args(credentials),
    )
    await eventually(lambda: (p := me.state.get("peer")) is not None and p.active, what="me sees peer active")
    try:
        yield me, peer
    finally:
        await peer.leave()
        await me.leave()


V = TypeVar("V", bound=Any)


class Views:
    """Registers each view a test makes, so the `views` fixture closes every one, whatever the test's outcome."""

    def __init__(self) -> None:
        self.made: list[Any] = []

    def __call__(self, view: V) -> V:
        self.made.append(view)
        return view


@pytest.fixture
async def views() -> AsyncIterator[Views]:
    """`views(SomeView(...))` is closed at the end of the test, before the sessions of `pair` leave."""
    made = Views()
    try:
        yield made
    finally:
        for view in reversed(made.made):
            view.close()


async def close_shown(dash: Dashboard) -> None:
    """Close what `show` returned and leave the session it joined (the view does not own it)."""
    session = dash.session
    dash.close()
    if session is not None:
        await session.leave()


class Recorder:
    """Captures what a widget sends to the browser as custom messages."""

    def __init__(self, widget: Any) -> None:
        self.messages: list[dict[str, Any]] = []
        widget.send = self._send

    def _send(self, content: dict[str, Any], buffers: object = None) -> None:
        self.messages.append(json.loads(json.dumps(content)))

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m.get("t") == kind]


# -- pure helpers -----------------------------------------------------------------------------------------------------
def test_attribute_changes_deletes_removed_rows_and_keeps_unchanged_out() -> None:
    current = {"a": "1", "b": "2", "c": "3"}
    assert attribute_changes(current, [("a", "1"), ("b", "20"), ("d", "4")]) == {"b": "20", "d": "4", "c": ""}
    assert attribute_changes(current, [("a", ""), ("b", "2"), ("c", "3")]) == {"a": ""}
    assert attribute_changes({}, [("x", "")]) == {}


def test_parse_payload_modes_and_errors() -> None:
    assert parse_payload("text", "héllo") == "héllo".encode()
    assert parse_payload("JSON", '{"a": 1}') == b'{"a": 1}'
    assert parse_payload("hex", "de ad\nBE ef") == b"\xde\xad\xbe\xef"
    assert parse_payload("base64", "3q2+7w==") == b"\xde\xad\xbe\xef"
    for mode, bad in (("JSON", "{nope"), ("hex", "xyz"), ("base64", "***"), ("morse", "")):
        with pytest.raises(lk.InvalidInputError):
            parse_payload(mode, bad)


def test_code_snippets_say_the_same_call() -> None:
    snips = code_snippets(
        b"hi", mode="text", text="hi", reliable=False, topic="chat", destinations=["bob"], room="r", identity="me"
    )
    assert "publish_data(" in snips["Python"] and "reliable=False" in snips["Python"]
    assert "destination_identities=['bob']" in snips["Python"] and "topic='chat'" in snips["Python"]
    assert "publishData(" in snips["JavaScript"] and 'destinationIdentities: ["bob"]' in snips["JavaScript"]
    assert "no lossy" in snips["lk CLI"]
    rel = code_snippets(
        b"hi", mode="text", text="hi", reliable=True, topic="t", destinations=["b"], room="r", identity="me"
    )
    assert "lk room send-data --room 'r' --topic 't' --identity 'b' 'hi'" in rel["lk CLI"]
    binary = code_snippets(
        b"\x00", mode="hex", text="00", reliable=True, topic="", destinations=[], room="r", identity="m"
    )
    assert "bytes.fromhex('00')" in binary["Python"] and "atob(" in binary["JavaScript"]


def test_preview_text_json_hex() -> None:
    assert preview(b'{ "a" : 1 }') == ("JSON", '{"a":1}')
    assert preview(b"plain") == ("text", "plain")
    assert preview(b"\xff\x00")[0] == "hex"


# -- ParticipantsTable ------------------------------------------------------------------------------------------------
async def test_table_sends_full_rows_once_then_only_changed_cells(pair: tuple[lk.Session, lk.Session]) -> None:
    me, peer = pair
    table = ParticipantsTable(me, hz=20)
    rec = Recorder(table)
    try:
        table._on_front_end(table, {"t": "hello"}, [])  # a browser view appears
        await eventually(lambda: bool(rec.of("reset")), what="full table sent once")
        reset = rec.of("reset")[-1]
        assert set(reset["rows"]) == {"me", "peer"}
        assert reset["rows"]["me"]["l"] is True and reset["rows"]["peer"]["l"] is False
        assert reset["rows"]["peer"]["a"] == {"color": "red", "seat": "3"}
        assert reset["rows"]["peer"]["m"] == '{"team": "blue", "level": 2}'
        assert reset["rows"]["peer"]["n"] == "Peer" and reset["rows"]["peer"]["j"] > 0
        assert reset["cols"] == ["color", "role", "seat"]

        # The other client changes one attribute: the browser gets that one cell, not the table.
        rec.messages.clear()
        await peer.set_attributes({"color": "green"})
        await eventually(lambda: bool(rec.of("delta")), what="delta sent by the render task")
        deltas = rec.of("delta")
        assert deltas[-1]["up"] == {"peer": {"a": {"color": "green"}}}
        assert "rm" not in deltas[-1] and "cols" not in deltas[-1]

        # A new key adds a column; a deleted key sends null and drops the column when nobody has it.
        rec.messages.clear()
        await peer.set_attributes({"mood": "ok", "seat": ""})
        await eventually(lambda: any("cols" in d for d in rec.of("delta")), what="column change")
        merged: dict[str, Any] = {}
        for d in rec.of("delta"):
            merged.update(d.get("up", {}).get("peer", {}).get("a", {}))
        assert merged == {"mood": "ok", "seat": None}
        assert [d["cols"] for d in rec.of("delta") if "cols" in d][-1] == ["color", "mood", "role"]

        # Leaving removes the row.
        rec.messages.clear()
        await peer.leave()
        await eventually(lambda: any(d.get("rm") == ["peer"] for d in rec.of("delta")), what="row removed")
        assert table.stats["renders"] >= 3 and table.stats["bytes"] > 0
    finally:
        table.close()
    assert table.live.closed and not table.live.running


async def test_table_coalesces_bursts_and_stops_when_session_leaves(pair: tuple[lk.Session, lk.Session]) -> None:
    me, peer = pair
    table = ParticipantsTable(me, hz=5)
    rec = Recorder(table)
    table._on_front_end(table, {"t": "hello"}, [])
    await eventually(lambda: bool(rec.of("reset")), what="reset")
    for i in range(20):
        await peer.set_attributes({"n": str(i)}, confirm=False)
    await eventually(
        lambda: (p := me.state.get("peer")) is not None and p.attributes.get("n") == "19", what="all 20 arrive"
    )
    await eventually(
        lambda: any(d.get("up", {}).get("peer", {}).get("a", {}).get("n") == "19" for d in rec.of("delta")),
        what="last value rendered",
    )
    # 20 changes arrived well within a few render periods: far fewer messages than changes.
    assert len(rec.of("delta")) < 20
    assert table.live.running
    await me.leave()
    await eventually(lambda: not table.live.running, what="render task stops when the session leaves")
    assert "disconnected" in table.status
    table.close()


# -- RoomPanel --------------------------------------------------------------------------------------------------------
async def test_room_panel_joins_shows_status_and_leaves(credentials: Credentials, room_name: str) -> None:
    panel = RoomPanel(room=room_name, identity="panel-user", attributes={"k": "v"}, metadata='{"x": 1}')
    try:
        assert panel.url.value == credentials.url  # prefilled from LIVEKIT_URL, exported by conftest
        assert credentials.api_secret not in repr(panel.get_state())
        panel.join()
        await eventually(lambda: panel.session is not None, timeout=20, what="panel joined")
        session = panel.session
        assert session is not None
        assert dict(session.state.local.attributes) == {"k": "v"}  # type: ignore[union-attr]
        await eventually(lambda: "connected" in panel.status.value, what="status connected")
        assert panel.leave_button.disabled is False
        panel.leave()
        await eventually(lambda: "disconnected (" in panel.status.value, what="status shows the reason")
        assert session.closed
    finally:
        panel.close()
        if panel.session is not None:
            await panel.session.leave()


async def test_room_panel_shows_bad_input_and_join_errors_inline(
    credentials: Credentials, room_name: str, views: Views
) -> None:
    panel = views(RoomPanel(identity="x"))
    panel.join()
    assert "enter a room name" in panel.error.value
    panel.room.value = room_name
    panel.url.value = "ws://127.0.0.1:9"  # nothing listens on the discard port
    panel.join()
    await eventually(lambda: "UnreachableError" in panel.error.value, timeout=20, what="unreachable shown")
    assert panel.session is None and panel.join_button.disabled is False


async def test_room_panel_token_is_used_once_and_never_state(credentials: Credentials, room_name: str) -> None:
    token = credentials.token(room_name, "token-user")
    panel = RoomPanel(room=room_name, identity="token-user")
    try:
        panel.token._on_front_end(panel.token, {"t": "secret", "v": token}, [])  # what the browser sends on paste
        assert panel.token.filled
        for widget in (panel, panel.token):
            assert token not in json.dumps(widget.get_state(), default=str)
        assert token not in repr(panel.token)
        panel.join()
        await eventually(lambda: panel.session is not None, timeout=20, what="joined with the token")
        assert not panel.token.filled and panel.token.take() == ""
        assert panel.session is not None and panel.session.identity == "token-user"
    finally:
        panel.close()
        if panel.session is not None:
            await panel.session.leave()


# -- RoomMetadataView -------------------------------------------------------------------------------------------------
async def test_room_metadata_view_live_and_editable(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    view = views(RoomMetadataView(me, hz=20))
    assert view.can_edit
    # Set by someone else (the server API from the peer's credentials): the view follows.
    await peer.admin.update_room_metadata(me.room_name, '{"topic":"intro","n":1}')
    await eventually(lambda: "&quot;topic&quot;: &quot;intro&quot;" in view.display.value, what="pretty JSON")
    assert 'data-kind="JSON"' in view.display.value
    # Edited here: the other client sees it.
    view.editor.value = "plain text now"
    view.apply()
    await eventually(lambda: peer.state.room_metadata == "plain text now", what="peer sees the edit")
    await eventually(lambda: 'data-kind="text"' in view.display.value, what="view shows text")
    view.json_mode.value = True
    view.editor.value = "{broken"
    view.apply()
    assert "not valid JSON" in view.error.value


# -- StateEditor ------------------------------------------------------------------------------------------------------
async def test_state_editor_edits_own_attributes_and_metadata(
    pair: tuple[lk.Session, lk.Session], views: Views
) -> None:
    me, peer = pair
    editor = views(StateEditor(me, hz=20))
    assert editor.attributes.items() == [("role", "host")]
    assert 'data-size="8"' in editor.meter.value  # "role" + "host"
    editor.attributes.add_row("status", "away")
    editor.apply_attributes()
    await eventually(
        lambda: (p := peer.state.get("me")) is not None and p.attributes.get("status") == "away",
        what="peer sees the new attribute",
    )
    # Delete a row: the key is sent as "" and disappears.
    await eventually(lambda: not editor._edited, what="editor settled")
    editor.attributes.remove_row(editor.attributes.rows[0])  # role
    editor.apply_attributes()
    await eventually(
        lambda: (p := peer.state.get("me")) is not None and "role" not in p.attributes, what="role deleted"
    )
    # Metadata in JSON mode is validated before anything is sent.
    editor.metadata_mode.value = "JSON"
    editor.metadata.value = "{oops"
    editor.apply_metadata()
    assert "not valid JSON" in editor.error.value
    editor.metadata.value = '{"ok": true}'
    editor.apply_metadata()
    await eventually(
        lambda: (p := peer.state.get("me")) is not None and p.metadata == '{"ok": true}', what="metadata arrives"
    )
    await eventually(lambda: "metadata of me updated" in editor.error.value, what="own echo confirmed")
    # Over 64 KiB: the meter turns red and the error is shown, nothing sent.
    editor.attributes.add_row("big", "x" * 70_000)
    assert "over the 65,536 B limit" in editor.meter.value
    editor.apply_attributes()
    await eventually(lambda: "TooLargeError" in editor.error.value, what="too large shown")


async def test_state_editor_admin_mode_edits_anyone(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    editor = views(StateEditor(me, hz=20))
    editor.admin_mode.value = True
    assert "peer" in editor.target.options
    editor.target.value = "peer"
    assert dict(editor.attributes.items()) == {"color": "red", "seat": "3"}
    editor.attributes.add_row("badge", "gold")
    editor.apply_attributes()
    await eventually(lambda: peer.state.local.attributes.get("badge") == "gold", what="peer's own view")  # type: ignore[union-attr]
    editor.metadata.value = "set by admin"
    editor.apply_metadata()
    await eventually(lambda: peer.state.local.metadata == "set by admin", what="peer metadata")  # type: ignore[union-attr]


async def test_state_editor_shows_refusal_inline(credentials: Credentials, room_name: str) -> None:
    s = await lk.join(
        room_name, identity="muted", grants=Grants(can_update_own_metadata=False), **join_args(credentials)
    )
    editor = StateEditor(s, hz=20)
    try:
        editor.attributes.add_row("x", "1")
        editor.apply_attributes()
        await eventually(lambda: "UpdateRefusedError" in editor.error.value, what="refusal shown")
        assert "canUpdateOwnMetadata" in editor.error.value
    finally:
        editor.close()
        await s.leave()


# -- Composer ---------------------------------------------------------------------------------------------------------
async def test_composer_sends_to_the_other_client(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    got: list[lk.Message] = []
    peer.on_message(got.append)
    composer = views(Composer(me, hz=20))
    await eventually(lambda: list(composer.destinations.options) == ["peer"], what="destinations fed live")
    composer.payload.value = '{"hello": "peer"}'
    composer.mode.value = "JSON"
    composer.topic.value = "chat"
    composer.destinations.value = ("peer",)
    assert "reliable" in composer.promise.value and "no retransmit limit" in composer.promise.value
    assert "destination_identities=[&#x27;peer&#x27;]" in composer.code.value
    composer.send()
    await eventually(lambda: len(got) == 1, what="peer got the message")
    assert got[0].payload == b'{"hello": "peer"}' and got[0].topic == "chat" and got[0].sender == "me"
    assert "sent 17 B reliable on topic &#x27;chat&#x27; to peer" in composer.sent_line.value

    # Lossy, hex, to the whole room.
    composer.reliable.value = "lossy"
    assert "sent once" in composer.promise.value
    composer.mode.value = "hex"
    composer.payload.value = "de ad be ef"
    composer.destinations.value = ()
    composer.send()
    await eventually(lambda: len(got) == 2, what="lossy hex arrives")
    assert got[1].payload == b"\xde\xad\xbe\xef" and got[1].kind is lk.DataKind.LOSSY

    # A burst of N at rate R.
    composer.reliable.value = "reliable"
    composer.mode.value = "text"
    composer.payload.value = "tick"
    task = composer.send_burst(5, 100.0)
    assert task is not None
    await task
    await eventually(lambda: len(got) == 7, what="burst arrives")
    assert "burst: 5 of 5 sent" in composer.error.value

    # Bad input and oversize: shown inline, nothing sent, kernel fine.
    composer.mode.value = "JSON"
    composer.payload.value = "{bad"
    assert composer.send() is None and "not valid JSON" in composer.error.value
    composer.mode.value = "text"
    composer.payload.value = "x" * 70_000
    assert "over the 64,000 B limit" in composer.meter.value
    composer.send()
    await eventually(lambda: "TooLargeError" in composer.error.value, what="too large shown")
    composer.payload.value = "y" * 2_000
    composer.reliable.value = "lossy"
    assert "over LiveKit&#x27;s advice of 1,300 B" in composer.meter.value
    composer.send()
    await eventually(lambda: "SizeWarning" in composer.sent_line.value or "advice" in composer.sent_line.value)
    assert len(got) <= 8


async def test_composer_topics_seen_so_far(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    composer = views(Composer(me, hz=20))
    await peer.publish("x", topic="news")
    await eventually(lambda: "news" in composer.topic.options, what="topic offered")


# -- MessageLog -------------------------------------------------------------------------------------------------------
async def test_message_log_filter_pause_clear_bounded(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    log = views(MessageLog(me, limit=5, hz=20))
    await peer.publish({"a": 1}, topic="json")
    await peer.publish(b"\x00\xff", topic="bin")
    await eventually(lambda: len(log.messages) == 2, what="both received")
    await eventually(lambda: "<code>{&quot;a&quot;:1}</code>" in log.table.value, what="JSON preview")
    assert "00 ff" in log.table.value and "peer" in log.table.value
    await eventually(lambda: "json" in log.topic_filter.options, what="topic listed")
    log.topic_filter.value = "bin"
    assert [m.topic for m in log.visible()] == ["bin"]
    log.topic_filter.value = "(all topics)"
    # Sent messages appear only when asked for.
    await me.publish("mine")
    await eventually(lambda: len(log.messages) == 3, what="sent kept")
    assert all(not m.sent for m in log.visible())
    log.show_sent.value = True
    assert any(m.sent for m in log.visible())
    # Pause: counted, not kept.
    log.pause.value = True
    await peer.publish("while paused")
    await eventually(lambda: log.missed_while_paused == 1, what="counted while paused")
    assert len(log.messages) == 3
    log.pause.value = False
    # Bounded.
    for i in range(8):
        await peer.publish(f"m{i}")
    await eventually(lambda: log.messages[-1].text == "m7", what="all arrive")
    assert len(log.messages) == 5
    log.clear()
    assert log.messages == ()


# -- LogView ----------------------------------------------------------------------------------------------------------
async def test_log_view_collects_sdk_log_lines_from_another_thread() -> None:
    logger = logging.getLogger("livekit")
    before = logger.propagate
    view = LogView(hz=20)
    try:
        assert logger.propagate is False
        t = threading.Thread(target=lambda: logger.warning("native says hi token=%s", "eyJabcdefgh.ijklmnopq.rstu"))
        t.start()
        t.join()
        await eventually(lambda: "native says hi" in view.output.value, what="line rendered")
        assert "eyJabcdefgh" not in view.output.value and "&lt;token&gt;" in view.output.value
        assert view.lines[-1].thread != threading.current_thread().name
    finally:
        view.close()
    assert logger.propagate is before


# -- Dashboard and show() ---------------------------------------------------------------------------------------------
async def test_dashboard_builds_every_view_and_closes_them(pair: tuple[lk.Session, lk.Session]) -> None:
    me, _peer = pair
    dash = Dashboard(me)
    # Five views that render on their own, and the agent panels (one per agent once one joins; none here).
    assert len(dash.views) == 6 and dash.agent_panels in dash.views
    views = [v for v in dash.views if v is not dash.agent_panels]
    assert dash.table is not None and dash.table.session is me
    tasks_before = sum(len(v.live.tasks) for v in views)
    assert tasks_before >= 5
    dash.close()
    assert all(v.live.closed for v in views)
    # The cancelled tasks leave their owners as they finish, on the loop's next turns.
    await eventually(lambda: sum(len(v.live.tasks) for v in views) == 0, what="every view's tasks have ended")


async def test_show_joins_in_background_then_reuses(credentials: Credentials, room_name: str) -> None:
    dash = show(room_name, identity="shown", attributes={"via": "show"})
    try:
        assert dash.session is None  # returned at once; joining runs as a task
        await eventually(lambda: dash.session is not None, timeout=20, what="joined")
        assert dash.table is not None and dash.session is not None
        again = show(room_name, identity="shown")
        assert again.session is dash.session
        again.close()
    finally:
        await close_shown(dash)


async def test_table_shows_a_failed_render_and_keeps_going(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    table = views(ParticipantsTable(me, hz=20))
    rec = Recorder(table)
    real = table.live._render
    calls = {"n": 0}

    def flaky() -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom")
        real()

    table.live._render = flaky
    table._on_front_end(table, {"t": "hello"}, [])
    await eventually(lambda: "RuntimeError: boom" in table.error, what="error shown in the table")
    await peer.set_attributes({"color": "after"})
    await eventually(lambda: bool(rec.of("reset")) or bool(rec.of("delta")), what="renders resume")
    assert table.live.running


async def test_dashboard_rebinds_views_after_leave_and_join(pair: tuple[lk.Session, lk.Session]) -> None:
    me, _peer = pair
    dash = Dashboard(me)
    try:
        old_table = dash.table
        assert old_table is not None
        dash.panel.leave()
        await eventually(lambda: me.closed, what="left")
        await eventually(lambda: not old_table.live.running, what="views stop when the session leaves")
        dash.panel.join()
        await eventually(lambda: dash.session is not None and dash.session is not me, timeout=20, what="rejoined")
        assert dash.table is not None and dash.table is not old_table and old_table.live.closed
        assert dash.table.session is dash.session
    finally:
        session = dash.session
        dash.close()
        if session is not None and session is not me:
            await session.leave()


class _Recorder(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def test_log_view_gets_real_sdk_lines_instead_of_cells(credentials: Credentials, room_name: str) -> None:
    # A handler of our own on the root logger, not caplog: pytest also attaches caplog's handler to every logger
    # that does not propagate when a test starts, so caplog would see the SDK's lines whenever a view was open then.
    root_handler = _Recorder()
    logging.getLogger().addHandler(root_handler)
    view = LogView(hz=20)
    try:
        with pytest.raises(lk.AuthenticationError):
            await lk.join(
                room_name, identity="bad", url=credentials.url, api_key=credentials.api_key, api_secret="w" * 40
            )
        await eventually(
            lambda: any(line.logger.startswith("livekit") and "401" in line.message for line in view.lines),
            what="the SDK's 401 lines captured",
        )
        sdk_lines = [line for line in view.lines if line.logger.startswith("livekit")]
        assert any(line.thread != threading.current_thread().name for line in sdk_lines)  # from the native thread
        assert all("eyJ" not in line.message for line in view.lines)  # the refused token is scrubbed
        assert not any(r.name.startswith("livekit") for r in root_handler.records)  # nothing reached the root
        await eventually(lambda: "401" in view.output.value, what="rendered")
    finally:
        view.close()
        logging.getLogger().removeHandler(root_handler)


async def test_room_panel_shows_reconnecting_then_connected(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    from livekit import rtc

    me, _peer = pair
    panel = views(RoomPanel(me))
    seen: list[str] = []
    panel.status.observe(lambda change: seen.append(change["new"]), names="value")
    await me.room.simulate_scenario(rtc.SimulateScenarioKind.SIMULATE_FULL_RECONNECT)  # type: ignore[arg-type]
    await eventually(lambda: any("● reconnecting" in v for v in seen), timeout=15, what="reconnecting shown")
    await eventually(lambda: "● connected" in panel.status.value, timeout=20, what="connected again")


async def test_show_twice_while_joining_does_not_join_twice(credentials: Credentials, room_name: str) -> None:
    first = show(room_name, identity="twice")
    second = show(room_name, identity="twice")
    try:
        assert second is first
        await eventually(lambda: first.session is not None, timeout=20, what="joined once")
        third = show(room_name, identity="twice")
        assert third is not first and third.session is first.session
        third.close()
    finally:
        await close_shown(first)


def test_exported_names() -> None:
    import lk_notebook.widgets as widgets

    assert widgets.__all__ == sorted(widgets.__all__, key=lambda n: (n[0].islower(), n))
    for name in widgets.__all__:
        assert getattr(widgets, name) is not None
    assert {"Dashboard", "show", "ParticipantsTable", "RoomPanel", "Composer", "MessageLog"} <= set(widgets.__all__)


async def test_room_panel_shows_removal_by_the_server(pair: tuple[lk.Session, lk.Session], views: Views) -> None:
    me, peer = pair
    panel = views(RoomPanel(me))
    await peer.admin.remove_participant(me.room_name, "me")
    await eventually(lambda: "● disconnected (" in panel.status.value, timeout=10, what="status disconnected")
    await eventually(lambda: "SessionClosedError" in panel.error.value, what="the session's error shown inline")
    assert panel.join_button.disabled is False  # can join again


async def test_views_of_a_left_session_say_so_and_refuse_to_act(pair: tuple[lk.Session, lk.Session]) -> None:
    me, _ = pair
    composer, editor, metadata, log = Composer(me), StateEditor(me), RoomMetadataView(me), MessageLog(me)
    tracks = DataTracksView(me)
    views = [composer, editor, metadata, log, tracks]
    try:
        await me.leave()
        await eventually(lambda: not any(v.live.running for v in views), what="every view's render task ends")
        for view in views:  # each says so, in its own error line
            assert "has left room" in view.error.value, (type(view).__name__, view.error.value)
        sent_before = len(me.inbox)
        composer.payload.value = "after leave"
        assert composer.send() is None  # refused at once: no task was started
        assert "cannot send from this composer" in composer.error.value
        assert len(me.inbox) == sent_before  # nothing was published (sent messages are recorded here)
        # The server API would still work without a session; these views must refuse anyway.
        metadata.editor.value = '{"changed": "after leave"}'
        metadata.apply()
        editor.admin_mode.value = True
        editor.metadata.value = "after leave"
        editor.apply_metadata()
        for view in (metadata, editor):
            assert len(view.live.tasks) == 0, type(view).__name__
            assert "cannot edit" in view.error.value, view.error.value
        tracks.toggle("peer", "any-track")
        assert "cannot subscribe to peer/any-track" in tracks.error.value, tracks.error.value
    finally:
        for view in views:
            view.close()
    async with lk.ServerAPI(me.credentials) as admin:  # type: ignore[arg-type]
        rooms = {r.name: r.metadata for r in await admin.list_rooms()}
    assert "after leave" not in rooms.get(me.room_name, "")
