"""DataFrames of one `AgentModel`. Each frame's columns are its row TypedDict's keys, written once here.

Times (`at`, `started_at`, `ended_at`, `received_at`) are UTC timestamps; latencies and durations are seconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from .messages import ChatMessage, ConfigUpdate, FunctionCall, FunctionCallOutput, Handoff
from .turns import turns

if TYPE_CHECKING:
    import pandas as pd

    from .model import AgentModel

__all__ = [
    "ConversationRow",
    "ErrorRow",
    "StateRow",
    "ToolCallRow",
    "TurnRow",
    "UsageRow",
    "conversation_frame",
    "errors_frame",
    "item_text",
    "states_frame",
    "tool_calls_frame",
    "turns_frame",
    "usage_frame",
]


class ConversationRow(TypedDict):
    at: float
    role: str
    """user, assistant, system, developer; or tool_call, tool_output, handoff, config for the other items."""
    text: str
    interrupted: bool
    id: str
    received_at: float


class StateRow(TypedDict):
    at: float
    who: str
    """agent or user."""
    old: str
    new: str
    source: str
    """session (an `lk.agent.session` event) or attribute (`lk.agent.state`)."""


class ToolCallRow(TypedDict):
    call_id: str
    name: str
    arguments: str
    output: str | None
    is_error: bool
    status: str
    started_at: float | None
    ended_at: float | None
    duration: float | None


class UsageRow(TypedDict):
    kind: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    input_cached_tokens: int
    characters: int
    audio_duration: float
    requests: int


class TurnRow(TypedDict):
    turn: int
    started_at: float
    user_text: str
    reply_text: str
    to_thinking: float | None
    to_first_chunk: float | None
    to_speaking: float | None
    to_final: float | None
    to_listening: float | None
    tools: str
    """Tool names, comma-separated."""
    input_tokens: int
    output_tokens: int


class ErrorRow(TypedDict):
    at: float
    kind: str
    message: str


def _frame(rows: list[object], row_type: type, times: tuple[str, ...]) -> pd.DataFrame:
    import pandas as pd

    frame: pd.DataFrame = pd.DataFrame(rows, columns=list(row_type.__annotations__))
    for column in times:
        frame[column] = pd.to_datetime(frame[column], unit="s", utc=True)
    return frame


def item_text(item: object) -> tuple[str, str, bool, str]:
    """(role, text, interrupted, id) of a chat item (the conversation frame's and the AgentPanel's lines)."""
    if isinstance(item, ChatMessage):
        return item.role, item.text, item.interrupted, item.id
    if isinstance(item, FunctionCall):
        return "tool_call", f"{item.name}({item.arguments})", False, item.call_id
    if isinstance(item, FunctionCallOutput):
        return "tool_output", item.output, False, item.call_id
    if isinstance(item, Handoff):
        return "handoff", f"{item.old_agent_id or ''} -> {item.new_agent_id}", False, item.id
    assert isinstance(item, ConfigUpdate)
    return "config", item.instructions or "", False, item.id


def conversation_frame(agent: AgentModel) -> pd.DataFrame:
    """The conversation: the session's items, or, for an agent without a session channel, its transcriptions."""
    rows: list[object] = []
    if agent.has_session_channel:
        for e in agent.conversation:
            role, text, interrupted, item_id = item_text(e.item)
            rows.append(
                ConversationRow(
                    at=e.at, role=role, text=text, interrupted=interrupted, id=item_id, received_at=e.received_at
                )
            )
    else:
        for s in sorted(agent.segments.values(), key=lambda s: s.opened_at):
            rows.append(
                ConversationRow(
                    at=s.opened_at,
                    role=s.role,
                    text=s.text,
                    interrupted=False,
                    id=s.segment_id,
                    received_at=s.received_at,
                )
            )
    return _frame(rows, ConversationRow, ("at", "received_at"))


def states_frame(agent: AgentModel) -> pd.DataFrame:
    rows: list[object] = [StateRow(at=s.at, who=s.who, old=s.old, new=s.new, source=s.source) for s in agent.states]
    return _frame(rows, StateRow, ("at",))


def tool_calls_frame(agent: AgentModel) -> pd.DataFrame:
    rows: list[object] = [
        ToolCallRow(
            call_id=c.call_id, name=c.name, arguments=c.arguments, output=c.output, is_error=c.is_error,
            status=c.status, started_at=c.started_at, ended_at=c.ended_at, duration=c.duration,
        )
        for c in agent.tool_calls.values()
    ]  # fmt: skip
    return _frame(rows, ToolCallRow, ("started_at", "ended_at"))


def usage_frame(agent: AgentModel) -> pd.DataFrame:
    """The latest usage per model (totals for the session so far)."""
    rows: list[object] = [
        UsageRow(
            kind=u.kind, provider=u.provider, model=u.model, input_tokens=u.input_tokens, output_tokens=u.output_tokens,
            input_cached_tokens=u.input_cached_tokens, characters=u.characters, audio_duration=u.audio_duration,
            requests=u.requests,
        )
        for u in agent.usage
    ]  # fmt: skip
    return _frame(rows, UsageRow, ())


def turns_frame(agent: AgentModel) -> pd.DataFrame:
    """One row per user turn; see `turns.py` for what each latency measures."""
    rows: list[object] = [
        TurnRow(
            turn=t.index, started_at=t.started_at, user_text=t.user_text, reply_text=t.reply_text,
            to_thinking=t.to_thinking, to_first_chunk=t.to_first_chunk, to_speaking=t.to_speaking,
            to_final=t.to_final, to_listening=t.to_listening, tools=",".join(t.tools),
            input_tokens=t.input_tokens, output_tokens=t.output_tokens,
        )
        for t in turns(agent)
    ]  # fmt: skip
    return _frame(rows, TurnRow, ("started_at",))


def errors_frame(agent: AgentModel) -> pd.DataFrame:
    rows: list[object] = [ErrorRow(at=e.at, kind=e.kind, message=e.message) for e in agent.errors]
    return _frame(rows, ErrorRow, ("at",))
