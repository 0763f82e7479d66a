"""Public members of the data-track model and the views that no other test calls, against the real server with a
second real session: `DataTracks.on_change`, `Composer.stop_burst` / `describe_last`, `StateEditor.reload` /
`current`, `RoomMetadataView.load_current`, `RoomPanel.on_session` / `attach`."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any, TypeVar

import pytest

import lk_notebook as lk
from lk_notebook.widgets import Composer, RoomMetadataView, RoomPanel, StateEditor

from .conftest import Sessions, eventually

pytestmark = pytest.mark.server

V = TypeVar("V", bound=Any)


def closing(sessions: Sessions, view: V) -> V:
    """Close `view` (its render loop too) when the test ends, before its sessions leave."""
    sessions.stack.callback(view.close)
    sessions.stack.callback(view.live.close)
    return view


async def test_data_tracks_on_change_hears_each_change_until_removed(sessions: Sessions, room_name: str) -> None:
    watcher = await sessions.join(room_name, "watcher")
    calls: list[int] = []
    stop = watcher.data_tracks.on_change(lambda: calls.append(watcher.data_tracks.version))
    publisher = await sessions.join(room_name, "sensor")
    track = await publisher.room.local_participant.publish_data_track(name="imu")
    await eventually(lambda: len(watcher.data_tracks.published) == 1, timeout=10, what="the track is listed")
    assert calls, "published, but on_change was not called"

    before = len(calls)
    watcher.data_tracks.subscribe("sensor", "imu")
    assert len(calls) == before + 1 and calls[-1] == watcher.data_tracks.version
    watcher.data_tracks.unsubscribe("sensor", "imu")
    assert len(calls) == before + 2
    watcher.data_tracks.unsubscribe("sensor", "imu")  # not subscribed: no change, no call
    assert len(calls) == before + 2

    await track.unpublish()
    await eventually(lambda: not watcher.data_tracks.published, what="the unpublished track is gone")
    assert len(calls) == before + 3

    stop()
    await publisher.room.local_participant.publish_data_track(name="gps")
    version = watcher.data_tracks.version
    # The change happened (the model says so), and the removed listener did not hear of it.
    await eventually(lambda: watcher.data_tracks.version > version or bool(watcher.data_tracks.published))
    assert len(calls) == before + 3


async def test_composer_stop_burst_ends_it_early_and_describe_last_says_what_went(
    sessions: Sessions, room_name: str
) -> None:
    me, peer = await sessions.two(room_name)
    got: list[lk.Message] = []
    peer.on_message(got.append, topic="burst")
    composer = closing(sessions, Composer(me, hz=20))
    assert composer.describe_last() == ""

    composer.topic.value = "burst"
    composer.payload.value = "tick"
    task = composer.send_burst(10_000, 50.0)  # 200 s if nobody stops it
    assert task is not None and not composer.stop_button.disabled and composer.burst_button.disabled
    await eventually(lambda: len(got) >= 5, what="the burst is under way")
    composer.stop_burst()
    await asyncio.wait([task], timeout=5)
    assert task.cancelled()
    assert composer.stop_button.disabled and not composer.burst_button.disabled
    note = composer.error.value
    counted = re.search(r"burst: (\d+) of 10000 sent", note)
    assert counted is not None, note
    sent = int(counted[1])
    assert 5 <= sent < 10_000, note
    composer.stop_burst()  # nothing running: no error

    # Absence by sentinel: the composer's next message to bob follows the burst on the same reliable channel.
    composer.topic.value = "chat"
    composer.destinations.value = ("bob",)
    composer.payload.value = "after the burst"
    composer.send()
    await eventually(lambda: any(m.text == "after the burst" for m in peer.inbox), what="bob gets the sentinel")
    # A stop that lands while a publish is in the SDK's hands cancels our await, not the send: one more may arrive
    # than the note counted.
    assert sent <= len(got) <= sent + 1, (len(got), sent)
    assert composer.describe_last() == "15 B reliable topic='chat' to=['bob']"


async def test_state_editor_current_and_reload_discard_edits(sessions: Sessions, room_name: str) -> None:
    me, peer = await sessions.two(room_name)
    editor = closing(sessions, StateEditor(me, hz=20))
    current = editor.current()
    assert current is not None and current.identity == "alice" and dict(current.attributes) == {"role": "host"}
    assert dict(editor.attributes.items()) == {"role": "host"}

    editor.attributes.add_row("status", "typing")
    editor.metadata.value = "not applied"
    editor.reload()
    assert dict(editor.attributes.items()) == {"role": "host"} and editor.metadata.value == ""
    assert me.state.local is not None and dict(me.state.local.attributes) == {"role": "host"}  # nothing was sent

    # Another participant as the target: current() follows it, and reload() shows its latest state.
    editor.admin_mode.value = True
    editor.target.value = "bob"
    assert (p := editor.current()) is not None and p.identity == "bob"
    await peer.set_attributes({"seat": "4"})
    await peer.set_metadata("bob's notes")
    await eventually(lambda: (b := me.state.get("bob")) is not None and b.metadata == "bob's notes")
    editor.reload()
    assert dict(editor.attributes.items()) == {"seat": "4"} and editor.metadata.value == "bob's notes"


async def test_room_metadata_view_load_current_puts_the_room_metadata_in_the_editor(
    sessions: Sessions, room_name: str
) -> None:
    me = await sessions.join(room_name, "alice")
    view = closing(sessions, RoomMetadataView(me, hz=20))
    assert view.editor.value == ""
    await me.admin.update_room_metadata(room_name, '{"stage":"live","round":2}')
    await eventually(lambda: view.text == '{"stage":"live","round":2}', what="the view's session has it")
    view.editor.value = "my unsent draft"
    view.load_current()
    assert json.loads(view.editor.value) == {"stage": "live", "round": 2}
    assert view.editor.value.startswith("{\n  ")  # pretty-printed for editing
    await me.admin.update_room_metadata(room_name, "plain text")
    await eventually(lambda: view.text == "plain text")
    view.load_current()
    assert view.editor.value == "plain text"


async def test_room_panel_attach_shows_a_session_and_on_session_hears_it(sessions: Sessions, room_name: str) -> None:
    first = await sessions.join(room_name, "first")
    second = await sessions.join(room_name, "second")
    panel = closing(sessions, RoomPanel(hz=20))
    given: list[lk.Session] = []
    panel.on_session(given.append)
    panel.attach(first)
    assert given == [first] and panel.session is first
    assert (panel.room.value, panel.identity.value, panel.url.value) == (room_name, "first", first.url)
    panel.live.render_now()
    assert "connected" in panel.status.value

    # The attached session's background failures show in the panel's error line.
    def broken(payload: bytes, sender: str, kind: lk.DataKind, at: float) -> None:
        raise ValueError("a handler bug")

    first.add_raw_handler("boom", broken)
    await second.publish("x", topic="boom")
    await eventually(lambda: "a handler bug" in panel.error.value, what="the failure in the panel's error line")

    # Attaching another session replaces the first: its failures no longer reach this panel.
    panel.error.clear()
    panel.attach(second)
    assert given == [first, second] and panel.identity.value == "second"
    errors_before = len(first.errors)
    await second.publish("y", topic="boom")
    await eventually(lambda: len(first.errors) > errors_before, what="first's handler failed again")
    assert "handler bug" not in panel.error.value
