"""The agent model: decoded session messages, transcriptions and attributes in, one agent's story out.

Pure on purpose (no I/O, no SDK, no clock): the caller passes every time. Like `RoomState`, it is what views and
tests read; `frames.py` turns it into DataFrames and `turns.py` into per-turn latencies.

Example::

    agents = AgentsModel()
    agents.feed_session_bytes("agent-1", data, received_at=time.time())
    agents.feed_attributes("agent-1", {"lk.agent.state": "thinking"}, at=time.time())
    view = agents["agent-1"]
    view.state, view.conversation_frame(), view.turns_frame()
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from . import frames
from .decode import decode_session_message
from .messages import (
    AGENT_NAME_ATTRIBUTE,
    AGENT_STATE_ATTRIBUTE,
    SEGMENT_ID_ATTRIBUTE,
    TRANSCRIPTION_FINAL_ATTRIBUTE,
    AgentStateChanged,
    ChatItem,
    ConversationItemAdded,
    Decoded,
    DecodeFailure,
    ErrorReported,
    FunctionCall,
    FunctionCallOutput,
    FunctionToolsExecuted,
    FunctionToolsStarted,
    ModelUsage,
    SessionEvent,
    SessionUsageUpdated,
    ToolExecutionEnded,
    ToolExecutionStarted,
    UserStateChanged,
)

__all__ = ["AgentError", "AgentModel", "AgentsModel", "ConversationEntry", "Segment", "StateChange", "ToolCall"]

Who = Literal["agent", "user"]


@dataclass(frozen=True, slots=True)
class StateChange:
    who: Who
    old: str
    new: str
    at: float
    """The agent's clock (`created_at`) for session events; the attribute's receive time otherwise."""
    received_at: float
    source: Literal["session", "attribute"]


@dataclass(frozen=True, slots=True)
class ConversationEntry:
    at: float
    """The event's `created_at` (the agent's clock), or the receive time when the agent sent none."""
    received_at: float
    item: ChatItem


@dataclass(slots=True)
class ToolCall:
    """One tool call, its start and end joined on `call_id` (the started item's `id` is `item_…/fnc_0`, the
    ended one's is `call_id` or `call_id + "_final"`; both carry the same `call_id`)."""

    call_id: str
    name: str = ""
    arguments: str = ""
    item_id: str = ""
    """The chat item id of the call (`item_…/fnc_0`), once its start was seen."""
    output: str | None = None
    is_error: bool = False
    status: str = "running"
    started_at: float | None = None
    ended_at: float | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at


@dataclass(slots=True)
class Segment:
    """One transcription text stream (one reply) from the agent on `lk.transcription`."""

    stream_id: str
    segment_id: str
    opened_at: float
    """The sender's clock: the stream header's timestamp."""
    received_at: float
    text: str = ""
    role: Literal["assistant", "user"] = "assistant"
    """user: the agent's transcription of its user's speech (sent with the user's identity as the sender and
    `lk.transcribed_track_id`), which is not a reply."""
    first_chunk_received_at: float | None = None
    final: bool = False
    final_received_at: float | None = None


@dataclass(frozen=True, slots=True)
class AgentError:
    kind: Literal["malformed", "agent"]
    """malformed: bytes on the session channel we could not decode; agent: an `error` event the agent sent."""
    message: str
    at: float


@dataclass(frozen=True, slots=True)
class UsagePoint:
    """Session totals at one `session_usage_updated` (they are cumulative)."""

    at: float
    input_tokens: int
    output_tokens: int


def _at(record: StateChange | ConversationEntry | UsagePoint) -> float:
    return record.at


@dataclass
class AgentModel:
    """Everything known about one agent participant."""

    identity: str
    name: str = ""
    """The `lk.agent.name` attribute."""
    attribute_state: str = ""
    """The `lk.agent.state` attribute as last seen."""
    has_session_channel: bool = False
    """True once one session event arrived: older frameworks send only attributes and transcriptions."""
    agent_states: list[StateChange] = field(default_factory=list)
    """From session events (preferred) ..."""
    attribute_states: list[StateChange] = field(default_factory=list)
    """... and from the `lk.agent.state` attribute (the fallback for agents without a session channel). The attribute
    can skip a state: LiveKit Agents cancels its update of the attribute when the next state comes before the server
    answered it (`RoomIO._on_agent_state_changed`), so a short "speaking" can go unpublished (CI once, under load)."""
    user_states: list[StateChange] = field(default_factory=list)
    conversation: list[ConversationEntry] = field(default_factory=list)
    tool_calls: dict[str, ToolCall] = field(default_factory=dict)
    usage: tuple[ModelUsage, ...] = ()
    usage_points: list[UsagePoint] = field(default_factory=list)
    segments: dict[str, Segment] = field(default_factory=dict)
    errors: list[AgentError] = field(default_factory=list)
    malformed: int = 0
    """How many session messages could not be decoded."""
    events: int = 0
    version: int = 0
    """Increases with every change: views compare it to know whether to render."""

    # -- reading ------------------------------------------------------------------------------------------------
    @property
    def state(self) -> str:
        """What the agent is doing (listening, thinking, speaking, ...); "" before anything is known."""
        if self.agent_states:
            return self.agent_states[-1].new
        return self.attribute_state

    @property
    def user_state(self) -> str:
        return self.user_states[-1].new if self.user_states else ""

    @property
    def states(self) -> list[StateChange]:
        """Agent states (session events when the agent has the channel, attributes otherwise) and user states,
        in time order."""
        agent = self.agent_states if self.agent_states else self.attribute_states
        return sorted([*agent, *self.user_states], key=lambda s: s.at)

    # The tables: written in frames.py, offered here as methods.
    conversation_frame = frames.conversation_frame
    states_frame = frames.states_frame
    tool_calls_frame = frames.tool_calls_frame
    usage_frame = frames.usage_frame
    turns_frame = frames.turns_frame
    errors_frame = frames.errors_frame

    # -- feeding ------------------------------------------------------------------------------------------------
    def apply(self, decoded: Decoded) -> None:
        """One decoded `lk.agent.session` message from this agent. Responses and others' requests are ignored here
        (the request layer routes responses)."""
        if isinstance(decoded, DecodeFailure):
            self.malformed += 1
            self.errors.append(AgentError("malformed", f"{decoded.reason} ({decoded.size} bytes)", decoded.received_at))
            self.version += 1
        elif isinstance(decoded, SessionEvent):
            self.has_session_channel = True
            self.events += 1
            self._apply_event(decoded)
            self.version += 1

    def _apply_event(self, event: SessionEvent) -> None:
        body = event.body
        at = event.created_at if event.created_at is not None else event.received_at
        # Each message is its own byte stream, read concurrently: they arrive out of order (a thinking -> speaking
        # after the speaking -> listening 12 ms later was seen here), so every timeline is kept in `created_at` order.
        if isinstance(body, AgentStateChanged):
            change = StateChange("agent", body.old, body.new, at, event.received_at, "session")
            bisect.insort(self.agent_states, change, key=_at)
        elif isinstance(body, UserStateChanged):
            change = StateChange("user", body.old, body.new, at, event.received_at, "session")
            bisect.insort(self.user_states, change, key=_at)
        elif isinstance(body, ConversationItemAdded):
            bisect.insort(self.conversation, ConversationEntry(at, event.received_at, body.item), key=_at)
            if isinstance(body.item, FunctionCall):
                self._call_seen(body.item, at)
            elif isinstance(body.item, FunctionCallOutput):
                self._output_seen(body.item, at)
        elif isinstance(body, ToolExecutionStarted):
            self._call_seen(body.call, at, started=True)
        elif isinstance(body, ToolExecutionEnded):
            call = self._tool(body.call_id)
            call.status = body.status
            call.is_error = call.is_error or body.status == "error"
            call.ended_at = at
            if call.output is None and body.message is not None:
                call.output = body.message
        elif isinstance(body, FunctionToolsStarted):
            for c in body.calls:
                self._call_seen(c, at, started=True)
        elif isinstance(body, FunctionToolsExecuted):
            for c in body.calls:
                self._call_seen(c, at)
            for o in body.outputs:
                self._output_seen(o, at)
        elif isinstance(body, SessionUsageUpdated):
            if not self.usage_points or at >= self.usage_points[-1].at:
                self.usage = body.usage  # totals: only the latest counts
            inputs = sum(u.input_tokens for u in body.usage)
            outputs = sum(u.output_tokens for u in body.usage)
            bisect.insort(self.usage_points, UsagePoint(at, inputs, outputs), key=_at)
        elif isinstance(body, ErrorReported):
            self.errors.append(AgentError("agent", body.message, at))

    def _tool(self, call_id: str) -> ToolCall:
        call = self.tool_calls.get(call_id)
        if call is None:
            call = self.tool_calls[call_id] = ToolCall(call_id)
        return call

    def _call_seen(self, fc: FunctionCall, at: float, *, started: bool = False) -> None:
        call = self._tool(fc.call_id)
        if started and fc.id and call.item_id and fc.id != call.item_id:
            # A new call reusing an earlier call's id (an LLM's ids need only be unique within one response): the
            # earlier one keeps its row under a derived key, the id now names the new one.
            self.tool_calls[f"{fc.call_id}#{len(self.tool_calls)}"] = self.tool_calls.pop(fc.call_id)
            call = self._tool(fc.call_id)
        call.item_id = call.item_id or fc.id
        call.name = call.name or fc.name
        call.arguments = call.arguments or fc.arguments
        if started and call.started_at is None:
            call.started_at = at

    def _output_seen(self, out: FunctionCallOutput, at: float) -> None:
        call = self._tool(out.call_id)
        # The executed event's output is the tool's return value; the ended event's message is only its str().
        call.output = out.output
        call.is_error = call.is_error or out.is_error
        call.name = call.name or out.name
        if call.ended_at is None:
            call.ended_at = at

    def attributes_changed(self, attributes: Mapping[str, str], *, at: float) -> None:
        """The participant's current attributes (all of them, or at least the changed ones)."""
        changed = False
        if AGENT_NAME_ATTRIBUTE in attributes and attributes[AGENT_NAME_ATTRIBUTE] != self.name:
            self.name = attributes[AGENT_NAME_ATTRIBUTE]
            changed = True
        new = attributes.get(AGENT_STATE_ATTRIBUTE)
        if new is not None and new != self.attribute_state:
            self.attribute_states.append(StateChange("agent", self.attribute_state, new, at, at, "attribute"))
            self.attribute_state = new
            changed = True
        if changed:
            self.version += 1

    def transcription_opened(
        self,
        stream_id: str,
        attributes: Mapping[str, str],
        *,
        opened_at: float,
        received_at: float,
        role: Literal["assistant", "user"] = "assistant",
    ) -> None:
        """A `lk.transcription` text stream from this agent opened; `opened_at` is its header's timestamp."""
        segment_id = attributes.get(SEGMENT_ID_ATTRIBUTE, stream_id)
        self.segments[stream_id] = Segment(stream_id, segment_id, opened_at, received_at, role=role)
        self.version += 1

    def transcription_chunk(self, stream_id: str, text: str, *, received_at: float) -> None:
        segment = self.segments.get(stream_id)
        if segment is None:
            return  # a chunk of a stream opened before we listened: its start is unknown, so is its segment
        if segment.first_chunk_received_at is None:
            segment.first_chunk_received_at = received_at
        segment.text += text
        self.version += 1

    def transcription_closed(self, stream_id: str, attributes: Mapping[str, str], *, received_at: float) -> None:
        """The stream ended; `attributes` are the header's updated by the close trailer (`lk.transcription_final`)."""
        segment = self.segments.get(stream_id)
        if segment is None:
            return
        segment.final = attributes.get(TRANSCRIPTION_FINAL_ATTRIBUTE, "true") == "true"
        segment.final_received_at = received_at
        self.version += 1


class AgentsModel(Mapping[str, AgentModel]):
    """Identity -> `AgentModel`, for every participant that showed itself an agent (a session message, an
    `lk.agent.*` attribute or an agent kind told by the caller)."""

    def __init__(self) -> None:
        self._agents: dict[str, AgentModel] = {}

    def __getitem__(self, identity: str) -> AgentModel:
        return self._agents[identity]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._agents))

    def __len__(self) -> int:
        return len(self._agents)

    def agent(self, identity: str) -> AgentModel:
        """The model of `identity`, created when new (the caller knows it is an agent, e.g. its kind is AGENT)."""
        model = self._agents.get(identity)
        if model is None:
            model = self._agents[identity] = AgentModel(identity)
        return model

    def feed_session_bytes(self, identity: str, data: bytes, *, received_at: float) -> Decoded:
        """One `lk.agent.session` byte stream from `identity`, whole. Returns what it decoded to, so that the caller
        can route a `SessionResponse` to its request. Requests from others (another client's) are not agent output."""
        decoded = decode_session_message(data, received_at=received_at)
        if isinstance(decoded, SessionEvent | DecodeFailure):
            self.agent(identity).apply(decoded)
        return decoded

    def feed_attributes(self, identity: str, attributes: Mapping[str, str], *, at: float) -> None:
        if identity in self._agents or any(k in attributes for k in (AGENT_STATE_ATTRIBUTE, AGENT_NAME_ATTRIBUTE)):
            self.agent(identity).attributes_changed(attributes, at=at)

    def feed_transcription_opened(
        self,
        identity: str,
        stream_id: str,
        attributes: Mapping[str, str],
        *,
        opened_at: float,
        received_at: float,
        role: Literal["assistant", "user"] = "assistant",
    ) -> None:
        """A `lk.transcription` stream from `identity` opened (`opened_at`: its header's timestamp, in seconds);
        `role` user: the agent transcribing its user."""
        self.agent(identity).transcription_opened(
            stream_id, attributes, opened_at=opened_at, received_at=received_at, role=role
        )

    def feed_transcription_chunk(self, identity: str, stream_id: str, text: str, *, received_at: float) -> None:
        if identity in self._agents:
            self._agents[identity].transcription_chunk(stream_id, text, received_at=received_at)

    def feed_transcription_closed(
        self, identity: str, stream_id: str, attributes: Mapping[str, str], *, received_at: float
    ) -> None:
        if identity in self._agents:
            self._agents[identity].transcription_closed(stream_id, attributes, received_at=received_at)
