"""Bytes of one `lk.agent.session` byte stream -> one of our typed messages (`messages.py`).

Uses `livekit.protocol.agent_pb.agent_session` (livekit-protocol), never livekit-agents. Never raises on bad input:
malformed bytes become a `DecodeFailure` that says why, so that a model can count and show it.
"""

from __future__ import annotations

from typing import Any, cast

from google.protobuf.message import DecodeError
from livekit.protocol.agent_pb import agent_session as pb

from .messages import (
    AgentStateChanged,
    ChatItem,
    ChatMessage,
    ConfigUpdate,
    ConversationItemAdded,
    Decoded,
    DecodeFailure,
    ErrorReported,
    EventBody,
    FunctionCall,
    FunctionCallOutput,
    FunctionToolsExecuted,
    FunctionToolsStarted,
    Handoff,
    ModelUsage,
    OtherEvent,
    OtherMessage,
    Role,
    SessionEvent,
    SessionResponse,
    SessionUsageUpdated,
    ToolExecutionEnded,
    ToolExecutionStarted,
    ToolStatus,
    UserInputTranscribed,
    UserStateChanged,
)

__all__ = ["agent_state_name", "chat_item", "decode_session_message", "model_usages", "timestamp", "user_state_name"]

# The names the `lk.agent.state` attribute uses (livekit-agents maps its states onto these enum values 1:1).
_AGENT_STATES: dict[int, str] = {
    pb.AS_INITIALIZING: "initializing",
    pb.AS_IDLE: "idle",
    pb.AS_LISTENING: "listening",
    pb.AS_THINKING: "thinking",
    pb.AS_SPEAKING: "speaking",
}
_USER_STATES: dict[int, str] = {pb.US_SPEAKING: "speaking", pb.US_LISTENING: "listening", pb.US_AWAY: "away"}
_ROLES: dict[int, Role] = {pb.DEVELOPER: "developer", pb.SYSTEM: "system", pb.USER: "user", pb.ASSISTANT: "assistant"}
_TOOL_STATUS: dict[int, ToolStatus] = {
    pb.TC_RUNNING: "running",
    pb.TC_DONE: "done",
    pb.TC_ERROR: "error",
    pb.TC_CANCELLED: "cancelled",
}


def agent_state_name(value: int) -> str:
    # proto3 enums are open: a newer agent may send a value this livekit-protocol does not know.
    return _AGENT_STATES.get(value, f"unknown({value})")


def user_state_name(value: int) -> str:
    return _USER_STATES.get(value, f"unknown({value})")


def timestamp(message: Any, name: str) -> float | None:
    """Field `name` (a `google.protobuf.Timestamp`) of `message` as Unix seconds; None when unset."""
    if not message.HasField(name):
        return None
    ts = getattr(message, name)
    return float(ts.seconds) + float(ts.nanos) / 1e9


def _call(c: pb.FunctionCall) -> FunctionCall:
    return FunctionCall(id=c.id, call_id=c.call_id, name=c.name, arguments=c.arguments)


def _output(o: pb.FunctionCallOutput) -> FunctionCallOutput:
    return FunctionCallOutput(call_id=o.call_id, name=o.name, output=o.output, is_error=o.is_error)


def chat_item(item: pb.ChatContext.ChatItem) -> ChatItem | None:
    """One protobuf chat item as ours; None when no kind is set (an item type newer than this protocol)."""
    kind = item.WhichOneof("item")
    if kind == "message":
        m = item.message
        text = "\n".join(c.text for c in m.content if c.WhichOneof("payload") == "text")
        return ChatMessage(m.id, _ROLES.get(m.role, "assistant"), text, m.interrupted, timestamp(m, "created_at"))
    if kind == "function_call":
        return _call(item.function_call)
    if kind == "function_call_output":
        return _output(item.function_call_output)
    if kind == "agent_handoff":
        h = item.agent_handoff
        return Handoff(h.id, h.old_agent_id if h.HasField("old_agent_id") else None, h.new_agent_id)
    if kind == "agent_config_update":
        u = item.agent_config_update
        instructions = u.instructions if u.HasField("instructions") else None
        return ConfigUpdate(u.id, instructions, tuple(u.tools_added), tuple(u.tools_removed))
    return None


def model_usages(usage: pb.AgentSessionUsage) -> tuple[ModelUsage, ...]:
    out: list[ModelUsage] = []
    for mu in usage.model_usage:
        kind = mu.WhichOneof("usage")
        if kind == "llm":
            u = mu.llm
            out.append(ModelUsage("llm", u.provider, u.model, u.input_tokens, u.output_tokens, u.input_cached_tokens))
        elif kind == "tts":
            t = mu.tts
            out.append(
                ModelUsage(
                    "tts", t.provider, t.model, t.input_tokens, t.output_tokens,
                    characters=t.characters_count, audio_duration=t.audio_duration,
                )
            )  # fmt: skip
        elif kind == "stt":
            s = mu.stt
            out.append(
                ModelUsage("stt", s.provider, s.model, s.input_tokens, s.output_tokens, audio_duration=s.audio_duration)
            )
        elif kind in ("interruption", "eot"):
            r = getattr(mu, kind)
            out.append(ModelUsage(cast("Any", kind), r.provider, r.model, requests=r.total_requests))
    return tuple(out)


def _event_body(event: pb.AgentSessionEvent) -> EventBody | str:
    """The event's body, or a reason string when it cannot be used."""
    kind = event.WhichOneof("event")
    if kind is None:
        return "event without a body"
    if kind == "agent_state_changed":
        a = event.agent_state_changed
        return AgentStateChanged(agent_state_name(a.old_state), agent_state_name(a.new_state))
    if kind == "user_state_changed":
        u = event.user_state_changed
        return UserStateChanged(user_state_name(u.old_state), user_state_name(u.new_state))
    if kind == "conversation_item_added":
        item = chat_item(event.conversation_item_added.item)
        return ConversationItemAdded(item) if item is not None else "conversation item without a kind"
    if kind == "user_input_transcribed":
        t = event.user_input_transcribed
        return UserInputTranscribed(t.transcript, t.is_final, t.language if t.HasField("language") else None)
    if kind == "function_tools_started":
        return FunctionToolsStarted(tuple(_call(c) for c in event.function_tools_started.function_calls))
    if kind == "function_tools_executed":
        e = event.function_tools_executed
        return FunctionToolsExecuted(
            tuple(_call(c) for c in e.function_calls), tuple(_output(o) for o in e.function_call_outputs)
        )
    if kind == "tool_execution_updated":
        return _tool_update(event.tool_execution_updated)
    if kind == "session_usage_updated":
        return SessionUsageUpdated(model_usages(event.session_usage_updated.usage))
    if kind == "error":
        return ErrorReported(event.error.message)
    return OtherEvent(kind)


def _tool_update(update: pb.AgentSessionEvent.ToolExecutionUpdated) -> EventBody:
    kind = update.WhichOneof("update")
    if kind == "started":
        return ToolExecutionStarted(_call(update.started.function_call))
    if kind == "ended":
        e = update.ended
        status = _TOOL_STATUS.get(e.status, "error")
        return ToolExecutionEnded(e.id, e.call_id, status, e.message if e.HasField("message") else None)
    return OtherEvent(f"tool_execution_updated.{kind}")


def decode_session_message(data: bytes, *, received_at: float) -> Decoded:
    """One byte stream's bytes -> a `SessionEvent`, a `SessionResponse`, an `OtherMessage` or a `DecodeFailure`."""
    msg = pb.AgentSessionMessage()
    try:
        msg.ParseFromString(data)
    except DecodeError as exc:
        return DecodeFailure(f"not an AgentSessionMessage: {exc}", len(data), received_at)
    kind = msg.WhichOneof("message")
    if kind is None:
        # Empty bytes parse as an empty message; so do bytes holding only fields this protocol version lacks.
        return DecodeFailure("an AgentSessionMessage with no known content", len(data), received_at)
    if kind == "event":
        body = _event_body(msg.event)
        if isinstance(body, str):
            return DecodeFailure(body, len(data), received_at)
        return SessionEvent(timestamp(msg.event, "created_at"), received_at, body)
    if kind == "response":
        r = msg.response
        error = r.error if r.HasField("error") else None
        return SessionResponse(r.request_id, r.WhichOneof("response") or "", error, received_at, r.SerializeToString())
    return OtherMessage(kind, received_at)
