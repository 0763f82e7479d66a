"""The agents decoder, model, frames and request helpers, fed hand-built protobuf messages (tests/agent_messages.py).

Pure: no server. The live counterpart, with a real livekit-agents worker, is test_agent_live.py.
"""

from __future__ import annotations

import json
import random
from typing import get_args

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from livekit.protocol.agent_pb import agent_session as pb

from lk_notebook.agents import (
    AgentModel,
    AgentRequestError,
    AgentsModel,
    ChatHistory,
    DecodeFailure,
    SessionEvent,
    SessionResponse,
    build_request,
    decode_session_message,
    parse_response,
)
from lk_notebook.agents.frames import ConversationRow, StateRow, ToolCallRow, TurnRow, UsageRow
from lk_notebook.agents.messages import (
    AgentStateChanged,
    ChatMessage,
    ConversationItemAdded,
    ErrorReported,
    FunctionToolsExecuted,
    OtherEvent,
    SessionUsageUpdated,
    ToolExecutionEnded,
    ToolExecutionStarted,
    UserStateChanged,
)
from lk_notebook.agents.requests import AgentInfo, FrameworkInfo, Pong, RequestKind, SessionState, SessionUsage

from . import agent_messages as m

AGENT = "agent-1"
WEATHER = ("call_1", "get_weather", {"city": "Paris"}, "It is sunny and 21 degrees in Paris.")


def two_turns(step: float = 0.01) -> list[bytes]:
    first = m.scripted_turn(100.0, "what is the weather in Paris?", WEATHER[3], tool=WEATHER, step=step)
    second = m.scripted_turn(105.0, "hello", "Hello!", tokens_before=(20, 10), step=step)
    return [m.agent_state("initializing", "listening", 99.0), *first, *second]


def fed(messages: list[bytes]) -> AgentModel:
    agents = AgentsModel()
    for i, data in enumerate(messages):
        agents.feed_session_bytes(AGENT, data, received_at=1000.0 + i)
    return agents[AGENT]


# -- decoding -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "body"),
    [
        (m.agent_state("listening", "thinking", 1.0), AgentStateChanged("listening", "thinking")),
        (m.user_state("speaking", "away", 1.0), UserStateChanged("speaking", "away")),
        (m.error("boom", 1.0), ErrorReported("boom")),
    ],
)
def test_decode_events(data: bytes, body: object) -> None:
    decoded = decode_session_message(data, received_at=5.0)
    assert decoded == SessionEvent(created_at=1.0, received_at=5.0, body=body)  # type: ignore[arg-type]


def test_decode_items_tools_usage() -> None:
    decoded = decode_session_message(m.message(pb.ASSISTANT, "hi", 2.5, interrupted=True), received_at=3.0)
    assert isinstance(decoded, SessionEvent) and isinstance(decoded.body, ConversationItemAdded)
    item = decoded.body.item
    assert isinstance(item, ChatMessage) and (item.role, item.text, item.interrupted) == ("assistant", "hi", True)

    started = decode_session_message(m.tool_started("call_7", "f", {"a": 1}, 1.0), received_at=0.0)
    assert isinstance(started, SessionEvent) and isinstance(started.body, ToolExecutionStarted)
    assert started.body.call.id == "item_x/fnc_call_7" and started.body.call.call_id == "call_7"
    ended = decode_session_message(m.tool_ended("call_7", None, 1.0, status=pb.TC_ERROR, final=True), received_at=0.0)
    assert isinstance(ended, SessionEvent) and ended.body == ToolExecutionEnded("call_7_final", "call_7", "error", None)
    executed = decode_session_message(m.tools_executed("c", "f", {}, "out", 1.0), received_at=0.0)
    assert isinstance(executed, SessionEvent) and isinstance(executed.body, FunctionToolsExecuted)
    assert executed.body.outputs[0].output == "out"
    used = decode_session_message(m.usage(12, 3, 1.0), received_at=0.0)
    assert isinstance(used, SessionEvent) and isinstance(used.body, SessionUsageUpdated)
    assert (used.body.usage[0].kind, used.body.usage[0].input_tokens, used.body.usage[0].output_tokens) == (
        "llm",
        12,
        3,
    )


def test_decode_unknown_enum_and_other_event_and_missing_time() -> None:
    change = pb.AgentSessionEvent.AgentStateChanged(old_state=pb.AS_LISTENING, new_state=9)  # type: ignore[arg-type]
    decoded = decode_session_message(m.event(None, agent_state_changed=change), received_at=4.0)
    assert isinstance(decoded, SessionEvent) and decoded.created_at is None
    assert decoded.body == AgentStateChanged("listening", "unknown(9)")
    other = m.event(1.0, agent_false_interruption=pb.AgentSessionEvent.AgentFalseInterruption(resumed=True))
    assert decode_session_message(other, received_at=0.0).body == OtherEvent("agent_false_interruption")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xff\xff", "not an AgentSessionMessage"),
        (m.message(pb.USER, "cut short", 1.0)[:-3], "not an AgentSessionMessage"),
        (b"", "no known content"),
        (m.event(1.0), "event without a body"),
    ],
)
def test_malformed_is_counted_never_raised(data: bytes, reason: str) -> None:
    decoded = decode_session_message(data, received_at=7.0)
    assert isinstance(decoded, DecodeFailure) and reason in decoded.reason and decoded.size == len(data)
    agents = AgentsModel()
    agents.feed_session_bytes(AGENT, data, received_at=7.0)
    agents.feed_session_bytes(AGENT, m.agent_state("listening", "thinking", 8.0), received_at=8.0)
    model = agents[AGENT]
    assert model.malformed == 1 and model.state == "thinking"
    assert [(e.kind, e.at) for e in model.errors] == [("malformed", 7.0)] and reason in model.errors[0].message
    assert list(model.errors_frame()["kind"]) == ["malformed"]


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_decode_without_raising(data: bytes) -> None:
    agents = AgentsModel()
    decoded = agents.feed_session_bytes(AGENT, data, received_at=0.0)
    if isinstance(decoded, DecodeFailure | SessionEvent):
        model = agents[AGENT]
        assert model.malformed + model.events == 1
        model.conversation_frame(), model.states_frame(), model.tool_calls_frame(), model.turns_frame()
    else:
        assert AGENT not in agents  # a response or someone's request: not agent output


# -- the model ----------------------------------------------------------------------------------------------------
def test_two_turns_frames() -> None:
    model = fed(two_turns())
    assert model.has_session_channel and model.malformed == 0 and model.state == "listening"
    conversation = model.conversation_frame()
    assert list(conversation.columns) == list(ConversationRow.__annotations__)
    assert list(zip(conversation["role"], conversation["text"], strict=True)) == [
        ("user", "what is the weather in Paris?"),
        ("assistant", WEATHER[3]),
        ("user", "hello"),
        ("assistant", "Hello!"),
    ]
    assert str(conversation["at"].dt.tz) == "UTC"

    states = model.states_frame()
    assert list(states.columns) == list(StateRow.__annotations__)
    agent = states[states["who"] == "agent"]
    assert list(agent["new"]) == ["listening", "thinking", "speaking", "listening", "thinking", "speaking", "listening"]
    assert list(states[states["who"] == "user"]["new"]) == ["speaking", "listening"] * 2

    usage = model.usage_frame()
    assert list(usage.columns) == list(UsageRow.__annotations__)
    assert (usage["input_tokens"].tolist(), usage["output_tokens"].tolist()) == ([30], [15])


def test_tool_call_start_and_end_joined_on_call_id() -> None:
    model = fed(two_turns())
    tools = model.tool_calls_frame()
    assert list(tools.columns) == list(ToolCallRow.__annotations__)
    assert len(tools) == 1
    row = tools.iloc[0]
    assert (row["call_id"], row["name"], json.loads(row["arguments"])) == ("call_1", "get_weather", {"city": "Paris"})
    assert (row["output"], row["is_error"], row["status"]) == (WEATHER[3], False, "done")
    assert row["duration"] == pytest.approx(0.01)  # started at t[3], ended at t[4]


def test_tool_call_ended_before_started_and_error() -> None:
    messages = [
        m.tool_ended("call_9", "ValueError: no city", 2.0, status=pb.TC_ERROR, final=True),
        m.tool_started("call_9", "get_weather", {"city": ""}, 1.0),
    ]
    call = fed(messages).tool_calls["call_9"]
    assert (call.name, call.output, call.is_error, call.status) == ("get_weather", "ValueError: no city", True, "error")
    assert call.duration == pytest.approx(1.0)


def test_a_reused_call_id_is_a_new_call() -> None:
    first = m.scripted_turn(100.0, "weather?", "sunny", tool=("call_1", "get_weather", {"city": "Paris"}, "sunny"))
    second = m.scripted_turn(105.0, "and Rome?", "rain", tool=("call_1", "get_weather", {"city": "Rome"}, "rain"))
    second[5] = m.tool_started("call_1", "get_weather", {"city": "Rome"}, 105.03).replace(b"fnc_call_1", b"fnc_call_X")
    tools = fed([*first, *second]).tool_calls_frame()
    assert [json.loads(a)["city"] for a in tools["arguments"]] == ["Paris", "Rome"]
    assert list(tools["output"]) == ["sunny", "rain"]
    assert list(fed([*first, *second]).turns_frame()["tools"]) == ["get_weather", "get_weather"]


def test_turns_from_the_events_own_timestamps() -> None:
    step = 0.01
    turns = fed(two_turns(step)).turns_frame()
    assert list(turns.columns) == list(TurnRow.__annotations__)
    assert len(turns) == 2
    for column, steps in (("to_thinking", 1), ("to_speaking", 7), ("to_final", 8), ("to_listening", 9)):
        assert turns[column].tolist() == pytest.approx([steps * step] * 2), column
    assert turns["to_first_chunk"].isna().all()  # no transcription fed
    assert list(turns["tools"]) == ["get_weather", ""]
    assert (turns["input_tokens"].tolist(), turns["output_tokens"].tolist()) == ([20, 10], [10, 5])
    assert list(turns["reply_text"]) == [WEATHER[3], "Hello!"]


@settings(max_examples=100, derandomize=True, deadline=None)
@given(st.randoms(use_true_random=False))
def test_arrival_order_does_not_matter(rnd: random.Random) -> None:
    """Each message is its own byte stream, read concurrently: any arrival order gives the same story."""
    messages = two_turns()
    expected = fed(messages)
    shuffled = messages[:]
    rnd.shuffle(shuffled)
    model = fed(shuffled)
    assert model.state == expected.state == "listening"
    for frame in ("conversation_frame", "states_frame", "tool_calls_frame", "usage_frame", "turns_frame"):
        got, want = getattr(model, frame)(), getattr(expected, frame)()
        if "received_at" in got:
            got, want = got.drop(columns="received_at"), want.drop(columns="received_at")
        assert got.equals(want), frame


def test_transcriptions_and_first_chunk() -> None:
    agents = AgentsModel()
    for i, data in enumerate(two_turns()):
        agents.feed_session_bytes(AGENT, data, received_at=1000.0 + i)
    agents.feed_transcription_chunk(AGENT, "early", "lost", received_at=1.0)  # opened before we listened: ignored
    opening = {"lk.segment_id": "SG_1", "lk.transcription_final": "false"}
    agents.feed_transcription_opened(AGENT, "TS_1", opening, opened_at=100.05, received_at=2.0)
    agents.feed_transcription_chunk(AGENT, "TS_1", "It is ", received_at=2.1)
    agents.feed_transcription_chunk(AGENT, "TS_1", "sunny", received_at=2.2)
    segment = agents[AGENT].segments["TS_1"]
    assert (segment.segment_id, segment.text, segment.final, segment.first_chunk_received_at) == (
        "SG_1",
        "It is sunny",
        False,
        2.1,
    )
    agents.feed_transcription_closed(AGENT, "TS_1", {**opening, "lk.transcription_final": "true"}, received_at=2.3)
    assert segment.final and segment.final_received_at == 2.3
    assert "early" not in agents[AGENT].segments
    turns = agents[AGENT].turns_frame()
    assert turns["to_first_chunk"].tolist()[0] == pytest.approx(0.05)


def test_agent_without_session_channel_fills_from_attributes_and_transcriptions() -> None:
    agents = AgentsModel()
    agents.feed_attributes("user", {"role": "guest"}, at=0.5)
    assert "user" not in agents  # not an agent
    for at, state in ((1.0, "listening"), (2.0, "thinking"), (3.0, "speaking"), (4.0, "listening")):
        agents.feed_attributes(AGENT, {"lk.agent.state": state, "lk.agent.name": "weather"}, at=at)
    agents.feed_attributes(AGENT, {"lk.agent.state": "listening", "lk.agent.name": "weather"}, at=5.0)  # no change
    agents.feed_transcription_opened(AGENT, "TS_1", {"lk.segment_id": "SG_1"}, opened_at=2.9, received_at=2.95)
    agents.feed_transcription_chunk(AGENT, "TS_1", "Hello!", received_at=3.0)
    agents.feed_transcription_closed(AGENT, "TS_1", {"lk.transcription_final": "true"}, received_at=3.5)
    model = agents[AGENT]
    assert not model.has_session_channel and model.name == "weather" and model.state == "listening"
    states = model.states_frame()
    assert list(zip(states["old"], states["new"], strict=True)) == [
        ("", "listening"), ("listening", "thinking"), ("thinking", "speaking"), ("speaking", "listening"),
    ]  # fmt: skip
    assert set(states["source"]) == {"attribute"}
    conversation = model.conversation_frame()
    assert list(zip(conversation["role"], conversation["text"], strict=True)) == [("assistant", "Hello!")]


def test_session_events_win_over_attributes() -> None:
    agents = AgentsModel()
    agents.feed_attributes(AGENT, {"lk.agent.state": "thinking"}, at=1.0)
    agents.feed_session_bytes(AGENT, m.agent_state("listening", "speaking", 2.0), received_at=2.0)
    states = agents[AGENT].states_frame()
    assert list(states["source"]) == ["session"] and agents[AGENT].state == "speaking"


def test_agent_error_event() -> None:
    model = fed([m.error("LLM failed", 3.0)])
    assert [(e.kind, e.message) for e in model.errors] == [("agent", "LLM failed")] and model.malformed == 0


# -- requests -----------------------------------------------------------------------------------------------------
def response(request_id: str, **body: object) -> SessionResponse:
    data = pb.AgentSessionMessage(response=pb.SessionResponse(request_id=request_id, **body)).SerializeToString()  # type: ignore[arg-type]
    decoded = decode_session_message(data, received_at=0.0)
    assert isinstance(decoded, SessionResponse)
    return decoded


# Every kind but run_input, which carries text (its own test below).
@pytest.mark.parametrize("kind", [k for k in get_args(RequestKind) if k != "run_input"])
def test_request_framing(kind: str) -> None:
    request = build_request(kind, request_id="req_1")  # type: ignore[arg-type]
    message = pb.AgentSessionMessage()
    message.ParseFromString(request.encode())
    assert message.WhichOneof("message") == "request"
    assert message.request.request_id == "req_1" and message.request.WhichOneof("request") == kind


def test_run_input_request_and_bad_kinds() -> None:
    message = pb.AgentSessionMessage()
    message.ParseFromString(build_request("run_input", text="hello").encode())
    assert message.request.run_input.text == "hello"
    assert build_request("ping").request_id != build_request("ping").request_id
    with pytest.raises(ValueError, match="needs the user's text"):
        build_request("run_input")
    with pytest.raises(ValueError, match="unknown session request"):
        build_request("get_weather")  # type: ignore[arg-type]


def test_parse_responses() -> None:
    def answer(kind: str, **body: object) -> object:
        request = build_request(kind, text="hi", request_id="r")  # type: ignore[arg-type]
        return parse_response(request, response("r", **body))

    assert answer("ping", pong=pb.SessionResponse.Pong()) == Pong()
    info = pb.SessionResponse.GetFrameworkInfoResponse(sdk="python", sdk_version="1.8.9")
    assert answer("get_framework_info", get_framework_info=info) == FrameworkInfo("python", "1.8.9")
    history = pb.SessionResponse.GetChatHistoryResponse(
        items=[
            m.message_item(pb.USER, "q"),
            pb.ChatContext.ChatItem(function_call=m.function_call("call_1", "get_weather", {"city": "Paris"})),
            pb.ChatContext.ChatItem(function_call_output=pb.FunctionCallOutput(call_id="call_1", output="sunny")),
            m.message_item(pb.ASSISTANT, "sunny"),
        ]
    )
    parsed = answer("get_chat_history", get_chat_history=history)
    assert isinstance(parsed, ChatHistory)
    frame = parsed.frame()
    assert list(frame["type"]) == ["message", "function_call", "function_call_output", "message"]
    assert (frame["name"][1], frame["output"][2], frame["text"][3]) == ("get_weather", "sunny", "sunny")
    agent = pb.SessionResponse.GetAgentInfoResponse(id="a", instructions="be nice", tools=["get_weather"])
    assert answer("get_agent_info", get_agent_info=agent) == AgentInfo("a", "be nice", ("get_weather",), ())
    state = pb.SessionResponse.GetSessionStateResponse(agent_state=pb.AS_THINKING, user_state=pb.US_AWAY, agent_id="a")
    parsed_state = answer("get_session_state", get_session_state=state)
    assert isinstance(parsed_state, SessionState) and (parsed_state.agent_state, parsed_state.user_state) == (
        "thinking",
        "away",
    )
    usage = pb.SessionResponse.GetSessionUsageResponse(
        usage=pb.AgentSessionUsage(model_usage=[pb.ModelUsage(llm=pb.LLMModelUsage(model="x", input_tokens=4))])
    )
    parsed_usage = answer("get_session_usage", get_session_usage=usage)
    assert isinstance(parsed_usage, SessionUsage) and parsed_usage.usage[0].input_tokens == 4
    ran = answer("run_input", run_input=pb.SessionResponse.RunInputResponse(items=[m.message_item(pb.ASSISTANT, "Hi")]))
    assert isinstance(ran, ChatHistory) and [i.text for i in ran.items if isinstance(i, ChatMessage)] == ["Hi"]


def test_response_errors_name_the_request() -> None:
    request = build_request("run_input", text="hi", request_id="r")
    with pytest.raises(AgentRequestError, match=r"run_input \(r\) failed: the agent answered: empty"):
        parse_response(request, response("r", error="empty"))
    with pytest.raises(AgentRequestError, match="got the response to other"):
        parse_response(request, response("other", run_input=pb.SessionResponse.RunInputResponse()))
    with pytest.raises(AgentRequestError, match="expected run_input, got pong"):
        parse_response(request, response("r", pong=pb.SessionResponse.Pong()))
