"""LiveKit Agents sessions, decoded: what an agent says on `lk.agent.session`, its transcriptions and attributes,
as a pure model with frames (conversation, states, tool calls, usage, per-turn latency) and typed session requests.

No dependency on livekit-agents: messages are decoded with livekit-protocol's `agent_pb.agent_session`.
"""

from .decode import decode_session_message
from .messages import (
    AGENT_NAME_ATTRIBUTE,
    AGENT_STATE_ATTRIBUTE,
    CHAT_TOPIC,
    SEGMENT_ID_ATTRIBUTE,
    SESSION_TOPIC,
    TRANSCRIPTION_FINAL_ATTRIBUTE,
    TRANSCRIPTION_TOPIC,
    Decoded,
    DecodeFailure,
    SessionEvent,
    SessionResponse,
)
from .model import AgentError, AgentModel, AgentsModel, StateChange, ToolCall
from .requests import (
    REQUEST_KINDS,
    AgentInfo,
    AgentRequestError,
    ChatHistory,
    FrameworkInfo,
    Pong,
    RequestKind,
    RtcStats,
    SessionRequest,
    SessionState,
    SessionUsage,
    build_request,
    parse_response,
)
from .tracker import AgentsTracker
from .turns import Turn
from .view import NO_SESSION_CHANNEL, AgentView, SendResult

__all__ = [
    "AGENT_NAME_ATTRIBUTE",
    "AGENT_STATE_ATTRIBUTE",
    "CHAT_TOPIC",
    "NO_SESSION_CHANNEL",
    "REQUEST_KINDS",
    "SEGMENT_ID_ATTRIBUTE",
    "SESSION_TOPIC",
    "TRANSCRIPTION_FINAL_ATTRIBUTE",
    "TRANSCRIPTION_TOPIC",
    "AgentError",
    "AgentInfo",
    "AgentModel",
    "AgentRequestError",
    "AgentView",
    "AgentsModel",
    "AgentsTracker",
    "ChatHistory",
    "DecodeFailure",
    "Decoded",
    "FrameworkInfo",
    "Pong",
    "RequestKind",
    "RtcStats",
    "SendResult",
    "SessionEvent",
    "SessionRequest",
    "SessionResponse",
    "SessionState",
    "SessionUsage",
    "StateChange",
    "ToolCall",
    "Turn",
    "build_request",
    "decode_session_message",
    "parse_response",
]
