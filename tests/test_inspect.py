"""The inspector against a real server and real peers: hidden, kinds, data tracks, the API-only observer, bad input.

Every peer here is a separate real SDK participant (`lk.join` or a raw `rtc.Room`), so what the inspector shows
came from someone else; the hidden check includes LiveKit's JS SDK (livekit-client) in Chromium.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from livekit import rtc

import lk_notebook as lk
from lk_notebook.config import Credentials, Grants
from lk_notebook.widgets import DataTracksView, ObserverView, ParticipantsTable, RoomBrowser, RoomPanel

from .conftest import Sessions, eventually, join_args
from .jsclient import JsPeerFactory

pytestmark = pytest.mark.server


@pytest.fixture
async def peers(sessions: Sessions, room_name: str) -> tuple[lk.Session, lk.Session]:
    """Two visible peers with attributes; the second joined as an agent with an agent state."""
    ann = await sessions.join(room_name, "ann", attributes={"role": "host"})
    bot = await sessions.join(room_name, "bot", attributes={"lk.agent.state": "listening"}, grants=Grants(kind="agent"))
    return ann, bot


async def test_hidden_inspector_sees_peers_and_is_not_seen(
    peers: tuple[lk.Session, lk.Session],
    credentials: Credentials,
    sessions: Sessions,
    room_name: str,
    js_peer: JsPeerFactory,
) -> None:
    ann, bot = peers
    raw = rtc.Room()  # the raw SDK, no lk_notebook in between
    await raw.connect(credentials.url, credentials.token(room_name, "raw-peer"))
    sessions.stack.push_async_callback(raw.disconnect)
    js = await js_peer(room_name, "js-peer", attributes={"client": "browser"})  # livekit-client in Chromium
    inspector = await sessions.keep(await lk.inspect(room_name, **join_args(credentials)))
    try:
        assert inspector.hidden and "(hidden)" in repr(inspector)
        # Its own view leaves it out, as everyone else's does: no extra "standard" participant.
        assert inspector.identity not in inspector.state and inspector.state.local is None
        everyone = {"ann", "bot", "raw-peer", "js-peer"}
        await eventually(lambda: everyone <= set(inspector.state.participants), what="sees peers")
        assert inspector.state.get("ann").attributes["role"] == "host"  # type: ignore[union-attr]
        assert inspector.state.get("js-peer").attributes["client"] == "browser"  # type: ignore[union-attr]
        # A later join is seen too, and the peers' changes reach it.
        await bot.set_attributes({"lk.agent.state": "thinking"})
        await eventually(lambda: inspector.state.get("bot").agent_state == "thinking", what="agent state")  # type: ignore[union-attr]
        # A visible participant joins after the inspector: the server announces joins in order, so once the
        # peers list "late", they would already list the inspector if it were visible.
        await sessions.join(room_name, "late")
        await eventually(lambda: "late" in ann.state and "late" in bot.state, what="sessions see the late one")
        await eventually(lambda: "late" in raw.remote_participants, what="the raw SDK sees the late one")

        async def js_sees_the_others() -> bool:
            return {"ann", "bot", "raw-peer", "late"} <= set(await js.identities())

        await eventually(js_sees_the_others, what="the JS peer sees the others")
        # ...but none of them lists it: not the JS SDK, not the raw Python SDK, not lk_notebook's sessions.
        assert inspector.identity not in await js.identities()
        assert not [e for e in await js.events("participant_connected") if e["identity"] == inspector.identity]
        assert inspector.identity not in raw.remote_participants
        assert inspector.identity not in ann.state and inspector.identity not in bot.state
        with pytest.raises(lk.PublishError, match="publishes nothing"):
            await inspector.publish("hello")
        panel = RoomPanel(inspector)
        panel.live.render_now()
        assert "inspecting (hidden)" in panel.status.value
        panel.close()
    finally:
        await js.disconnect()


async def test_agent_kind_shows_as_agent_with_its_state(peers: tuple[lk.Session, lk.Session]) -> None:
    ann, _bot = peers
    await eventually(lambda: "bot" in ann.state, what="ann sees bot")
    bot = ann.state.get("bot")
    assert bot is not None and bot.kind is lk.ParticipantKind.AGENT and bot.agent_state == "listening"
    assert ann.state.get("ann").kind is lk.ParticipantKind.STANDARD  # type: ignore[union-attr]
    frame = ann.state.to_frame()
    assert frame.loc["bot", "kind"] == "agent" and frame.loc["bot", "lk.agent.state"] == "listening"
    table = ParticipantsTable(ann)
    sent: list[dict[str, Any]] = []
    table.send = lambda content, buffers=None: sent.append(content)
    table._on_front_end(table, {"t": "hello"}, [])
    table.render_now()
    rows = sent[-1]["rows"]
    assert rows["bot"]["k"] == "agent" and rows["ann"]["k"] == "standard"
    table.close()
    # The server API says the same.
    participants = {p.identity: p for p in await ann.admin.list_participants(ann.room_name)}
    assert participants["bot"].kind is lk.ParticipantKind.AGENT


async def test_data_track_listed_and_subscribing_shows_its_rate(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    publisher = await sessions.join(room_name, "sensor")
    track = await publisher.room.local_participant.publish_data_track(name="imu")
    pushed: list[float] = []  # when each frame was pushed, on the wall clock the receiver's stats use
    start = time.monotonic()

    async def pump() -> None:
        while True:
            track.try_push(rtc.DataTrackFrame(payload=bytes(120)))
            pushed.append(time.time())
            await asyncio.sleep(0.02)

    pumping = asyncio.create_task(pump())
    sessions.stack.callback(lambda: pumping.cancel())  # the latest pump, also when the join below fails
    inspector = await sessions.keep(
        await lk.inspect(room_name, **join_args(credentials))
    )  # after the track's publication
    view = DataTracksView(inspector)
    try:
        await eventually(lambda: len(inspector.data_tracks.published) == 1, what="track listed")
        listed = inspector.data_tracks.published[0]
        assert (listed.publisher, listed.name) == ("sensor", "imu")
        view.live.render_now()
        assert "1 published" in view.header.value
        view.toggle("sensor", "imu")  # the Subscribe button
        sub = inspector.data_tracks.subscription("sensor", "imu")
        assert sub is not None
        await eventually(lambda: sub.stats.frames > 0, what="frames arrive")
        await asyncio.sleep(sub.stats.window + 0.5)
        now = time.time()
        snap = sub.stats.snapshot(now)
        # What the sender managed on this loaded machine over the same window as the receiver's rate: a stall of
        # the host before the window then slows neither side (over a longer span, one once could use up the
        # tolerance on its own). Tolerance: frames may bunch by up to the server's data-track target latency
        # (100 ms) at each end of the 2 s window: 2 x 0.1 s / 2 s = 10% of the rate, plus one frame per window for
        # the window's edge.
        sent_rate = sum(1 for t in pushed if now - sub.stats.window <= t <= now) / sub.stats.window
        assert abs(snap.fps - sent_rate) <= 0.1 * sent_rate + 1 / sub.stats.window, (snap, sent_rate)
        assert snap.min_size == snap.max_size == 120
        # A gap: the sender pauses 400 ms. Delivery may bunch by up to the 100 ms target latency, so the receiver
        # sees an interval of at least 300 ms, over 3x the usual ~20 ms.
        gaps_before = snap.gaps
        pumping.cancel()
        await asyncio.sleep(0.4)
        pumping = asyncio.create_task(pump())
        await eventually(lambda: sub.stats.snapshot().max_gap_ms >= 300, what="the pause seen as one long interval")
        assert sub.stats.gaps > gaps_before
        view.live.render_now()
        row = view._rows[("sensor", "imu")]
        assert "frames/s" in row.stats.value and row.button.description == "Unsubscribe"
        frame = inspector.data_tracks.frame()
        assert frame.loc[0, "subscribed"] and frame.loc[0, "fps"] > 0
        view.toggle("sensor", "imu")
        assert inspector.data_tracks.subscription("sensor", "imu") is None
    finally:
        view.close()
        pumping.cancel()
    assert time.monotonic() - start < 60


async def test_no_permission_to_subscribe_is_a_clear_error_in_the_view(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    publisher = await sessions.join(room_name, "sensor")
    track = await publisher.room.local_participant.publish_data_track(name="imu")  # unpublished if collected
    allowed = await sessions.keep(await lk.inspect(room_name, **join_args(credentials)))
    inspector = await sessions.keep(
        await lk.inspect(room_name, grants=Grants(can_subscribe=False), **join_args(credentials))
    )
    view = DataTracksView(inspector)
    try:
        # The track exists (an inspector with the permission lists it); without it, the server announces none.
        await eventually(lambda: len(allowed.data_tracks.published) == 1, what="track listed to the allowed one")
        with pytest.raises(lk.InvalidInputError, match="no data track sensor/nope"):
            allowed.data_tracks.subscribe("sensor", "nope")
        assert not inspector.data_tracks.can_subscribe
        with pytest.raises(lk.SubscribeError, match="lacks canSubscribe"):
            inspector.data_tracks.subscribe("sensor", "imu")
        view.live.render_now()
        assert "SubscribeError" in view.error.value and "canSubscribe" in view.error.value
        view.toggle("sensor", "imu")
        assert "lacks canSubscribe" in view.error.value
    finally:
        view.close()
        del track


async def test_api_observer_shows_participants_and_changes_within_its_interval(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    ann = await sessions.join(room_name, "ann", attributes={"mood": "calm"})
    interval = 0.5
    observer = lk.observe(room_name, admin=lk.ServerAPI(credentials), interval=interval)
    view = ObserverView(observer)
    try:
        await eventually(lambda: "ann" in observer.state, what="observer lists ann")
        assert observer.state.get("ann").attributes["mood"] == "calm"  # type: ignore[union-attr]
        view.live.render_now()
        assert "server API only: no messages" in view.label.value
        await ann.set_attributes({"mood": "excited"})  # returns once the server has echoed it to ann
        changed_at = time.monotonic()
        started = observer.poller.calls  # the last of these may have read the room before the change
        await eventually(lambda: observer.poller.completed > started, timeout=10, what="the next poll completed")
        # Within its polling interval: the first poll that started after the change shows it.
        assert observer.state.get("ann").attributes["mood"] == "excited"  # type: ignore[union-attr]
        print(f"observer saw the change {time.monotonic() - changed_at:.2f} s after it (interval {interval} s)")
        assert any(c.kind == "attribute" and c.new == "excited" for c in observer.state.history)
        # Metadata and name through the server API: the observer converts only participants whose server-side
        # version moved, so this also proves those changes move it.
        await observer.admin.update_participant(room_name, "ann", metadata='{"desk": 4}', name="Ann")
        started = observer.poller.calls
        await eventually(lambda: observer.poller.completed > started, timeout=10, what="the next poll completed")
        ann_now = observer.state.get("ann")
        assert ann_now is not None and ann_now.metadata == '{"desk": 4}' and ann_now.name == "Ann"
        # Who publishes which data track, without WebRTC.
        track = await ann.room.local_participant.publish_data_track(name="gps")
        await eventually(lambda: [(t.publisher, t.name) for t in observer.data_tracks] == [("ann", "gps")])
        view.live.render_now()
        assert "ann/gps" in view.status.value
        # The room disappears while it is open: a clear message, the observer keeps running.
        await ann.leave()
        del track
        await observer.admin.delete_room(room_name)
        await eventually(lambda: isinstance(observer.error, lk.RoomGoneError), timeout=10, what="room gone")
        await eventually(lambda: "RoomGoneError" in view.error.value, what="shown in the view")
        assert observer.state.status is lk.ConnectionStatus.DISCONNECTED and len(observer.state) == 0
        assert observer.poller.running
    finally:
        view.close()
        await observer.aclose()
        await observer.admin.aclose()


async def test_room_deleted_under_the_inspector_is_shown_in_its_panel(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    ann = await sessions.join(room_name, "ann")
    inspector = await sessions.keep(await lk.inspect(room_name, **join_args(credentials)))
    panel = RoomPanel(inspector)
    try:
        await ann.admin.delete_room(room_name)
        await eventually(lambda: inspector.closed, timeout=10, what="inspector disconnected")
        await eventually(lambda: "RoomGoneError" in panel.error.value, what="message in the panel")
        assert "was deleted on the server (ROOM_DELETED)" in panel.error.value
        panel.live.render_now()
        assert "disconnected" in panel.status.value
    finally:
        panel.close()


async def test_room_browser_lists_rooms_and_a_refusing_server_api_is_shown(
    credentials: Credentials, room_name: str
) -> None:
    dash: lk.Dashboard | None = None
    browser = RoomBrowser(lk.ServerAPI(credentials), interval=0.5)
    bad = RoomBrowser(
        lk.ServerAPI(url=credentials.url, api_key=credentials.api_key, api_secret="wrong-" + "x" * 32),
        interval=0.2,
        max_interval=0.8,
    )
    try:
        async with lk.ServerAPI(credentials) as admin:
            await admin.create_room(room_name, metadata='{"purpose": "browser test"}')
            frame = await admin.rooms_frame()
        assert room_name in frame.index and str(frame["created_at"].dt.tz) == "UTC"
        assert frame.loc[room_name, "metadata"] == '{"purpose": "browser test"}'
        await eventually(lambda: any(r["name"] == room_name for r in browser.room_list.rows), what="listed")
        row = next(r for r in browser.room_list.rows if r["name"] == room_name)
        assert row["metadata"] == '{"purpose": "browser test"}' and row["created"] > 0
        # Wrong secret: the error is in the list's error line, retries back off, the loop keeps running.
        await eventually(lambda: bad.poller.backoff.failures >= 3, timeout=10, what="retries")
        assert "AdminError" in bad.room_list.error and "unauthenticated" in bad.room_list.error.lower()
        assert bad.poller.next_delay == 0.8  # capped back-off: 0.2 x 2^3 > 0.8
        assert "wrong-" not in bad.room_list.error
        # Clicking a room (the front end's message) opens a hidden inspector for it.
        browser._on_front_end(browser.room_list, {"t": "open", "room": room_name}, [])
        dash = browser.dashboard
        assert dash is not None and browser.room_list.selected == room_name
        await eventually(lambda: dash.session is not None, timeout=20, what="inspector joined")
        assert dash.session is not None and dash.session.hidden and dash.data_tracks is not None
        assert dash.composer is None  # an inspector publishes nothing
    finally:
        browser.close()
        bad.close()
        await browser.poller.aclose()
        await bad.poller.aclose()
        if dash is not None and dash.session is not None:
            await dash.session.leave()


async def test_dashboard_offers_the_api_observer_when_udp_does_not_reach_the_server() -> None:
    # A real server whose only media path is a UDP relay address where nothing listens: signalling works, ICE
    # never completes, exactly what a network without outbound UDP (Binder) does to a join.
    with lk.LocalServer(relay=True) as server:
        c = Credentials(server.url, server.api_key, server.api_secret, "explicit")
        room = f"no-udp-{time.time_ns()}"
        async with lk.ServerAPI(c) as admin:
            await admin.create_room(room)
            await admin.update_room_metadata(room, '{"seen": "through the API"}')
            panel = RoomPanel(room=room, identity="wants-in")
            panel.extra_join_arguments = {**join_args(c), "timeout": 4.0}
            dash = lk.Dashboard(panel=panel)
            failures: list[BaseException] = []
            panel.on_join_failed(failures.append)
            try:
                panel.join()
                await eventually(lambda: bool(failures), timeout=30, what="the join fails")
                assert isinstance(failures[0], lk.JoinTimeoutError), failures
                await eventually(lambda: "JoinTimeoutError" in panel.error.value, what="the error is shown")
                offer = dash.body.children[0].children[0]
                assert offer.description == "Watch through the server API only", offer.description
                offer.click()
                view = dash.observer_view
                assert view is not None and "server API only: no messages" in view.label.value
                await eventually(lambda: view.observer.state.room_metadata == '{"seen": "through the API"}', timeout=10)
            finally:
                dash.close()


async def test_inspector_dashboard_shows_an_agents_text_stream(
    peers: tuple[lk.Session, lk.Session], credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    _ann, bot = peers
    inspector = await sessions.keep(await lk.inspect(room_name, **join_args(credentials)))
    dash = lk.Dashboard(inspector)
    try:
        assert dash.composer is None and dash.messages is not None and dash.data_tracks is not None
        # An agent's transcript: a text stream on a topic the inspector registered nothing for.
        await bot.send_text("your invoice was paid", topic="lk.transcription")
        await eventually(
            lambda: any(r.text == "your invoice was paid" and r.state.value == "finished" for r in inspector.streams),
            what="the inspector recorded the stream",
        )
        dash.messages.live.dirty = True
        dash.messages.live.render_now()
        assert "lk.transcription" in dash.messages.streams_table.value
        assert "your invoice was paid" in dash.messages.streams_table.value
    finally:
        dash.close()
