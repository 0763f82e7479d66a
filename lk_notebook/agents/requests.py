"""Session requests to a LiveKit Agents session, and their responses as plain typed objects.

Framing (livekit-agents `remote_session.py`): a request is one byte stream on `lk.agent.session` holding an
`AgentSessionMessage(request=SessionRequest(request_id=..., <kind>=...))`. The agent answers with an
`AgentSessionMessage(response=SessionResponse(request_id=<same>, <kind>=..., error=...))` sent to EVERY participant
(its transport has no destination), so a client matches responses by `request_id` and ignores the others'. A request
kind the agent does not know gets no answer at all: only a timeout tells.

Example::

    request = build_request("get_chat_history")
    await participant.stream_bytes(topic=SESSION_TOPIC, ...).write(request.encode())
    ...  # a SessionResponse with request.request_id arrives
    history = parse_response(request, response)   # a ChatHistory
    history.frame()
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from google.protobuf.json_format import MessageToDict
from google.protobuf.message import DecodeError
from livekit.protocol.agent_pb import agent_session as pb

from ..errors import AgentRequestError  # lived here; kept importable
from .decode import agent_state_name, chat_item, model_usages, timestamp, user_state_name
from .messages import ChatItem, ChatMessage, FunctionCall, FunctionCallOutput, ModelUsage, SessionResponse

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "REQUEST_KINDS",
    "AgentInfo",
    "AgentRequestError",
    "ChatHistory",
    "FrameworkInfo",
    "Pong",
    "RequestKind",
    "ResponseBody",
    "RtcStats",
    "SessionRequest",
    "SessionState",
    "SessionUsage",
    "build_request",
    "parse_response",
]

RequestKind = Literal[
    "ping",
    "get_framework_info",
    "get_agent_info",
    "get_session_state",
    "get_chat_history",
    "get_session_usage",
    "get_rtc_stats",
    "run_input",
]
REQUEST_KINDS: tuple[RequestKind, ...] = (
    "ping", "get_framework_info", "get_agent_info", "get_session_state",
    "get_chat_history", "get_session_usage", "get_rtc_stats", "run_input",
)  # fmt: skip

# Every request kind except ping is answered in a response field of the same name.
_RESPONSE_KIND: dict[str, str] = {kind: kind for kind in REQUEST_KINDS} | {"ping": "pong"}


@dataclass(frozen=True, slots=True)
class SessionRequest:
    """One request, ready to send: `encode()` is the byte stream's content."""

    request_id: str
    kind: RequestKind
    text: str = ""
    """run_input's user text."""

    def encode(self) -> bytes:
        request = pb.SessionRequest(request_id=self.request_id)
        if self.kind == "run_input":
            request.run_input.text = self.text
        else:
            # The request messages carry no fields: setting the empty submessage selects the oneof.
            getattr(request, self.kind).SetInParent()
        return pb.AgentSessionMessage(request=request).SerializeToString()


def build_request(kind: RequestKind, *, text: str = "", request_id: str | None = None) -> SessionRequest:
    if kind not in REQUEST_KINDS:
        raise ValueError(f"unknown session request {kind!r}: use one of {', '.join(REQUEST_KINDS)}")
    if kind == "run_input" and not text:
        raise ValueError("run_input needs the user's text (the agent answers an empty one with an error)")
    return SessionRequest(request_id or f"req_{uuid.uuid4().hex[:12]}", kind, text)


def _items_frame(items: tuple[ChatItem, ...]) -> pd.DataFrame:
    import pandas as pd

    rows: list[tuple[object, ...]] = []
    for item in items:
        if isinstance(item, ChatMessage):
            rows.append(("message", item.role, item.text, "", "", None, item.interrupted))
        elif isinstance(item, FunctionCall):
            rows.append(("function_call", "", "", item.name, item.arguments, None, False))
        elif isinstance(item, FunctionCallOutput):
            rows.append(("function_call_output", "", "", item.name, "", item.output, False))
        else:
            rows.append((type(item).__name__.lower(), "", "", "", "", None, False))
    frame: pd.DataFrame = pd.DataFrame(
        rows, columns=["type", "role", "text", "name", "arguments", "output", "interrupted"]
    )
    return frame


@dataclass(frozen=True, slots=True)
class Pong:
    pass


@dataclass(frozen=True, slots=True)
class FrameworkInfo:
    sdk: str
    sdk_version: str


@dataclass(frozen=True, slots=True)
class ChatHistory:
    """The session's whole history, function calls and outputs included (they never come as
    `conversation_item_added`)."""

    items: tuple[ChatItem, ...]

    def frame(self) -> pd.DataFrame:
        """One row per item: type, role, text, name, arguments, output, interrupted."""
        return _items_frame(self.items)


@dataclass(frozen=True, slots=True)
class AgentInfo:
    id: str
    instructions: str | None
    tools: tuple[str, ...]
    chat: tuple[ChatItem, ...]
    """The current agent's own chat context."""


@dataclass(frozen=True, slots=True)
class SessionState:
    agent_state: str
    user_state: str
    agent_id: str
    options: Mapping[str, str]
    started_at: float | None


@dataclass(frozen=True, slots=True)
class SessionUsage:
    usage: tuple[ModelUsage, ...]
    at: float | None


@dataclass(frozen=True, slots=True)
class RtcStats:
    publisher: tuple[dict[str, Any], ...]
    subscriber: tuple[dict[str, Any], ...]


ResponseBody = Pong | FrameworkInfo | ChatHistory | AgentInfo | SessionState | SessionUsage | RtcStats


def _items(items: Any) -> tuple[ChatItem, ...]:
    return tuple(i for i in (chat_item(x) for x in items) if i is not None)


def parse_response(request: SessionRequest, response: SessionResponse) -> ResponseBody:
    """The answer to `request`, typed. Raises `AgentRequestError` when the agent reports an error or the response
    is not this request's."""
    if response.request_id != request.request_id:
        raise AgentRequestError(request.kind, request.request_id, f"got the response to {response.request_id}")
    if response.error is not None and response.error != "":
        raise AgentRequestError(request.kind, request.request_id, f"the agent answered: {response.error}")
    expected = _RESPONSE_KIND[request.kind]
    if response.kind != expected:
        raise AgentRequestError(
            request.kind, request.request_id, f"expected {expected}, got {response.kind or 'nothing'}"
        )
    r = pb.SessionResponse()
    try:
        r.ParseFromString(response.payload)
    except DecodeError as exc:
        raise AgentRequestError(request.kind, request.request_id, f"unreadable response: {exc}") from exc
    if expected == "pong":
        return Pong()
    if expected == "get_framework_info":
        return FrameworkInfo(r.get_framework_info.sdk, r.get_framework_info.sdk_version)
    if expected == "get_chat_history":
        return ChatHistory(_items(r.get_chat_history.items))
    if expected == "run_input":
        return ChatHistory(_items(r.run_input.items))
    if expected == "get_agent_info":
        a = r.get_agent_info
        return AgentInfo(
            a.id, a.instructions if a.HasField("instructions") else None, tuple(a.tools), _items(a.chat_ctx)
        )
    if expected == "get_session_state":
        s = r.get_session_state
        return SessionState(
            agent_state_name(s.agent_state), user_state_name(s.user_state), s.agent_id, dict(s.options),
            timestamp(s, "created_at"),
        )  # fmt: skip
    if expected == "get_session_usage":
        return SessionUsage(model_usages(r.get_session_usage.usage), timestamp(r.get_session_usage, "created_at"))
    stats = r.get_rtc_stats
    return RtcStats(
        tuple(MessageToDict(s) for s in stats.publisher_stats), tuple(MessageToDict(s) for s in stats.subscriber_stats)
    )
