"""Per-turn latencies of one agent, computed from the agent's own timestamps.

A turn starts when a user message is added to the conversation (`conversation_item_added`, role user) and lasts
until the next one. Every latency is "seconds after the turn started" on the agent's clock: the session events'
`created_at` and the transcription streams' header timestamps, so the network and this process's load do not bend
them. Order across channels is not kept on the wire (a reply's transcription opens before the thinking -> speaking
event arrives), so each latency is the first matching event in the turn's time window, not in arrival order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .messages import ChatMessage

if TYPE_CHECKING:
    from .model import AgentModel

__all__ = ["Turn", "turns"]


@dataclass(frozen=True, slots=True)
class Turn:
    index: int
    user_text: str
    started_at: float
    reply_text: str
    to_thinking: float | None
    to_first_chunk: float | None
    """The first transcription stream of the turn opened (the reply's first LLM delta)."""
    to_speaking: float | None
    to_final: float | None
    """The reply was added to the conversation: it is final."""
    to_listening: float | None
    """Back to listening after speaking: the turn is over for the agent."""
    tools: tuple[str, ...]
    input_tokens: int
    output_tokens: int


def _after(start: float, at: float | None) -> float | None:
    return None if at is None else at - start


def turns(agent: AgentModel) -> list[Turn]:
    starts = [
        (e.at, e.item.text) for e in agent.conversation if isinstance(e.item, ChatMessage) and e.item.role == "user"
    ]
    states = agent.agent_states if agent.agent_states else agent.attribute_states
    out: list[Turn] = []
    for index, (start, text) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else float("inf")

        def inside(at: float, start: float = start, end: float = end) -> bool:
            return start <= at < end

        thinking = next((s.at for s in states if inside(s.at) and s.new == "thinking"), None)
        speaking = next((s.at for s in states if inside(s.at) and s.new == "speaking"), None)
        listening = (
            next((s.at for s in states if inside(s.at) and s.at >= speaking and s.new == "listening"), None)
            if speaking is not None
            else None
        )
        first_chunk = min((s.opened_at for s in agent.segments.values() if inside(s.opened_at)), default=None)
        replies = [
            e
            for e in agent.conversation
            if isinstance(e.item, ChatMessage) and e.item.role == "assistant" and inside(e.at)
        ]
        tools = tuple(c.name for c in agent.tool_calls.values() if (t := c.started_at or c.ended_at) and inside(t))
        before = [p for p in agent.usage_points if p.at < start]
        within = [p for p in agent.usage_points if inside(p.at)]
        base_in, base_out = (before[-1].input_tokens, before[-1].output_tokens) if before else (0, 0)
        last_in, last_out = (within[-1].input_tokens, within[-1].output_tokens) if within else (base_in, base_out)
        out.append(
            Turn(
                index=index,
                user_text=text,
                started_at=start,
                reply_text="\n".join(r.item.text for r in replies if isinstance(r.item, ChatMessage)),
                to_thinking=_after(start, thinking),
                to_first_chunk=_after(start, first_chunk),
                to_speaking=_after(start, speaking),
                to_final=_after(start, replies[-1].at if replies else None),
                to_listening=_after(start, listening),
                tools=tools,
                input_tokens=last_in - base_in,
                output_tokens=last_out - base_out,
            )
        )
    return out
