"""Hand-built `lk.agent.session` messages (livekit-protocol protobuf), shaped like livekit-agents 1.8.9 sends them.

For the unit tests and bench/agents.py. `scripted_turn` gives one turn's messages in the order the real agent sent
them here (issue 17): user state, user message, thinking, usage, tool started/ended, tools executed, usage,
speaking, assistant message, listening.
"""

from __future__ import annotations

import json

from google.protobuf.timestamp_pb2 import Timestamp
from livekit.protocol.agent_pb import agent_session as pb

AGENT_STATES = {
    "initializing": pb.AS_INITIALIZING,
    "idle": pb.AS_IDLE,
    "listening": pb.AS_LISTENING,
    "thinking": pb.AS_THINKING,
    "speaking": pb.AS_SPEAKING,
}
USER_STATES = {"speaking": pb.US_SPEAKING, "listening": pb.US_LISTENING, "away": pb.US_AWAY}


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(round(seconds * 1e9))
    return t


def event(at: float | None, **body: object) -> bytes:
    e = pb.AgentSessionEvent(**body)  # type: ignore[arg-type]
    if at is not None:
        e.created_at.CopyFrom(ts(at))
    return pb.AgentSessionMessage(event=e).SerializeToString()


def agent_state(old: str, new: str, at: float) -> bytes:
    change = pb.AgentSessionEvent.AgentStateChanged(old_state=AGENT_STATES[old], new_state=AGENT_STATES[new])
    return event(at, agent_state_changed=change)


def user_state(old: str, new: str, at: float) -> bytes:
    change = pb.AgentSessionEvent.UserStateChanged(old_state=USER_STATES[old], new_state=USER_STATES[new])
    return event(at, user_state_changed=change)


def message_item(
    role: int, text: str, *, item_id: str = "item_m", interrupted: bool = False
) -> pb.ChatContext.ChatItem:
    content = [pb.ChatMessage.ChatContent(text=text)]
    return pb.ChatContext.ChatItem(
        message=pb.ChatMessage(id=item_id, role=role, content=content, interrupted=interrupted)
    )


def message(role: int, text: str, at: float, *, interrupted: bool = False) -> bytes:
    item = message_item(role, text, item_id=f"item_{at}", interrupted=interrupted)
    return event(at, conversation_item_added=pb.AgentSessionEvent.ConversationItemAdded(item=item))


def function_call(call_id: str, name: str, arguments: dict[str, object], *, item_id: str = "") -> pb.FunctionCall:
    return pb.FunctionCall(
        id=item_id or f"item_x/fnc_{call_id}", call_id=call_id, name=name, arguments=json.dumps(arguments)
    )


def tool_started(call_id: str, name: str, arguments: dict[str, object], at: float) -> bytes:
    started = pb.AgentSessionEvent.ToolExecutionUpdated.Started(function_call=function_call(call_id, name, arguments))
    return event(at, tool_execution_updated=pb.AgentSessionEvent.ToolExecutionUpdated(started=started))


def tool_ended(
    call_id: str, message_text: str | None, at: float, *, status: int = pb.TC_DONE, final: bool = False
) -> bytes:
    # livekit-agents ends a call under id call_id (or call_id + "_final" after progress updates), never the item id
    ended = pb.AgentSessionEvent.ToolExecutionUpdated.Ended(
        id=call_id + ("_final" if final else ""), call_id=call_id, status=status
    )
    if message_text is not None:
        ended.message = message_text
    return event(at, tool_execution_updated=pb.AgentSessionEvent.ToolExecutionUpdated(ended=ended))


def tools_executed(
    call_id: str, name: str, arguments: dict[str, object], output: str, at: float, *, is_error: bool = False
) -> bytes:
    # livekit-agents fills only name, arguments, call_id of the calls and call_id, output, is_error of the outputs
    call = pb.FunctionCall(name=name, arguments=json.dumps(arguments), call_id=call_id)
    out = pb.FunctionCallOutput(call_id=call_id, output=output, is_error=is_error)
    executed = pb.AgentSessionEvent.FunctionToolsExecuted(function_calls=[call], function_call_outputs=[out])
    return event(at, function_tools_executed=executed)


def usage(input_tokens: int, output_tokens: int, at: float, *, model: str = "scripted") -> bytes:
    llm = pb.LLMModelUsage(provider="tests", model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    totals = pb.AgentSessionUsage(model_usage=[pb.ModelUsage(llm=llm)])
    return event(at, session_usage_updated=pb.AgentSessionEvent.SessionUsageUpdated(usage=totals))


def error(text: str, at: float) -> bytes:
    return event(at, error=pb.AgentSessionEvent.Error(message=text))


def scripted_turn(
    start: float,
    question: str,
    reply: str,
    *,
    tool: tuple[str, str, dict[str, object], str] | None = None,
    tokens_before: tuple[int, int] = (0, 0),
    step: float = 0.01,
) -> list[bytes]:
    """One turn's messages, `step` seconds apart from `start` (the user message's time). `tool` is
    (call_id, name, arguments, output). Usage totals grow by (10, 5) per LLM call from `tokens_before`."""
    inputs, outputs = tokens_before
    t = [start + i * step for i in range(12)]
    out = [user_state("listening", "speaking", start - 2 * step), user_state("speaking", "listening", start - step)]
    out += [message(pb.USER, question, t[0]), agent_state("listening", "thinking", t[1])]
    if tool is not None:
        call_id, name, arguments, output = tool
        inputs, outputs = inputs + 10, outputs + 5
        out += [usage(inputs, outputs, t[2]), tool_started(call_id, name, arguments, t[3])]
        out += [tool_ended(call_id, output, t[4]), tools_executed(call_id, name, arguments, output, t[5])]
    inputs, outputs = inputs + 10, outputs + 5
    out += [usage(inputs, outputs, t[6]), agent_state("thinking", "speaking", t[7])]
    out += [message(pb.ASSISTANT, reply, t[8]), agent_state("speaking", "listening", t[9])]
    return out
