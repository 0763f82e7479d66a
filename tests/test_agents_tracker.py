"""The agent tracker's wiring without a server (fakes for the SDK's stream readers; the live behaviour is
tests/test_agents_session.py): the stream observer hook beside the user's handler, agents from kinds and session
messages, malformed messages counted, the no-session-channel evidence, and the hidden inspector's clear refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

import lk_notebook as lk
from lk_notebook.agents import NO_SESSION_CHANNEL, AgentsTracker, AgentView, tracker
from lk_notebook.events import ParticipantJoined, Snapshot
from lk_notebook.routing import Router
from lk_notebook.state import RoomState, participant
from lk_notebook.streams import StreamReceiver

from .agent_messages import agent_state
from .conftest import eventually


class FakeReader:
    """What StreamReceiver reads: `info` and the chunks."""

    def __init__(self, topic: str, chunks: list[Any], *, stream_id: str = "S1", attributes: Any = None) -> None:
        self.info = SimpleNamespace(
            stream_id=stream_id, topic=topic, size=None, mime_type="", name="n", attributes=attributes or {},
            timestamp=1000,
        )  # fmt: skip
        self._chunks = chunks

    async def _gen(self) -> AsyncIterator[Any]:
        for chunk in self._chunks:
            yield chunk

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._gen()


def make(hidden: bool = True) -> tuple[RoomState, StreamReceiver, list[tuple[str, BaseException]], AgentsTracker]:
    reports: list[tuple[str, BaseException]] = []
    router = Router("me", inbox_limit=100, report=lambda where, exc: reports.append((where, exc)))
    receiver = StreamReceiver(
        router, spawn=lambda coro, name="": asyncio.get_running_loop().create_task(coro, name=name)
    )
    state = RoomState("r")
    state.apply(Snapshot("r", "", (participant("me", is_local=True), participant("bot", kind="agent")), at=0.0))
    return state, receiver, reports, AgentsTracker(state, receiver, own_identity="me", hidden=hidden, sender=None)


async def read(receiver: StreamReceiver, reader: FakeReader, identity: str, *, text: bool = False) -> None:
    await receiver._read(reader, identity, is_text=text)  # type: ignore[arg-type]


async def test_observer_sees_streams_beside_the_users_handler_and_a_failing_one_is_reported() -> None:
    _, receiver, reports, _ = make()
    got: list[str] = []

    async def handler(reader: Any, sender: str) -> None:
        got.append(await reader.read_all())

    receiver.register_text_stream_handler("lk.transcription", handler)

    class Broken:
        def opened(self, info: Any, identity: str) -> None:
            raise RuntimeError("observer bug")

        def chunk(self, info: Any, identity: str, chunk: str | bytes) -> None:
            pass

        def closed(self, info: Any, identity: str, error: BaseException | None) -> None:
            pass

    stop = receiver.observe("lk.transcription", Broken())
    await read(receiver, FakeReader("lk.transcription", ["Hel", "lo"]), "bot", text=True)
    await eventually(lambda: got == ["Hello"], what="the user's handler got the whole stream")
    assert [where for where, _ in reports] == ["stream observer for topic 'lk.transcription'"]
    stop()
    await read(receiver, FakeReader("lk.transcription", ["again"], stream_id="S2"), "bot", text=True)
    assert len(reports) == 1


async def test_agents_from_kind_and_session_messages_malformed_counted() -> None:
    state, receiver, _, agents = make()
    assert list(agents) == ["bot"]  # present before the tracker: read at once
    appeared: list[AgentView] = []
    agents.on_agent(appeared.append)
    waiter = asyncio.ensure_future(agents.wait_for("peer", timeout=5))
    await read(receiver, FakeReader("lk.agent.session", [b"\xff\x00garbage"]), "peer")
    view = await waiter
    assert appeared == [view] and view.malformed == 1 and view.errors[0].kind == "malformed"
    thinking = agent_state("listening", "thinking", 1.0)
    await read(receiver, FakeReader("lk.agent.session", [thinking], stream_id="S2"), "bot")
    bot = agents["bot"]
    assert bot.state == "thinking" and bot.has_session_channel is True and bot.version > 0
    state.apply(ParticipantJoined(participant("someone"), at=1.0))
    assert "someone" not in agents  # a standard participant that never spoke on lk.agent.session
    with pytest.raises(TimeoutError, match="'nobody' did not appear"):
        await agents.wait_for("nobody", timeout=0.05)


async def test_a_live_state_change_without_session_event_means_no_session_channel(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(tracker, "NO_EVENT_AFTER", 0.01)
    state, _, _, agents = make()
    bot = agents["bot"]
    changes: list[int] = []
    bot.subscribe(lambda: changes.append(bot.version))
    state.apply(ParticipantJoined(participant("bot", kind="agent", attributes={"lk.agent.state": "listening"}), at=1))
    assert bot.has_session_channel is None  # the first state seen is not a change
    state.apply(ParticipantJoined(participant("bot", kind="agent", attributes={"lk.agent.state": "thinking"}), at=2))
    assert await bot.wait_until(lambda v: v.has_session_channel is False, timeout=2)
    assert bot.notice == NO_SESSION_CHANNEL and bot.state == "thinking" and changes == sorted(set(changes))


async def test_the_hidden_inspector_refuses_to_send_or_ask_and_says_why() -> None:
    _, _, _, agents = make(hidden=True)
    bot = agents["bot"]
    assert not bot.can_send
    with pytest.raises(lk.AgentSendError, match="hidden and publishes nothing") as sent:
        await bot.send("hello")
    assert sent.value.reason == "hidden" and sent.value.agent == "bot"
    with pytest.raises(lk.AgentRequestError, match="get_session_state") as asked:
        await bot.session_state()
    assert asked.value.kind == "get_session_state" and "hidden" in str(asked.value)
