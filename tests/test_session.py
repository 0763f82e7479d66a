"""Sessions against a real livekit-server, with a second real client: state, server API, reconnects, errors."""

from __future__ import annotations

import asyncio
import datetime
import logging
import os
import re
import signal
import statistics
import time
from collections.abc import AsyncIterator

import pytest
from livekit import rtc
from livekit.rtc.participant import PublishDataError

import lk_notebook as lk
from lk_notebook.config import Credentials
from lk_notebook.events import ConnectionChanged, Event, Snapshot
from lk_notebook.server import LocalServer

from .claims import STATE_VS_MESSAGE_IN_A_ROW, STATE_VS_MESSAGE_P50
from .conftest import Sessions, eventually

pytestmark = pytest.mark.server

_SDK_SIZE_REFUSAL = re.compile(
    r"data packet size \((?P<size>\d+) bytes\) exceeds the negotiated maximum message size \((?P<limit>\d+) bytes\)"
)
"""The Rust SDK's refusal of an oversize packet, as `rtc.PublishDataError` carries it (livekit 1.2.x)."""


async def test_two_clients_see_each_other_with_initial_state(sessions: Sessions, room_name: str) -> None:
    a, b = await sessions.two(room_name, metadata='{"team": "blue"}')
    # B joined second: its state must be complete the moment join() returns, A's initial attributes included.
    alice = b.state.get("alice")
    assert alice is not None and alice.name == "Alice" and dict(alice.attributes) == {"role": "host"}
    assert b.state.local is not None and b.state.local.identity == "bob"
    await eventually(lambda: "bob" in a.state, what="A sees B join")
    bob = a.state.get("bob")
    assert bob is not None and bob.metadata == '{"team": "blue"}' and not bob.is_local
    assert a.status is lk.ConnectionStatus.CONNECTED
    await a.leave()
    await b.leave()
    await eventually(lambda: a.closed and b.closed)


async def test_attribute_change_reaches_other_frame_within_one_second(sessions: Sessions, room_name: str) -> None:
    a, b = await sessions.two(room_name)
    await eventually(lambda: "bob" in a.state)
    a.state.to_frame()  # warm pandas up: its first DataFrame costs ~0.5 s, which is not LiveKit's latency
    # The clock covers B's send -> A's model -> A's frame. confirm=False: with it, set_attributes would also
    # wait for B's own echo (up to confirm_timeout) inside the measured second.
    # The SDK's call returns when the server answers the request, and now and then (measured in CI: 1 in ~100,
    # at load) that answer comes only after the SDK's 5 s request timeout: the claim is the propagation to A, so
    # the call runs beside the wait and is awaited after it.
    start = time.monotonic()
    sending = asyncio.ensure_future(b.set_attributes({"status": "away", "seat": "12"}, confirm=False))
    assert await a.wait_for(
        lambda s: (p := s.get("bob")) is not None and p.attributes.get("status") == "away", timeout=1.0
    ), "B's attribute did not reach A's model within 1 s"
    model_ms = 1000 * (time.monotonic() - start)
    await eventually(
        lambda: "status" in a.state.to_frame().columns and a.state.to_frame().loc["bob", "status"] == "away",
        timeout=max(0.0, 1.0 - model_ms / 1000),
        what="B's attribute in A's to_frame() within 1 s",
    )
    total_ms = 1000 * (time.monotonic() - start)
    assert total_ms <= 1000, f"B -> A's to_frame() took {total_ms:.0f} ms"  # eventually() checks once past 0
    print(f"attribute B -> A: model {model_ms:.1f} ms, to_frame {total_ms:.1f} ms")
    await asyncio.wait_for(sending, timeout=10)
    frame = a.state.to_frame()
    assert frame.loc["bob", "seat"] == "12"
    assert frame.loc["alice", "role"] == "host"

    # "" deletes a key; other keys are untouched (keys are independent).
    await b.set_attributes({"seat": ""})
    await eventually(lambda: "seat" not in (a.state.get("bob") or lk.ParticipantInfo("", "", "", "", {})).attributes)
    bob = a.state.get("bob")
    assert bob is not None and dict(bob.attributes) == {"status": "away"}
    changes = [(c.identity, c.key, c.old, c.new) for c in a.state.history if c.kind == "attribute"]
    assert ("bob", "seat", "12", None) in changes


async def test_attribute_propagation_p50_within_a_small_factor_of_a_message(sessions: Sessions, room_name: str) -> None:
    # The README's "6-13 ms" is a figure of this machine: what a test can claim anywhere is the ratio to a
    # reliable message measured in the same room, pairs interleaved so that both see the same load.
    a, b = await sessions.two(room_name)
    attribute_ms: list[float] = []
    message_ms: list[float] = []
    for i in range(15):
        start = time.monotonic()
        await b.set_attributes({"k": str(i)}, confirm=False)
        assert await a.wait_for(lambda s, i=i: _bob_of(s).attributes.get("k") == str(i), timeout=5)
        attribute_ms.append(1000 * (time.monotonic() - start))

        arrived: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        stop = a.on_message(lambda m, f=arrived: None if f.done() else f.set_result(None), topic=f"t{i}")
        start = time.monotonic()
        await b.publish("x", topic=f"t{i}")
        await asyncio.wait_for(arrived, 5)
        message_ms.append(1000 * (time.monotonic() - start))
        stop()
    attribute_p50, message_p50 = statistics.median(attribute_ms), statistics.median(message_ms)
    print(f"p50 B -> A: attributes {attribute_p50:.1f} ms, reliable message {message_p50:.1f} ms")
    assert attribute_p50 <= STATE_VS_MESSAGE_P50 * message_p50, (attribute_ms, message_ms)


async def test_state_changes_in_a_row_are_slower_than_messages(sessions: Sessions, room_name: str) -> None:
    # Notebook 05's claim, measured the way the notebook measures it: three interleaved rounds of the same 100
    # updates as attribute changes, then as reliable messages (reliable, so that "all arrived" is exact), each timed
    # until the reader has the last one; the best round of each counts. A busy moment only ever adds time, and one
    # round of each once read 1.4x (post-stop CI of f11230c: 513 ms vs 380 ms, the publish calls 3-4x slower than
    # usual), so a single round measured the machine's worst moment rather than LiveKit.
    a, b = await sessions.two(room_name)

    async def state_round(r: int) -> tuple[float, list[float]]:
        calls: list[float] = []
        start = time.monotonic()
        for i in range(100):
            began = time.monotonic()
            await b.set_attributes({"pos": f"{r}-{i}"}, confirm=False)
            calls.append(time.monotonic() - began)
        assert await a.wait_for(lambda s: _bob_of(s).attributes.get("pos") == f"{r}-99", timeout=60)
        return time.monotonic() - start, calls

    async def message_round(r: int) -> tuple[float, list[float]]:
        incoming = a.messages(topic=f"pos{r}", count=100, timeout=30)  # listening from here
        publishes: list[float] = []
        start = time.monotonic()
        for i in range(100):
            began = time.monotonic()
            await b.publish(str(i), topic=f"pos{r}")
            publishes.append(time.monotonic() - began)
        got = [m.text async for m in incoming]
        elapsed = time.monotonic() - start
        assert got == [str(i) for i in range(100)]
        return elapsed, publishes

    state_rounds: list[float] = []
    message_rounds: list[float] = []
    for r in range(3):
        state_s, calls = await state_round(r)
        message_s, publishes = await message_round(r)
        state_rounds.append(state_s)
        message_rounds.append(message_s)
        stalls = [f"{s:.1f} s" for s in calls if s > 1.0]  # the server's unanswered requests (see tests/claims.py)
        print(
            f"round {r}: attributes {1000 * state_s:.0f} ms (per call p50 {1000 * statistics.median(calls):.1f} ms, "
            f"stalls {stalls}), reliable messages {1000 * message_s:.0f} ms (per call p50 "
            f"{1000 * statistics.median(publishes):.2f} ms, sum {1000 * sum(publishes):.0f} ms)"
        )
    best_state, best_message = min(state_rounds), min(message_rounds)
    print(
        f"best rounds: attributes {1000 * best_state:.0f} ms, messages {1000 * best_message:.0f} ms: "
        f"{best_state / best_message:.1f}x"
    )
    assert best_state > STATE_VS_MESSAGE_IN_A_ROW * best_message, (state_rounds, message_rounds)


async def test_metadata_and_name(sessions: Sessions, room_name: str) -> None:
    a, b = await sessions.two(room_name)
    await b.set_metadata('{"hand": "raised"}')
    await b.set_name("Bobby")
    await eventually(lambda: (p := a.state.get("bob")) is not None and p.name == "Bobby" and "raised" in p.metadata)
    with pytest.raises(lk.InvalidInputError, match="empty metadata"):
        await b.set_metadata("")
    hist = a.state.history_frame()
    assert {"metadata", "name"} <= set(hist[hist.identity == "bob"].kind)


async def test_server_api_room_metadata_and_participant_updates(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    async with lk.ServerAPI(credentials) as admin:
        created = await admin.create_room(room_name, metadata='{"stage": "lobby"}')
        assert created.metadata == '{"stage": "lobby"}'
        a, b = await sessions.two(room_name)
        assert a.state.room_metadata == '{"stage": "lobby"}'  # present at join
        await admin.update_room_metadata(room_name, '{"stage": "live"}')
        await eventually(
            lambda: a.state.room_metadata == '{"stage": "live"}' and b.state.room_metadata == a.state.room_metadata
        )
        assert any(c.kind == "room_metadata" and c.new == '{"stage": "live"}' for c in a.state.history)

        # Anyone's state through the server API: B's attributes, metadata and name, seen by A and by B itself.
        await admin.update_participant(
            room_name, "bob", attributes={"badge": "vip"}, metadata="set-by-admin", name="B."
        )
        for s in (a, b):
            await eventually(
                lambda s=s: (
                    (p := s.state.get("bob")) is not None
                    and p.attributes.get("badge") == "vip"
                    and p.metadata == "set-by-admin"
                    and p.name == "B."
                )
            )
        listed = {p.identity: p for p in await admin.list_participants(room_name)}
        assert set(listed) == {"alice", "bob"} and listed["bob"].attributes.get("badge") == "vip"
        rooms = {r.name for r in await admin.list_rooms()}
        assert room_name in rooms
        await a.leave()
        await b.leave()
        await admin.delete_room(room_name)
        assert room_name not in {r.name for r in await admin.list_rooms()}
        with pytest.raises(lk.AdminError, match="update_participant"):
            await admin.update_participant(room_name, "nobody", metadata="x")


async def test_messages_topics_destinations_and_server_sent(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    a, b, c = [await sessions.join(room_name, identity) for identity in ("a", "b", "c")]
    await eventually(lambda: all(len(s.state) == 3 and all(p.active for p in s.state) for s in (a, b, c)))
    chat: list[lk.Message] = []
    a.on_message(chat.append, topic="chat")
    iterator = b.messages(topic="chat")

    await c.publish("to everyone", topic="chat")
    await c.publish({"only": "a"}, topic="chat", destinations=["a"])
    await c.publish(b"\x00\x01", topic="other", reliable=False)
    async with lk.ServerAPI(credentials) as admin:
        await admin.send_data(room_name, "from the server", topic="chat", destinations=["b"])

    await eventually(lambda: len(chat) == 2, what="A gets both chat messages")
    assert [m.text for m in chat] == ["to everyone", '{"only":"a"}']
    assert all(m.sender == "c" and m.kind is lk.DataKind.RELIABLE for m in chat)

    got_b = [await asyncio.wait_for(iterator.__anext__(), 5) for _ in range(2)]
    # Two senders on two paths (C's data channel, the server API): LiveKit orders neither against the other.
    # The server API's packet comes without a sender (None: nothing tells it from a peer not announced yet).
    assert {(m.sender, m.text) for m in got_b} == {("c", "to everyone"), (None, "from the server")}
    # The message addressed only to A never reaches B.
    # Absence needs a sentinel, not a sleep: C's reliable messages reach B in order, so once C's next broadcast is
    # in B's inbox, the one addressed to A would have arrived before it.
    await c.publish("sentinel", topic="sentinel")
    await eventually(lambda: any(m.topic == "sentinel" for m in b.inbox), what="B gets C's sentinel")
    assert all("only" not in (m.text or "") for m in b.inbox)
    await eventually(lambda: any(m.topic == "other" for m in b.inbox), what="B gets the lossy bytes")
    other = next(m for m in b.inbox if m.topic == "other")
    assert other.kind is lk.DataKind.LOSSY and other.payload == b"\x00\x01"

    frame = b.messages_frame()
    assert {"sender", "topic", "kind", "size", "payload", "received_at"} <= set(frame.columns)
    assert set(frame.sender.dropna()) == {"c"} and frame.sender.isna().sum() == 1
    sent = c.messages_frame(include_sent=True)
    assert sent.sent.all() and len(sent) == 4  # the three above and the sentinel


async def test_payload_validation_matches_the_sdk_boundary(sessions: Sessions, room_name: str) -> None:
    _, b = await sessions.two(room_name)
    # Find the SDK's real limit: the largest payload its encoder accepts (binary search, real SDK). Only the SDK's
    # own size refusal counts as "too large": any other error fails here instead of shrinking the limit.
    lp = b.room.local_participant
    lo, hi = 63_000, 64_000
    refused: dict[int, int] = {}  # payload size -> the encoded packet size the SDK reports refusing
    while lo < hi:
        mid = (lo + hi + 1) // 2
        try:
            await lp.publish_data(b"x" * mid, reliable=True, topic="probe")
        except PublishDataError as exc:
            found = _SDK_SIZE_REFUSAL.search(str(exc))
            assert found is not None, f"not the SDK's size refusal: {exc}"
            assert int(found["limit"]) == lk.limits.SDK_MAX_PACKET_BYTES, str(exc)
            refused[mid] = int(found["size"])
            hi = mid - 1
        else:
            lo = mid
    sdk_max = lo
    assert sdk_max + 1 in refused, f"the SDK never refused the payload just above {sdk_max} B: {refused}"
    # An independent number: the SDK's own count of the packet it refused, against our estimate of the same packet.
    first_refused = sdk_max + 1
    estimate = lk.limits.packet_size(b"x" * first_refused, topic="probe", identity="bob")
    print(f"{first_refused} B of payload: the SDK counts {refused[first_refused]} B encoded, lk_notebook {estimate} B")
    assert estimate >= refused[first_refused], "our estimate is below the SDK's own count: we would let it through"
    assert estimate - refused[first_refused] <= 32, "our estimate is needlessly far above the SDK's count"
    # The largest payload our check lets through, searched past the SDK's limit so that this can come out above it.
    ours = max(
        n
        for n in range(sdk_max - 64, sdk_max + 65)
        if lk.limits.packet_size(b"x" * n, topic="probe", identity="bob") <= lk.limits.SDK_MAX_PACKET_BYTES
    )
    print(f"SDK accepts up to {sdk_max} B of payload; lk_notebook allows up to {ours} B")
    assert ours <= sdk_max, "our check would let through a message the SDK refuses"
    assert sdk_max - ours <= 32, "our check is needlessly strict"

    with pytest.raises(lk.TooLargeError) as err:
        await b.publish(b"x" * (sdk_max + 1), topic="probe")
    assert err.value.limit == lk.limits.SDK_MAX_PACKET_BYTES and "nothing was sent" in str(err.value)
    with pytest.warns(lk.SizeWarning, match="1300"):
        await b.publish(b"x" * 2000, reliable=False)
    with pytest.warns(lk.SizeWarning, match="head-of-line"):
        await b.publish(b"x" * 20_000)
    with pytest.warns(lk.UnknownDestinationWarning, match="nobody"):
        await b.publish("hi", destinations=["nobody"])
    with pytest.raises(lk.InvalidInputError):
        await b.publish(3.14)  # type: ignore[arg-type]
    with pytest.raises(lk.InvalidInputError):
        await b.publish({"x": {1, 2}})
    with pytest.raises(lk.InvalidInputError, match="list of identities"):
        await b.publish("hi", destinations="alice")  # type: ignore[arg-type]
    # Attributes: non-strings, and the 64 KiB limit counted on the merged set as the server counts it.
    with pytest.raises(lk.InvalidInputError, match="strings"):
        await b.set_attributes({"n": 1})  # type: ignore[dict-item]
    await b.set_attributes({"big": "y" * 60_000})
    with pytest.raises(lk.TooLargeError, match="65536"):
        await b.set_attributes({"more": "z" * 6_000})
    assert b.status is lk.ConnectionStatus.CONNECTED  # nothing broke


async def test_refused_updates_are_detected(sessions: Sessions, room_name: str) -> None:
    a = await sessions.join(room_name, "a")
    ro = await sessions.join(room_name, "ro", grants=lk.Grants(can_update_own_metadata=False))
    with pytest.raises(lk.UpdateRefusedError, match="canUpdateOwnMetadata") as err:
        await ro.set_attributes({"x": "1"})
    assert err.value.identity == "ro"
    await eventually(lambda: "ro" in a.state, what="A sees ro")
    # The SDK itself says nothing when the server refuses: sending anyway changes nothing anywhere.
    # Its await returns once the server has answered (the FFI callback it ignores carries "request error:
    # NotAllowed - does not have permission to update own metadata", measured), so the server has decided by now.
    await ro.room.local_participant.set_attributes({"x": "1"})
    # Absence needs a sentinel, not a sleep: an update made after that decision reaches A carrying ro's whole
    # attribute set as the server holds it, so a change the server had applied would be in it.
    async with lk.ServerAPI(sessions.credentials) as admin:
        await admin.update_participant(room_name, "ro", attributes={"sentinel": "1"})
    await eventually(
        lambda: (p := a.state.get("ro")) is not None and "sentinel" in p.attributes, what="A gets the sentinel"
    )
    p = a.state.get("ro")
    assert p is not None and dict(p.attributes) == {"sentinel": "1"}


async def test_refusal_detected_after_sending_when_server_limit_is_lower() -> None:
    # A server with a small metadata limit refuses what our client-side check allows: only the echo tells.
    with LocalServer(config={"limit": {"max_metadata_size": 1000}}) as srv:
        async with await lk.join(
            "limits", identity="m", url=srv.url, api_key=srv.api_key, api_secret=srv.api_secret
        ) as s:
            s.confirm_timeout = 1.5
            await s.set_metadata("small")
            with pytest.raises(lk.UpdateRefusedError, match="did not apply"):
                await s.set_metadata("x" * 2000)
            assert s.state.local is not None and s.state.local.metadata == "small"


async def test_stopping_the_server_under_a_session_stops_it_without_sigkill() -> None:
    # stop() with a participant connected: livekit-server's graceful stop would wait for every participant to leave
    # (until our SIGKILL, 10 s later); the repeated SIGTERM forces its stop. Whether the session then hears
    # SERVER_SHUTDOWN or just loses the connection varies from run to run, so only the server's exit is asserted.
    with LocalServer() as srv:
        async with await lk.join("stopped", identity="m", url=srv.url, api_key=srv.api_key, api_secret=srv.api_secret):
            await asyncio.to_thread(srv.stop, timeout=8)
            assert srv.returncode is not None and srv.returncode >= 0, f"killed, not stopped: {srv.returncode}"
            assert "exit requested, shutting down" in srv.log_path.read_text()  # type: ignore[union-attr]


async def test_an_unconfirmed_change_on_a_broken_connection_blames_the_connection() -> None:
    # The server crashed: the change cannot be confirmed, and the error must not send the user to check permissions.
    # (SIGKILL: a stopped server would tell its participants SERVER_SHUTDOWN, and the session would be closed.)
    with LocalServer() as srv:
        async with await lk.join(
            "gone", identity="m", url=srv.url, api_key=srv.api_key, api_secret=srv.api_secret
        ) as s:
            s.confirm_timeout = 1.5
            pid = srv.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            assert await s.wait_for(lambda st: st.status is not lk.ConnectionStatus.CONNECTED, timeout=20)
            with pytest.raises(lk.UpdateRefusedError, match=r"the connection is (reconnecting|disconnected)") as err:
                await s.set_attributes({"x": "1"})
            assert "canUpdateOwnMetadata" not in str(err.value)


async def test_wrong_secret_and_unreachable_give_clear_errors(
    credentials: Credentials, room_name: str, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    with pytest.raises(lk.AuthenticationError, match="LIVEKIT_API_SECRET") as err:
        await lk.join(room_name, identity="x", url=credentials.url, api_key=credentials.api_key, api_secret="w" * 40)
    assert "eyJ" not in str(err.value)
    with pytest.raises(lk.UnreachableError, match="nothing answers"):
        await lk.join(room_name, identity="x", url="ws://127.0.0.1:9", api_key="k", api_secret="s" * 40, timeout=8)
    # The SDK logs the refused token in full; our filter must have scrubbed it everywhere.
    out, errtext = capfd.readouterr()
    assert "eyJ" not in caplog.text and "eyJ" not in out and "eyJ" not in errtext
    assert "<token>" in caplog.text


def _chain(exc: BaseException | None) -> list[BaseException]:
    """The exception and everything reachable through __cause__ and __context__ (both, at every step)."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        e = todo.pop()
        if e is not None and all(e is not s for s in seen):
            seen.append(e)
            todo += [e.__cause__, e.__context__]
    return seen


async def _list_rooms(credentials: Credentials) -> None:
    async with lk.ServerAPI(credentials) as admin:
        await admin.list_rooms()


async def test_no_token_in_any_error_or_its_chain(credentials: Credentials, room_name: str) -> None:
    forged = Credentials(credentials.url, credentials.api_key, "w" * 40).token(room_name, "x")
    expired = credentials.token(room_name, "x", ttl=datetime.timedelta(seconds=-60))
    kw = {"url": credentials.url, "api_key": credentials.api_key}
    attempts = {
        "wrong secret": lk.join(room_name, identity="x", api_secret="w" * 40, **kw),
        "forged token": lk.join(room_name, identity="x", token=forged, url=credentials.url),
        "expired token": lk.join(room_name, identity="x", token=expired, url=credentials.url),
        "token, nothing listening": lk.join(room_name, identity="x", token=forged, url="ws://127.0.0.1:9", timeout=8),
        "server API, wrong secret": _list_rooms(Credentials(credentials.url, "k", "w" * 40)),
        "server API, nothing listening": _list_rooms(Credentials("ws://127.0.0.1:9", "k", "w" * 40)),
    }
    for what, attempt in attempts.items():
        with pytest.raises(lk.LkNotebookError) as err:
            await attempt
        chain = _chain(err.value)
        texts = [t for e in chain for t in (repr(e), str(e), *map(repr, e.args))]
        print(what, "->", " <- ".join(type(e).__name__ for e in chain))
        for text in texts:
            assert "eyJ" not in text and forged not in text and expired not in text, f"{what}: {text}"
    # The check can fail: the SDK's own error for the refused token does quote it.
    with pytest.raises(rtc.ConnectError) as raw:
        await rtc.Room().connect(credentials.url, forged)
    assert forged in str(raw.value) or "eyJ" in str(raw.value)


async def test_inbox_limit_drops_oldest_and_counts_and_iterators_end_on_leave(
    sessions: Sessions, room_name: str
) -> None:
    a = await sessions.join(room_name, "a", inbox_limit=5)
    b = await sessions.join(room_name, "b")
    await eventually(lambda: (p := b.state.get("a")) is not None and p.active, what="B sees A active")
    got: list[str] = []

    async def consume(iterator: AsyncIterator[lk.Message]) -> None:
        async for m in iterator:
            got.append(m.text or "")

    consumer = asyncio.get_running_loop().create_task(consume(a.messages()))
    for i in range(8):
        await b.publish(f"m{i}", topic="t")
    await eventually(lambda: len(got) == 8, what="the iterator gets all 8")
    assert got == [f"m{i}" for i in range(8)]  # reliable: all, in order
    assert [m.text for m in a.inbox] == [f"m{i}" for i in range(3, 8)]  # the 5 newest
    assert a.inbox_dropped == 3
    idle = a.messages()  # an iterator nobody is reading yet

    await a.leave()
    await asyncio.wait_for(consumer, 5)  # ended by leave, not cancelled
    assert await asyncio.wait_for(anext(idle, None), 5) is None
    with pytest.raises(lk.SessionClosedError, match="has left"):
        a.messages()


async def test_leave_twice_publish_after_leave_and_rejoin(sessions: Sessions, room_name: str) -> None:
    a, b = await sessions.two(room_name)
    await b.leave()
    await b.leave()  # idempotent
    assert b.closed and b.status is lk.ConnectionStatus.DISCONNECTED
    with pytest.raises(lk.SessionClosedError, match="has left"):
        await b.publish("late")
    with pytest.raises(lk.SessionClosedError):
        await b.set_attributes({"x": "1"})
    await eventually(lambda: "bob" not in a.state, what="A sees B leave")
    await sessions.join(room_name, "bob")
    await eventually(lambda: "bob" in a.state, what="A sees B rejoin")
    kinds = [c.kind for c in a.state.history if c.identity == "bob"]
    assert kinds[:3] == ["joined", "left", "joined"]


def _bob(session: lk.Session) -> lk.ParticipantInfo:
    return _bob_of(session.state)


def _bob_of(state: lk.RoomState) -> lk.ParticipantInfo:
    return state.get("bob") or lk.ParticipantInfo("", "", "", "", {})


@pytest.mark.parametrize(
    "scenario",
    [rtc.SimulateScenarioKind.SIMULATE_SIGNAL_RECONNECT, rtc.SimulateScenarioKind.SIMULATE_FULL_RECONNECT],
    ids=["signal", "full"],
)
async def test_forced_reconnect_resyncs_state_from_the_server(
    credentials: Credentials, sessions: Sessions, room_name: str, scenario: int
) -> None:
    a, b = await sessions.two(room_name)
    events: list[tuple[Event, bool]] = []  # (event, does A's model show B's "during" after it)
    a.state.subscribe(lambda ev: events.append((ev, "during" in _bob(a).attributes)))
    # A misses B's change: the session's participant handlers are detached (fault injection on our side only;
    # the server, the SDK and the reconnect are real). LiveKit itself re-sends changes on resume, so without this
    # the attribute would arrive by a normal event and the resync would go unproven.
    handlers = {
        "participant_connected": a._events._joined,
        "participant_disconnected": a._events._left,
        "participant_active": a._events._active,
        "participant_attributes_changed": a._events._attributes,
        "participant_metadata_changed": a._events._metadata,
        "participant_name_changed": a._events._name,
    }
    for name, handler in handlers.items():
        a.room.off(name, handler)
    async with lk.ServerAPI(credentials) as admin:
        await admin.update_participant(room_name, "bob", attributes={"during": "away"}, metadata="while away")
        # LiveKit delivered it to A's SDK; A's model did not hear of it.
        await eventually(lambda: a.room.remote_participants["bob"].attributes.get("during") == "away")
        assert "during" not in _bob(a).attributes
        missed = len(events)

        await a.room.simulate_scenario(scenario)  # type: ignore[arg-type]
        await eventually(
            lambda: (
                any(isinstance(ev, Snapshot) for ev, _ in events[missed:]) and a.status is lk.ConnectionStatus.CONNECTED
            ),
            timeout=15,
            what="A reconnected and resynced",
        )
        # It arrived through the snapshot alone: no event before it carried it, and it is there from the
        # snapshot on; the history records it at the snapshot's time.
        after = events[missed:]
        first = next(i for i, (ev, _) in enumerate(after) if isinstance(ev, Snapshot))
        assert not any(has for _, has in after[:first]), after[:first]
        assert after[first][1], "the snapshot did not bring B's change"
        snapshot = after[first][0]
        assert isinstance(snapshot, Snapshot)
        assert any(c.identity == "bob" and c.key == "during" and c.at == snapshot.at for c in a.state.history)
        assert _bob(a).metadata == "while away"

        server_view = {
            p.identity: (p.name, p.metadata, dict(p.attributes)) for p in await admin.list_participants(room_name)
        }
    ours = {p.identity: (p.name, p.metadata, dict(p.attributes)) for p in a.state}
    assert ours == server_view
    if scenario == rtc.SimulateScenarioKind.SIMULATE_FULL_RECONNECT:
        assert any(
            isinstance(ev, ConnectionChanged) and ev.status is lk.ConnectionStatus.RECONNECTING for ev, _ in after
        )
    # And it keeps working afterwards, events included.
    for name, handler in handlers.items():
        a.room.on(name, handler)
    await b.set_attributes({"later": "yes"})
    await eventually(lambda: _bob(a).attributes.get("later") == "yes", what="events reach A again")
    await a.publish("after", topic="t")
    await eventually(lambda: any(m.text == "after" for m in b.inbox))


async def test_reprs_hide_secrets(
    credentials: Credentials, sessions: Sessions, server: LocalServer, room_name: str
) -> None:
    a = await sessions.join(room_name, "a")
    for obj in (credentials, server, a, a.admin, lk.resolve_credentials()):
        assert credentials.api_secret not in repr(obj)
    assert "eyJ" not in repr(a)


async def test_own_update_confirmed_while_server_api_changes_other_keys(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    # Regression: confirming compared the whole attribute set, so a concurrent admin write to another key made a
    # change that had been applied look refused.
    a, b = await sessions.two(room_name)
    async with lk.ServerAPI(credentials) as admin:
        for i in range(5):
            await asyncio.gather(
                b.set_attributes({"mine": str(i)}),
                admin.update_participant(room_name, "bob", attributes={f"theirs{i}": "x"}),
            )
    await eventually(
        lambda: (
            (p := a.state.get("bob")) is not None
            and p.attributes.get("mine") == "4"
            and all(p.attributes.get(f"theirs{i}") == "x" for i in range(5))
        )
    )


async def test_deleting_a_key_whose_write_is_still_in_flight(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    # Regression: the no-op check looked at the model only, so deleting a key right after an unconfirmed write of
    # it (whose echo had not arrived: seen on a loaded machine) was dropped as "no change", and the key stayed set.
    a, b = await sessions.two(room_name)
    # B's own echoes are held back while it writes (fault injection on our side; server and SDK are real),
    # which makes the late echo certain instead of a matter of load.
    b.room.off("participant_attributes_changed", b._events._attributes)
    try:
        await b.set_attributes({"tmp": "1"}, confirm=False)
        await b.set_attributes({"tmp": ""}, confirm=False)
    finally:
        b.room.on("participant_attributes_changed", b._events._attributes)
    async with lk.ServerAPI(credentials) as admin:

        async def gone_on_server() -> bool:
            listed = {p.identity: dict(p.attributes) for p in await admin.list_participants(room_name)}
            return "tmp" not in listed["bob"]

        await eventually(gone_on_server, what="the server deleted tmp")
    await eventually(lambda: "tmp" not in _bob(a).attributes, what="A's model has no tmp")


@pytest.mark.parametrize("outside", ["sdk", "server_api"])
async def test_deleting_a_key_set_outside_lk_notebook_before_its_echo(
    credentials: Credentials, sessions: Sessions, room_name: str, outside: str
) -> None:
    # Regression (CI under load, notebook 02): a key set through the raw SDK or the server API is in B's model only
    # once its echo arrives; deleting it before then looked like a no-op against the model, nothing was sent, and
    # the key stayed set on the server.
    a, b = await sessions.two(room_name)
    async with lk.ServerAPI(credentials) as admin:
        # B's echoes are held back (fault injection on our side; server and SDK are real), which makes "before the
        # echo" certain instead of a matter of load.
        b.room.off("participant_attributes_changed", b._events._attributes)
        try:
            if outside == "sdk":
                await b.room.local_participant.set_attributes({"tmp": "1"})
            else:
                await admin.update_participant(room_name, "bob", attributes={"tmp": "1"})
            assert "tmp" not in _bob(b).attributes  # B's model has not seen it: the race
            await b.set_attributes({"tmp": ""})
        finally:
            b.room.on("participant_attributes_changed", b._events._attributes)

        async def gone_on_server() -> bool:
            listed = {p.identity: dict(p.attributes) for p in await admin.list_participants(room_name)}
            return "tmp" not in listed["bob"]

        # The set was applied (its SDK / server-API call returned), so only the delete can take tmp away on the
        # server: with the old skip it stayed there. (What A sees is not the proof: the server may send the two
        # changes as one update, which shows A nothing.)
        await eventually(gone_on_server, what="the server deleted tmp")
    await eventually(lambda: "tmp" not in _bob(a).attributes and "tmp" not in _bob(b).attributes, what="no tmp")


async def test_setting_metadata_back_before_the_echo_of_an_outside_change(
    credentials: Credentials, sessions: Sessions, room_name: str
) -> None:
    # The same race for metadata: set to "new" through the raw SDK, back to the model's value before the echo.
    a, b = await sessions.two(room_name)
    await b.set_metadata("old")
    b.room.off("participant_metadata_changed", b._events._metadata)
    try:
        await b.room.local_participant.set_metadata("new")
        assert _bob(b).metadata == "old"
        await b.set_metadata("old")
    finally:
        b.room.on("participant_metadata_changed", b._events._metadata)
    async with lk.ServerAPI(credentials) as admin:

        async def old_on_server() -> bool:
            return {p.identity: p.metadata for p in await admin.list_participants(room_name)}["bob"] == "old"

        # "new" was applied (the SDK call returned): only the second call can make it "old" again on the server.
        await eventually(old_on_server, what="the server has metadata 'old' again")
    await eventually(lambda: _bob(a).metadata == "old", what="A's model has 'old'")


@pytest.mark.parametrize("last", ["session", "admin"])
async def test_concurrent_writes_to_the_same_key(
    credentials: Credentials, sessions: Sessions, room_name: str, last: str
) -> None:
    # The session and the server API write the same key at once; whichever the server applies last wins. The
    # session's confirmation must not call its own write refused when it was applied and then overwritten (or
    # when the server coalesced both into one update), and every model ends with the server's value.
    a, b = await sessions.two(room_name)
    async with lk.ServerAPI(credentials) as admin:
        for i in range(4):
            mine = b.set_attributes({"k": f"session-{i}", f"own{i}": "x"})
            theirs = admin.update_participant(room_name, "bob", attributes={"k": f"admin-{i}"})
            started = time.monotonic()
            # gather starts the first awaitable first: the other write tends to reach the server last.
            await asyncio.gather(*((theirs, mine) if last == "session" else (mine, theirs)))
            took = time.monotonic() - started
            listed = {p.identity: dict(p.attributes) for p in await admin.list_participants(room_name)}
            final = listed["bob"]["k"]
            assert listed["bob"][f"own{i}"] == "x"

            def views() -> tuple[str | None, str | None]:
                seen_by_a, own = a.state.get("bob"), b.state.local
                return (
                    None if seen_by_a is None else seen_by_a.attributes.get("k"),
                    None if own is None else own.attributes.get("k"),
                )

            try:
                # The claim is convergence, not speed: once in ~900 rounds in CI (under load) 5 s were not enough,
                # and which view lagged was not recorded. The message below says which.
                # (A round whose 'both writes' took ~5 s is the session's write waiting out the SDK's 5 s request
                # timeout, the stall docs/measurements.md counts; the write was applied all the same.)
                converged = await eventually(lambda final=final: views() == (final, final), timeout=15)
            except pytest.fail.Exception:
                pytest.fail(f"round {i}: the server kept {final!r}; (alice's view, bob's own) = {views()}")
            print(
                f"round {i}: server kept {final!r}; both writes done in {1000 * took:.0f} ms, "
                f"both views had it {1000 * converged:.0f} ms later"
            )


async def test_join_with_a_given_token(
    credentials: Credentials, sessions: Sessions, room_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = credentials.token(room_name, "tok", name="Token User", attributes={"via": "token"})
    for var in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(lk.CredentialsError, match="needs a server URL"):
        await lk.join(room_name, identity="tok", token=token)
    s = await sessions.keep(await lk.join(room_name, identity="tok", token=token, url=credentials.url))
    me = s.state.local
    assert me is not None and me.name == "Token User" and dict(me.attributes) == {"via": "token"}
    assert token not in repr(s)
    with pytest.raises(lk.CredentialsError, match="token only"):
        _ = s.admin  # no API secret: the server API is not available, and says why


async def test_session_admin_is_closed_with_the_session(sessions: Sessions, room_name: str) -> None:
    s = await sessions.join(room_name, "adm")
    assert room_name in {r.name for r in await s.admin.list_rooms()}
    await s.leave()
    # leave() closed its client; a new one after it would never be closed (an aiohttp leak warning at exit)
    with pytest.raises(lk.SessionClosedError, match=r"session\.admin"):
        _ = s.admin


async def test_failing_raw_handler_is_reported_not_lost(sessions: Sessions, room_name: str) -> None:
    a, b = await sessions.two(room_name)
    errors: list[tuple[str, BaseException]] = []
    a.on_error(lambda where, exc: errors.append((where, exc)))

    def broken(payload: bytes, sender: str, kind: lk.DataKind, at: float) -> None:
        raise ValueError("consumer bug")

    remove = a.add_raw_handler("fast", broken)
    await b.publish("x", topic="fast")
    await eventually(lambda: bool(errors), what="the handler's exception reaches on_error")
    assert "fast" in errors[0][0] and isinstance(errors[0][1], ValueError)
    remove()
    await b.publish("y", topic="fast")
    await eventually(lambda: any(m.text == "y" for m in a.inbox), what="after removal, the inbox gets it")
    assert a.status is lk.ConnectionStatus.CONNECTED
