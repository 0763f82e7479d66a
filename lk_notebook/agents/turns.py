"""Per-turn latencies of one agent, computed from the agent's own timestamps.

A turn starts when a user message is added to the conversation (`conversation_item_added`, role user) and lasts
until the next one. Every latency is "seconds after the turn started" on the agent's clock: the session events'
`created_at` and the transcription streams' header timestamps, so the network and this process's load do not bend
them. Order across channels is not kept on the wire (a reply's transcription opens before the thinking -> speaking
event arrives), so each latency is the first matching event in the turn's time window, not in arrival order.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from .messages import ChatMessage

if TYPE_CHECKING:
    from .model import AgentModel

__all__ = ["Turn", "turns"]

T = TypeVar("T")


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


class _Timeline(Generic[T]):
    """Records sorted by time, cut into windows by bisection: turns() stays O(n log n) for long sessions."""

    def __init__(self, records: list[tuple[float, T]]) -> None:
        records.sort(key=lambda r: r[0])
        self.ats = [at for at, _ in records]
        self.records = records

    def window(self, start: float, end: float) -> list[tuple[float, T]]:
        return self.records[bisect.bisect_left(self.ats, start) : bisect.bisect_left(self.ats, end)]

    def last_before(self, at: float) -> T | None:
        i = bisect.bisect_left(self.ats, at)
        return self.records[i - 1][1] if i else None


def turns(agent: AgentModel) -> list[Turn]:
    messages = [(e.at, e.item) for e in agent.conversation if isinstance(e.item, ChatMessage)]
    starts = [(at, item.text) for at, item in messages if item.role == "user"]
    replies = _Timeline([(at, item.text) for at, item in messages if item.role == "assistant"])
    states = _Timeline([(s.at, s.new) for s in (agent.agent_states or agent.attribute_states)])
    chunks = _Timeline([(s.opened_at, s) for s in agent.segments.values() if s.role == "assistant"])
    tools = _Timeline([(t, c.name) for c in agent.tool_calls.values() if (t := c.started_at or c.ended_at) is not None])
    usage = _Timeline([(p.at, p) for p in agent.usage_points])
    out: list[Turn] = []
    for index, (start, text) in enumerate(starts):
        end = starts[index + 1][0] if index + 1 < len(starts) else float("inf")
        window = states.window(start, end)
        thinking = next((at for at, new in window if new == "thinking"), None)
        speaking = next((at for at, new in window if new == "speaking"), None)
        listening = None
        if speaking is not None:
            listening = next((at for at, new in window if at >= speaking and new == "listening"), None)
        first_chunk = next((at for at, _ in chunks.window(start, end)), None)
        said = replies.window(start, end)
        before = usage.last_before(start)
        within = usage.window(start, end)
        base = (before.input_tokens, before.output_tokens) if before else (0, 0)
        last = (within[-1][1].input_tokens, within[-1][1].output_tokens) if within else base
        out.append(
            Turn(
                index=index,
                user_text=text,
                started_at=start,
                reply_text="\n".join(reply for _, reply in said),
                to_thinking=_after(start, thinking),
                to_first_chunk=_after(start, first_chunk),
                to_speaking=_after(start, speaking),
                to_final=_after(start, said[-1][0] if said else None),
                to_listening=_after(start, listening),
                tools=tuple(name for _, name in tools.window(start, end)),
                input_tokens=last[0] - base[0],
                output_tokens=last[1] - base[1],
            )
        )
    return out
