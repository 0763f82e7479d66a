"""Pure parts of the inspector: participant kinds, the poll pacing, frame statistics, API-observer diffs."""

from __future__ import annotations

import asyncio

import pytest

import lk_notebook as lk
from lk_notebook.admin import RoomSummary, metadata_preview, rooms_frame
from lk_notebook.config import Credentials, Grants, hidden_grants
from lk_notebook.datatracks import FrameStats
from lk_notebook.events import AttributesChanged, ParticipantJoined, ParticipantKind, ParticipantLeft, participant_kind
from lk_notebook.observer import diff_participants
from lk_notebook.poll import Backoff, Poller
from lk_notebook.state import RoomState, participant
from lk_notebook.widgets.table import row_fields


def test_participant_kind_from_either_enum_name() -> None:
    assert participant_kind("PARTICIPANT_KIND_AGENT") is ParticipantKind.AGENT  # rtc SDK
    assert participant_kind("SIP") is ParticipantKind.SIP  # server API
    assert participant_kind("EGRESS") is ParticipantKind.EGRESS
    assert participant_kind("SOMETHING_NEW") is ParticipantKind.STANDARD


def test_kind_and_agent_state_in_frame_and_table_rows() -> None:
    state = RoomState("r")
    agent = participant("bot", kind="agent", attributes={"lk.agent.state": "thinking"})
    state.apply(ParticipantJoined(agent, at=1.0))
    state.apply(ParticipantJoined(participant("ann"), at=1.0))
    frame = state.to_frame()
    assert frame.loc["bot", "kind"] == "agent" and frame.loc["ann", "kind"] == "standard"
    assert frame.loc["bot", "lk.agent.state"] == "thinking"
    assert [p.identity for p in state.of_kind("agent")] == ["bot"]
    assert agent.agent_state == "thinking" and participant("x").agent_state == ""
    assert row_fields(agent)["k"] == "agent"
    with pytest.raises(lk.InvalidInputError, match="unknown participant kind"):
        state.of_kind("robot")


def test_hidden_grants_publish_nothing_and_kind_is_checked(credentials: Credentials) -> None:
    g = hidden_grants(Grants(can_subscribe=False))
    assert g.hidden and not g.can_publish and not g.can_publish_data and not g.can_update_own_metadata
    assert not g.can_subscribe  # kept as given
    with pytest.raises(lk.InvalidInputError, match="unknown participant kind"):
        credentials.token("r", "x", grants=Grants(kind="robot"))


def test_every_grant_reaches_the_token(credentials: Credentials) -> None:
    import jwt

    withheld = Grants(can_publish_data=False, can_update_own_metadata=False, room_admin=True, hidden=True)
    claims = jwt.decode(credentials.token("r", "x", grants=withheld), options={"verify_signature": False})
    assert claims["video"] == {
        "room": "r", "roomJoin": True, "canPublish": True, "canSubscribe": True, "canPublishData": False,
        "canUpdateOwnMetadata": False, "roomAdmin": True, "hidden": True,
    }  # fmt: skip


def test_backoff_steady_doubling_capped_and_reset() -> None:
    b = Backoff(interval=1.0, max_interval=8.0)
    assert b.succeeded(0.01) == 1.0
    assert b.succeeded(0.5) == 2.5  # a slow server: 5x the call's duration
    assert [b.failed() for _ in range(5)] == [2.0, 4.0, 8.0, 8.0, 8.0]
    assert b.failures == 5
    assert b.succeeded(0.01) == 1.0 and b.failures == 0
    with pytest.raises(ValueError):
        Backoff(interval=2.0, max_interval=1.0)


async def test_poller_reports_failures_keeps_polling_and_refreshes_on_demand() -> None:
    outcomes: list[object] = []
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise OSError(f"down {calls}")
        return calls

    poller: Poller[int] = Poller(
        fetch,
        on_result=outcomes.append,
        on_error=outcomes.append,
        backoff=Backoff(interval=0.05, max_interval=0.2, factor=2.0),
    )
    assert poller.start()
    try:
        for _ in range(200):
            if 3 in outcomes:
                break
            await asyncio.sleep(0.01)
        assert [type(o).__name__ for o in outcomes[:3]] == ["OSError", "OSError", "int"]
        poller.backoff.interval = poller.backoff.max_interval = 60.0  # the next tick is a minute away...
        await asyncio.sleep(0.3)  # (let the loop reach that wait)
        before = poller.calls
        poller.refresh()  # ...unless asked
        for _ in range(100):
            if poller.calls > before:
                break
            await asyncio.sleep(0.01)
        assert poller.calls == before + 1
    finally:
        await poller.aclose()
    assert not poller.running


def test_frame_stats_rate_sizes_gaps() -> None:
    s = FrameStats(window=2.0, gap_factor=3.0)
    t = 100.0
    for i in range(100):  # 50 frames/s for 2 s
        s.add(t + i * 0.02, 100 + i % 3)
    t_last = t + 99 * 0.02
    s.add(t_last + 0.2, 50)  # a 200 ms hole: 10 intervals of the rhythm
    snap = s.snapshot(now=t_last + 0.2)
    assert snap.frames == 101 and snap.min_size == 50 and snap.max_size == 102
    assert snap.gaps == 1
    assert snap.max_gap_ms == pytest.approx(200, abs=1)
    # 2 s window ending at the last frame: frames from t_last+0.2-2.0 on, i.e. 91 of them over 2 s.
    assert snap.fps == pytest.approx(91 / 2.0, abs=0.6)
    assert s.snapshot(now=t_last + 10).fps == 0.0  # nothing in the window any more


def test_diff_participants_joins_leaves_changes_and_rejoins() -> None:
    before = {"a": participant("a", sid="PA_1", attributes={"x": "1", "y": "2"}), "b": participant("b", sid="PA_2")}
    after = [
        participant("a", sid="PA_1", attributes={"x": "9"}),  # x changed, y deleted
        participant("c", sid="PA_3"),  # joined; b left
    ]
    events = diff_participants(before, after, at=5.0)
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ParticipantLeft", "AttributesChanged", "ParticipantJoined"]
    change = events[1]
    assert isinstance(change, AttributesChanged) and dict(change.changed) == {"x": "9", "y": ""}
    rejoined = diff_participants({"a": participant("a", sid="PA_1")}, [participant("a", sid="PA_9")], at=6.0)
    assert isinstance(rejoined[0], ParticipantLeft) and isinstance(rejoined[1], ParticipantJoined)
    assert diff_participants(before, list(before.values()), at=7.0) == []


def test_rooms_frame_has_tz_aware_creation_and_metadata_preview() -> None:
    rooms = [
        RoomSummary("b", "RM_2", "x" * 200, 3, 1_700_000_000.5, 300, 1),
        RoomSummary("a", "RM_1", '{"topic":\n "intro"}', 0, 1_700_000_100.0, 300, 0),
    ]
    frame = rooms_frame(rooms)
    assert list(frame.index) == ["a", "b"]
    assert str(frame["created_at"].dt.tz) == "UTC"
    assert frame.loc["b", "created_at"].timestamp() == pytest.approx(1_700_000_000.5)
    assert frame.loc["b", "participants"] == 3 and frame.loc["b", "publishers"] == 1
    assert frame.loc["a", "metadata"] == '{"topic": "intro"}'
    assert len(metadata_preview("x" * 200)) == 80 and metadata_preview("x" * 200).endswith("…")


async def test_admin_error_on_a_bare_gateway_answer_says_what_it_is() -> None:
    # A stand-in for a proxy in front of LiveKit (not LiveKit behaviour): it answers every request 502, no body.
    async def bad_gateway(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    gateway = await asyncio.start_server(bad_gateway, "127.0.0.1", 0)
    port = gateway.sockets[0].getsockname()[1]
    try:
        async with lk.ServerAPI(Credentials(f"ws://127.0.0.1:{port}", "key", "s" * 32)) as admin:
            with pytest.raises(lk.AdminError) as err:
                await admin.list_rooms()
    finally:
        gateway.close()
    assert err.value.status == 502
    assert "HTTP 502 with no LiveKit error" in str(err.value) and "proxy" in str(err.value), err.value
    assert "unknown: " not in str(err.value)
