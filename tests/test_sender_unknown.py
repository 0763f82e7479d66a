"""A data packet without a sender, against the real server with real SDK peers: what the SDK hands over (pinned at
the FFI layer), what lk_notebook makes of it (`sender` None, `sender_candidates`, "unknown", never "server"), and
`join(..., announce=True)`, which closes the window in which a peer's packets come without a sender (measured)."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Callable

import pytest
from livekit import rtc
from livekit.rtc._ffi_client import FfiClient
from livekit.rtc._proto import ffi_pb2

import lk_notebook as lk
from lk_notebook.joining import ANNOUNCE_ATTRIBUTE
from lk_notebook.widgets import MessageLog
from lk_notebook.widgets.messages import UNKNOWN_SENDER

from .conftest import Sessions, eventually

pytestmark = pytest.mark.server

EARLY_S = 0.5
"""The peer publishes this long after its connect returned: well inside the server's 3 s announcement tick."""


async def early_packet(
    sessions: Sessions, room: str, prefix: str, knows: Callable[[str], bool], *, topic: str, attempts: int = 4
) -> str:
    """Join a raw SDK peer, publish one reliable packet EARLY_S after joining; return its identity. `knows(identity)`
    says whether the receiver has been told of the peer: the tick's phase is random, so if the receiver was told
    before the packet left, the attempt does not measure the early window and a fresh peer tries again."""
    for n in range(attempts):
        identity = f"{prefix}-{n}"
        peer = rtc.Room()
        await peer.connect(sessions.credentials.url, sessions.credentials.token(room, identity))
        sessions.stack.push_async_callback(peer.disconnect)
        await asyncio.sleep(EARLY_S)  # the scenario (a peer that publishes soon after joining), not a proof
        if knows(identity):
            continue
        await peer.local_participant.publish_data(identity.encode(), reliable=True, topic=topic)
        return identity
    pytest.fail(f"the receiver was told of each of {attempts} peers within {EARLY_S} s of their join")


async def test_a_packet_from_a_peer_not_yet_announced_has_no_sender_and_names_candidates(
    sessions: Sessions, room_name: str
) -> None:
    session = await sessions.join(room_name, "nb")
    log = MessageLog(session, hz=50)
    sessions.stack.callback(log.close)
    known_at_arrival: dict[str, bool] = {}
    session.on_message(lambda m: known_at_arrival.setdefault(m.text or "", m.text in session.state))

    peer = await early_packet(sessions, room_name, "early", lambda i: i in session.state, topic="p")
    await eventually(lambda: any(m.topic == "p" for m in session.inbox), timeout=10, what="the early packet arrives")
    assert known_at_arrival[peer] is False, "the peer was announced before its packet: no early window measured"
    packet = next(m for m in session.inbox if m.topic == "p")
    assert packet.sender is None and packet.text == peer
    # The server lists the peer; the session had not been told of it when the packet came.
    await eventually(
        lambda: next(m for m in session.inbox if m.topic == "p").sender_candidates is not None,
        what="the look-up completes the message",
    )
    resolved = next(m for m in session.inbox if m.topic == "p")
    assert resolved.sender is None and resolved.sender_candidates is not None and peer in resolved.sender_candidates
    assert "nb" not in resolved.sender_candidates

    async with lk.ServerAPI(session.credentials) as admin:
        await admin.send_data(room_name, "from the server API", topic="s")
    await eventually(lambda: any(m.topic == "s" for m in session.inbox), what="the server API's packet arrives")
    assert next(m for m in session.inbox if m.topic == "s").sender is None

    frame = session.messages_frame()
    rows = frame[frame.topic.isin(["p", "s"])]
    assert len(rows) == 2 and rows.sender.isna().all()
    assert not (frame.sender == "server").any()
    candidates = rows[rows.topic == "p"].sender_candidates.iloc[0]
    assert peer in candidates
    # The message log: "unknown" in the sender column for both, never "server".
    log.live.render_now()
    cells = [row.split("</td><td>")[1] for row in log.table.value.split("<tr")[1:] if "</td><td>" in row]
    unknown = [c for c in cells if f">{UNKNOWN_SENDER}<" in c]
    assert len(unknown) == 2 and all("hidden participant" in c for c in unknown)
    assert not any(c.startswith("server") for c in cells)


async def test_the_sdk_itself_hands_such_a_packet_over_without_identity(sessions: Sessions, room_name: str) -> None:
    # The pin at the layer that decides: livekit-ffi's DataPacketReceived event for the receiving room. When the
    # SDK starts passing the sender's identity for a participant it does not know yet, this goes red, and
    # lk_notebook can name the sender (room_events.RoomEvents._data).
    receiver = rtc.Room()
    await receiver.connect(sessions.credentials.url, sessions.credentials.token(room_name, "rx"))
    sessions.stack.push_async_callback(receiver.disconnect)
    assert receiver._ffi_handle is not None
    handle = receiver._ffi_handle.handle

    def ours(e: ffi_pb2.FfiEvent) -> bool:
        return (
            e.WhichOneof("message") == "room_event"
            and e.room_event.room_handle == handle
            and e.room_event.WhichOneof("message") == "data_packet_received"
        )

    raw = FfiClient.instance.queue.subscribe(asyncio.get_running_loop(), filter_fn=ours)
    sessions.stack.callback(FfiClient.instance.queue.unsubscribe, raw)
    seen: list[rtc.DataPacket] = []
    receiver.on("data_received", seen.append)

    peer = await early_packet(sessions, room_name, "early", lambda i: i in receiver.remote_participants, topic="p")
    event = (await asyncio.wait_for(raw.get(), 10)).room_event.data_packet_received
    assert event.user.topic == "p"
    assert event.participant_identity == "", f"the SDK now names the sender ({event.participant_identity!r})"
    await eventually(lambda: bool(seen), what="the Python event")
    assert seen[0].participant is None and seen[0].data == peer.encode()

    async with lk.ServerAPI(sessions.credentials) as admin:
        await admin.send_data(room_name, "from the server API", topic="s")
    event = (await asyncio.wait_for(raw.get(), 10)).room_event.data_packet_received
    assert (event.user.topic, event.participant_identity) == ("s", "")


async def test_announce_makes_the_others_see_a_new_participant_at_once(sessions: Sessions, room_name: str) -> None:
    watcher = await sessions.join(room_name, "watch")

    def seen_at(identity: str) -> float | None:
        return next((c.at for c in watcher.state.history if c.kind == "joined" and c.identity == identity), None)

    visible: dict[bool, list[float]] = {False: [], True: []}
    for n in range(3):
        for announce in (False, True):
            identity = f"{'loud' if announce else 'quiet'}-{n}"
            joiner = await sessions.join(room_name, identity, announce=announce)
            connected = next(c.at for c in joiner.state.history if c.kind == "connection" and c.new == "connected")
            if announce:
                assert joiner.state.local is not None and ANNOUNCE_ATTRIBUTE in joiner.state.local.attributes
            await eventually(lambda i=identity: seen_at(i) is not None, timeout=10, what=f"the watcher sees {identity}")
            at = seen_at(identity)
            assert at is not None
            visible[announce].append(at - connected)
            if announce:
                # Once the watcher is told (the signal connection), packets (the data channel) carry the sender. The
                # two paths are not ordered: a packet sent the moment join() returns can overtake the announcement
                # under load (seen in CI), so the join only makes the gap ~40 ms, not zero (join's docstring).
                await joiner.publish("hello", topic=f"hi-{n}")
                await eventually(lambda n=n: any(m.topic == f"hi-{n}" for m in watcher.inbox), what="hello arrives")
                assert next(m for m in watcher.inbox if m.topic == f"hi-{n}").sender == identity
            await joiner.leave()
    quiet, loud = statistics.mean(visible[False]), statistics.mean(visible[True])
    print(
        f"seen by another session after connect: without announce {[round(v * 1000) for v in visible[False]]} ms "
        f"(mean {quiet * 1000:.0f}), with announce {[round(v * 1000) for v in visible[True]]} ms "
        f"(mean {loud * 1000:.0f}): {quiet / loud:.0f}x"
    )
    # Relative, in the same run: the announced joins are seen at least 5x sooner (measured ~40 ms vs ~2-3 s).
    assert quiet >= 5 * loud, visible
