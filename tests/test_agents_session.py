"""`session.agents` against the real test agent (tests/agent/, dispatched by the real server): the hidden inspector
and a joined user see the same two turns decoded; `view.send` right after joining is heard; requests are typed;
bad input (an agent without the session channel, a request that times out, garbage on lk.agent.session) gives clear
errors and the session survives. Prints request latencies and send-until-heard times (run with -s).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import lk_notebook as lk
from lk_notebook.agents import NO_SESSION_CHANNEL, AgentInfo, AgentView, ChatHistory, RtcStats, SessionState
from lk_notebook.agents.messages import ChatMessage
from lk_notebook.config import Credentials

from .agent.script import GREETING, GREETING_INPUT, INSTRUCTIONS, WEATHER_ARGUMENTS, WEATHER_QUESTION, weather_report
from .agentenv import AgentProcess, dispatch, logged_agent
from .conftest import Sessions, eventually, join_args

pytestmark = [pytest.mark.server, pytest.mark.slow]


@pytest.fixture(scope="module")
def agent(credentials: Credentials) -> Iterator[AgentProcess]:
    with logged_agent(credentials, "lk-notebook-agents") as process:
        yield process


TURN = [("listening", "thinking"), ("thinking", "speaking"), ("speaking", "listening")]


def replies(view: AgentView) -> int:
    return sum(1 for e in view.model.conversation if isinstance(e.item, ChatMessage) and e.item.role == "assistant")


def turn_done(count: int) -> Callable[[AgentView], bool]:
    """`count` replies, and the state changes of `count` whole turns. Each session message is its own stream, so a
    turn's state changes can arrive after its reply (seen in CI at load ~20: the second reply in, the agent still
    "listening" from the first turn, the second turn's changes not yet read)."""

    def done(v: AgentView) -> bool:
        agent = [(s.old, s.new) for s in v.model.agent_states]
        whole = sum(1 for i in range(len(agent) - 2) if agent[i : i + 3] == TURN)
        return replies(v) >= count and whole >= count and v.state == "listening"

    return done


def said(view: AgentView) -> pd.DataFrame:
    """The conversation's user and assistant messages."""
    talk = view.conversation_frame()
    return talk[talk["role"].isin(["user", "assistant"])]


def seen_reply(item: object) -> object:
    """`item` when it is an assistant message, else None."""
    return item if isinstance(item, ChatMessage) and item.role == "assistant" else None


async def test_two_turns_seen_from_the_inspector_and_the_user(
    agent: AgentProcess, sessions: Sessions, credentials: Credentials, room_name: str, tmp_path: Path
) -> None:
    user = await sessions.join(room_name, "user")
    # A recorder (its own hidden inspector) keeps the agent's session messages: replayed, they decode to the same.
    recorder = await lk.record(room_name, tmp_path / "agent.lkrec", **join_args(credentials))
    sessions.stack.push_async_callback(recorder.aclose)
    transcripts: list[str] = []

    async def own_handler(reader: Any, sender: str) -> None:  # the user's own handler: agents take no slot
        transcripts.append(await reader.read_all())

    user.register_text_stream_handler("lk.transcription", own_handler)
    inspector = await sessions.keep(await lk.inspect(room_name, **join_args(credentials), rejoin=False))
    await dispatch(credentials, agent.agent_name, room_name)
    seen = await inspector.agents.wait_for(timeout=30)
    mine = await user.agents.wait_for(seen.identity, timeout=30)
    assert await mine.wait_until(lambda v: v.state == "listening", timeout=30)
    # its session messages may come before the server announces it (no media tracks: the 3 s tick)
    assert await user.wait_for(lambda s: seen.identity in s, timeout=10)
    assert mine.can_send, "the agent joined after the user, who was alone: it links to the user"

    await mine.send(WEATHER_QUESTION)
    assert await seen.wait_until(turn_done(1), timeout=30)
    await mine.send(GREETING_INPUT)
    assert await seen.wait_until(turn_done(2), timeout=30)
    assert await seen.wait_until(lambda v: sum(s.final for s in v.model.segments.values()) >= 2, timeout=10)
    assert seen.has_session_channel is True and seen.errors == [] and seen.notice.startswith("seen from a hidden")

    expected = [("user", WEATHER_QUESTION), ("assistant", weather_report("Paris"))]
    expected += [("user", GREETING_INPUT), ("assistant", GREETING)]
    talk = said(seen)
    assert list(zip(talk["role"], talk["text"], strict=True)) == expected
    assert seen.conversation_frame()["role"].iloc[0] == "handoff"  # the session starting its agent

    tools = seen.tool_calls_frame()
    assert list(tools["name"]) == ["get_weather"]
    assert json.loads(tools.iloc[0]["arguments"]) == WEATHER_ARGUMENTS
    assert tools.iloc[0]["output"] == weather_report("Paris") and not tools.iloc[0]["is_error"]

    agent_states = seen.states_frame().query("who == 'agent'")
    transitions = list(zip(agent_states["old"], agent_states["new"], strict=True))
    assert transitions[-6:] == TURN + TURN, transitions
    assert (seen.usage_frame()["input_tokens"] > 0).all() and (seen.usage_frame()["output_tokens"] > 0).all()

    turns = seen.turns_frame()
    assert len(turns) == 2 and list(turns["tools"]) == ["get_weather", ""]
    starts = [e.at for e in seen.model.conversation if isinstance(e.item, ChatMessage) and e.item.role == "user"]
    for (begin, end), (_, row) in zip([(starts[0], starts[1]), (starts[1], 1e18)], turns.iterrows(), strict=True):
        at = {s.new: s.at for s in seen.model.agent_states if begin <= s.at < end}
        assert row["to_thinking"] == pytest.approx(at["thinking"] - begin)
        assert row["to_speaking"] == pytest.approx(at["speaking"] - begin)
        assert row["to_listening"] == pytest.approx(at["listening"] - begin)
        reply_at = [e.at for e in seen.model.conversation if begin <= e.at < end and e.item == seen_reply(e.item)]
        assert row["to_final"] == pytest.approx(reply_at[-1] - begin)

    # The recording holds the session as the inspector saw it: replayed, the same conversation, tools and turns.
    # (The recorder is a hidden session of its own: it is closed once it, too, has seen the second reply.)
    recorded_view = await recorder.session.agents.wait_for(seen.identity, timeout=10)
    assert await recorded_view.wait_until(turn_done(2), timeout=10)
    await recorder.aclose()
    with lk.Recording(tmp_path / "agent.lkrec") as recording:
        replayed = recording.agents()[seen.identity]
    assert replayed.conversation_frame()["text"].tolist() == seen.conversation_frame()["text"].tolist()
    assert replayed.tool_calls_frame()[["name", "arguments", "output"]].equals(tools[["name", "arguments", "output"]])
    assert replayed.states_frame()[["who", "old", "new"]].equals(seen.states_frame()[["who", "old", "new"]])
    assert replayed.turns_frame()[["tools", "to_thinking", "to_speaking"]].equals(
        turns[["tools", "to_thinking", "to_speaking"]]
    )

    # The user's own view saw the same; its session lists only itself and the agent, never the inspector.
    assert await mine.wait_until(turn_done(2), timeout=10)
    assert list(zip(said(mine)["role"], said(mine)["text"], strict=True)) == expected
    await eventually(lambda: len(transcripts) == 2, what="the user's own lk.transcription handler got both replies")
    assert [weather_report("Paris"), GREETING] == [s.text for s in mine.model.segments.values()] == transcripts
    assert set(user.state.participants) == {"user", seen.identity}

    latencies: dict[str, float] = {}
    start = time.monotonic()
    history = await mine.chat_history()
    latencies["chat_history"] = time.monotonic() - start
    messages = history[(history["type"] == "message") & history["role"].isin(["user", "assistant"])]
    assert list(zip(messages["role"], messages["text"], strict=True)) == expected
    calls = history[history["type"] == "function_call"]
    assert list(calls["name"]) == list(tools["name"]) and list(calls["arguments"]) == list(tools["arguments"])
    assert list(history[history["type"] == "function_call_output"]["output"]) == list(tools["output"])
    latencies["ping"] = await mine.ping()
    for name, call, kind in (
        ("session_state", mine.session_state, SessionState),
        ("agent_info", mine.agent_info, AgentInfo),
        ("rtc_stats", mine.rtc_stats, RtcStats),
    ):
        start = time.monotonic()
        answer = await call()
        latencies[name] = time.monotonic() - start
        assert isinstance(answer, kind)
    state = await mine.session_state()
    assert state.agent_state == "listening"
    assert (await mine.agent_info()).instructions == INSTRUCTIONS
    usage = await mine.session_usage()
    assert sum(u.input_tokens for u in usage.usage) == seen.usage_frame()["input_tokens"].sum()
    start = time.monotonic()
    ran = await mine.run_input(GREETING_INPUT)
    latencies["run_input"] = time.monotonic() - start
    assert isinstance(ran, ChatHistory)
    assert [i.text for i in ran.items if isinstance(i, ChatMessage) and i.role == "assistant"] == [GREETING]

    # The inspector publishes nothing: it says so rather than waiting.
    with pytest.raises(lk.AgentRequestError, match="hidden and publishes nothing") as asked:
        await seen.chat_history()
    assert asked.value.kind == "get_chat_history"
    with pytest.raises(lk.AgentSendError, match="hidden and publishes nothing") as sent:
        await seen.send("hello")
    assert sent.value.reason == "hidden" and not seen.can_send

    # A request that times out names itself (a timeout shorter than any answer: the agent does answer later).
    with pytest.raises(lk.AgentTimeoutError, match="get_session_state") as late:
        await mine.session_state(timeout=0.001)
    assert late.value.kind == "get_session_state" and late.value.timeout == 0.001
    print("request latencies (ms): " + ", ".join(f"{k} {v * 1000:.0f}" for k, v in latencies.items()))
    assert mine.last_send is not None
    print(f"send: {mine.last_send.sends} sends, heard after {mine.last_send.seconds * 1000:.0f} ms")

    # Garbage on lk.agent.session from a peer: counted, never fatal; the real agent's view keeps working.
    peer = await sessions.join(room_name, "garbage-peer")
    await peer.send_bytes(b"\xff\x00 not a protobuf", topic="lk.agent.session")
    bad = await inspector.agents.wait_for("garbage-peer", timeout=10)
    assert await bad.wait_until(lambda v: v.malformed == 1, timeout=10)
    assert bad.errors[0].kind == "malformed" and "not an AgentSessionMessage" in bad.errors[0].message
    assert seen.errors == [] and inspector.status is lk.ConnectionStatus.CONNECTED
    await mine.send(GREETING_INPUT)
    assert await seen.wait_until(turn_done(4), timeout=30)  # run_input's reply was the third


async def test_send_right_after_joining_is_heard_and_a_second_session_is_told_it_is_not_linked(
    agent: AgentProcess, sessions: Sessions, credentials: Credentials, room_name: str
) -> None:
    inspector = await sessions.keep(await lk.inspect(room_name, **join_args(credentials), rejoin=False))
    await dispatch(credentials, agent.agent_name, room_name)
    seen = await inspector.agents.wait_for(timeout=30)
    assert await seen.wait_until(lambda v: v.state == "listening", timeout=30)

    start = time.monotonic()
    user = await sessions.join(room_name, "late-user")
    view = await user.agents.wait_for(seen.identity, timeout=5)  # already in the room: known at once
    assert not view.can_send  # the agent was there first: it has not heard of us yet
    await view.send(GREETING_INPUT)
    heard = time.monotonic() - start
    assert view.can_send and view.last_send is not None
    assert await view.wait_until(turn_done(1), timeout=20)
    print(
        f"send right after joining: heard {heard:.2f} s after join() started ({view.last_send.sends} sends), "
        f"answered {time.monotonic() - start:.2f} s"
    )

    second = await sessions.join(room_name, "second-user")
    other = await second.agents.wait_for(seen.identity, timeout=5)
    with pytest.raises(lk.AgentSendError, match="linked") as refused:
        await other.send(GREETING_INPUT, timeout=10)
    assert refused.value.reason == "not_linked" and "late-user" in str(refused.value)


@pytest.fixture(scope="module")
def old_agent(credentials: Credentials) -> Iterator[AgentProcess]:
    """The same agent started without its session host: nothing on lk.agent.session (an older framework)."""
    with logged_agent(credentials, "lk-notebook-old", session_host=False) as process:
        yield process


async def test_agent_without_session_channel_fills_frames_from_attributes_and_transcriptions(
    old_agent: AgentProcess, sessions: Sessions, credentials: Credentials, room_name: str
) -> None:
    user = await sessions.join(room_name, "user")
    inspector = await sessions.keep(await lk.inspect(room_name, **join_args(credentials), rejoin=False))
    await dispatch(credentials, old_agent.agent_name, room_name)
    seen = await inspector.agents.wait_for(timeout=30)
    mine = await user.agents.wait_for(seen.identity, timeout=30)
    assert await mine.wait_until(lambda v: v.state == "listening", timeout=30)

    await mine.send(GREETING_INPUT)  # heard: the agent goes thinking and a reply opens (no conversation events)
    assert await seen.wait_until(
        lambda v: any(s.final and s.text == GREETING for s in v.model.segments.values()) and v.state == "listening",
        timeout=30,
    )
    assert await seen.wait_until(lambda v: v.has_session_channel is False, timeout=10)
    assert seen.notice == NO_SESSION_CHANNEL and seen.model.events == 0
    talk = seen.conversation_frame()
    assert list(talk[talk["role"] == "assistant"]["text"]) == [GREETING]
    states = seen.states_frame()
    assert set(states["source"]) == {"attribute"} and states["new"].iloc[-1] == "listening", states
    # The attribute can skip a state: the agent cancels its update of the attribute when the next state comes first
    # (RoomIO._on_agent_state_changed; CI once: no "speaking" under load). What it shows is in the turn's order,
    # and a state that was published is in the frame (the one turn: at most one thinking, one speaking).
    turn = [s for s in states["new"] if s in ("thinking", "speaking")]
    assert turn in (["thinking", "speaking"], ["thinking"], ["speaking"], []), states
    print("states seen from the attribute:", list(states["new"]))

    with pytest.raises(lk.AgentTimeoutError, match="get_session_state") as late:
        await mine.session_state(timeout=2.0)
    assert "lk.agent.session" in str(late.value) and mine.has_session_channel is False
    assert user.status is lk.ConnectionStatus.CONNECTED and inspector.status is lk.ConnectionStatus.CONNECTED
