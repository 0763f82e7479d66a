"""Our typed, frozen picture of what a LiveKit Agents session says on `lk.agent.session`.

Everything above the decoder sees only these dataclasses, never protobuf. Times are Unix seconds (floats):
`created_at` is the agent's own clock (the event's `created_at`), `received_at` is this process's clock.

Example::

    decoded = decode_session_message(data, received_at=time.time())
    if isinstance(decoded, SessionEvent) and isinstance(decoded.body, AgentStateChanged):
        print(decoded.body.old, "->", decoded.body.new)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..events import AGENT_STATE_ATTRIBUTE  # the attribute is the room model's too: declared once, there

__all__ = [
    "AGENT_NAME_ATTRIBUTE",
    "AGENT_STATE_ATTRIBUTE",
    "CHAT_TOPIC",
    "SEGMENT_ID_ATTRIBUTE",
    "SESSION_TOPIC",
    "TRANSCRIBED_TRACK_ATTRIBUTE",
    "TRANSCRIPTION_FINAL_ATTRIBUTE",
    "TRANSCRIPTION_TOPIC",
    "AgentStateChanged",
    "ChatItem",
    "ChatMessage",
    "ConfigUpdate",
    "ConversationItemAdded",
    "DecodeFailure",
    "Decoded",
    "ErrorReported",
    "EventBody",
    "FunctionCall",
    "FunctionCallOutput",
    "FunctionToolsExecuted",
    "FunctionToolsStarted",
    "Handoff",
    "ModelUsage",
    "OtherEvent",
    "OtherMessage",
    "SessionEvent",
    "SessionResponse",
    "SessionUsageUpdated",
    "ToolExecutionEnded",
    "ToolExecutionStarted",
    "UserInputTranscribed",
    "UserStateChanged",
]

SESSION_TOPIC = "lk.agent.session"
TRANSCRIBED_TRACK_ATTRIBUTE = "lk.transcribed_track_id"
"""On a `lk.transcription` stream: the agent transcribing its user's speech (sent with the user's identity)."""
"""Byte streams of one protobuf `AgentSessionMessage` each: events, requests and responses."""
TRANSCRIPTION_TOPIC = "lk.transcription"
"""Text streams of the agent's replies (one per reply; chunks are the LLM's deltas)."""
CHAT_TOPIC = "lk.chat"
"""Text streams the agent reads as user input."""
SEGMENT_ID_ATTRIBUTE = "lk.segment_id"
TRANSCRIPTION_FINAL_ATTRIBUTE = "lk.transcription_final"
""""false" when a transcription stream opens, "true" in its close trailer."""
AGENT_NAME_ATTRIBUTE = "lk.agent.name"

Role = Literal["developer", "system", "user", "assistant"]
ToolStatus = Literal["running", "done", "error", "cancelled"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message of the conversation."""

    id: str
    role: Role
    text: str
    """The message's text parts joined with newlines."""
    interrupted: bool = False
    """True when the agent was cut off while saying it."""
    created_at: float | None = None
    """The item's own time, when the agent sent one (it usually does not; the event's time is the fallback)."""


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """A tool call the LLM asked for."""

    id: str
    """The chat item id (`item_…/fnc_0`): differs from `call_id`."""
    call_id: str
    """The LLM's call id: the key that joins a call to its output and its `ToolExecutionEnded`."""
    name: str
    arguments: str
    """JSON text, as the LLM wrote it."""


@dataclass(frozen=True, slots=True)
class FunctionCallOutput:
    """What a tool returned."""

    call_id: str
    name: str
    output: str
    is_error: bool


@dataclass(frozen=True, slots=True)
class Handoff:
    """The session moved from one agent (task) to another."""

    id: str
    old_agent_id: str | None
    new_agent_id: str


@dataclass(frozen=True, slots=True)
class ConfigUpdate:
    """The agent's instructions or tools changed."""

    id: str
    instructions: str | None
    tools_added: tuple[str, ...]
    tools_removed: tuple[str, ...]


ChatItem = ChatMessage | FunctionCall | FunctionCallOutput | Handoff | ConfigUpdate


@dataclass(frozen=True, slots=True)
class ModelUsage:
    """Cumulative usage of one model in the session (the agent reports totals, not increments)."""

    kind: Literal["llm", "tts", "stt", "interruption", "eot"]
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    input_cached_tokens: int = 0
    characters: int = 0
    """TTS characters."""
    audio_duration: float = 0.0
    """TTS/STT seconds of audio."""
    requests: int = 0
    """Interruption/end-of-turn model requests."""


@dataclass(frozen=True, slots=True)
class AgentStateChanged:
    old: str
    """Spelled as the `lk.agent.state` attribute spells it: initializing, idle, listening, thinking, speaking."""
    new: str


@dataclass(frozen=True, slots=True)
class UserStateChanged:
    old: str
    """speaking, listening or away."""
    new: str


@dataclass(frozen=True, slots=True)
class ConversationItemAdded:
    item: ChatItem


@dataclass(frozen=True, slots=True)
class UserInputTranscribed:
    transcript: str
    is_final: bool
    language: str | None = None


@dataclass(frozen=True, slots=True)
class FunctionToolsStarted:
    calls: tuple[FunctionCall, ...]


@dataclass(frozen=True, slots=True)
class FunctionToolsExecuted:
    calls: tuple[FunctionCall, ...]
    outputs: tuple[FunctionCallOutput, ...]


@dataclass(frozen=True, slots=True)
class ToolExecutionStarted:
    call: FunctionCall


@dataclass(frozen=True, slots=True)
class ToolExecutionEnded:
    id: str
    call_id: str
    status: ToolStatus
    message: str | None = None


@dataclass(frozen=True, slots=True)
class SessionUsageUpdated:
    usage: tuple[ModelUsage, ...]


@dataclass(frozen=True, slots=True)
class ErrorReported:
    message: str


@dataclass(frozen=True, slots=True)
class OtherEvent:
    """An event this model keeps only by name (overlapping speech, debug messages, predictions, ...)."""

    kind: str


EventBody = (
    AgentStateChanged
    | UserStateChanged
    | ConversationItemAdded
    | UserInputTranscribed
    | FunctionToolsStarted
    | FunctionToolsExecuted
    | ToolExecutionStarted
    | ToolExecutionEnded
    | SessionUsageUpdated
    | ErrorReported
    | OtherEvent
)


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """One `AgentSessionEvent`."""

    created_at: float | None
    """The agent's clock; None when the agent did not set it."""
    received_at: float
    body: EventBody


@dataclass(frozen=True, slots=True)
class SessionResponse:
    """A `SessionResponse`, still undecoded beyond its kind: `requests.parse_response` makes it typed."""

    request_id: str
    kind: str
    """The response's oneof name (`pong`, `get_chat_history`, ...), "" when the agent sent only an error."""
    error: str | None
    received_at: float
    payload: bytes = field(repr=False)
    """The serialized `SessionResponse`, kept so that parsing it is the request layer's business."""


@dataclass(frozen=True, slots=True)
class OtherMessage:
    """A request (someone else's) or console audio: seen, not modelled."""

    kind: str
    received_at: float


@dataclass(frozen=True, slots=True)
class DecodeFailure:
    """Bytes on `lk.agent.session` that are not a usable `AgentSessionMessage`."""

    reason: str
    size: int
    received_at: float


Decoded = SessionEvent | SessionResponse | OtherMessage | DecodeFailure
