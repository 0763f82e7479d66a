"""What the AgentPanel sends: the next `protocol.AgentPanelDelta` of one `AgentModel`, from what changed only.

Pure (no widget, no I/O): `AgentDeltas(model).next()` after the model changed gives a delta or None. Work per call
is proportional to what changed, not to the session's length: the model only ever inserts into its timelines (near
their end: arrival order differs from `created_at` order by milliseconds), so new records are found by scanning
back from the end until the count of unseen ones is met; streaming replies are tracked while open; turns are
recomputed over the last `turns_kept` turns only (a late event can still move the one before the current).
Only `reset` (a new browser view) walks everything.

Example::

    deltas = AgentDeltas(model)
    widget.send(deltas.next())          # everything, with reset
    ...                                  # the model changes
    widget.send(deltas.next())          # only what changed (None when nothing did)
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections import Counter
from collections.abc import Sequence
from typing import TypeVar

from ..agents.frames import item_text
from ..agents.messages import ChatMessage
from ..agents.model import AgentModel, ConversationEntry, Segment, StateChange, ToolCall, UsagePoint
from ..agents.turns import Turn, turns
from .protocol import AgentGrow, AgentLine, AgentPanelDelta, AgentStatePoint, AgentToolRow, AgentTurnBar

__all__ = ["AgentDeltas", "new_items"]

T = TypeVar("T")
USER_TEXT_PREVIEW = 60
"""Characters of the user's message on a turn's row."""
LATE_SECONDS = 5.0
"""How far out of `created_at` order a segment or tool call may arrive and still be found by the tail scans."""


def new_items(items: Sequence[T], seen: set[int]) -> list[T]:
    """The items of `items` not in `seen` (object ids), in list order, found from the end; adds them to `seen`.

    `items` only grows (by insertion): len(items) - len(seen) records are new, and they sit near the end."""
    missing = len(items) - len(seen)
    out: list[T] = []
    i = len(items) - 1
    while missing > 0 and i >= 0:
        item = items[i]
        if id(item) not in seen:
            seen.add(id(item))
            out.append(item)
            missing -= 1
        i -= 1
    out.reverse()
    return out


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _at(record: StateChange | ConversationEntry | UsagePoint) -> float:
    return record.at


def _tool_row(key: str, c: ToolCall) -> AgentToolRow:
    return {
        "k": key, "name": c.name, "arguments": c.arguments, "output": c.output, "is_error": c.is_error,
        "status": c.status, "at": _ms(c.started_at if c.started_at is not None else c.ended_at),
        "duration": c.duration,
    }  # fmt: skip


def _turn_bar(t: Turn) -> AgentTurnBar:
    user = t.user_text if len(t.user_text) <= USER_TEXT_PREVIEW else t.user_text[: USER_TEXT_PREVIEW - 1] + "…"
    return {
        "turn": t.index + 1, "user": user, "to_thinking": t.to_thinking, "to_first_chunk": t.to_first_chunk,
        "to_speaking": t.to_speaking, "to_final": t.to_final, "input_tokens": t.input_tokens,
        "output_tokens": t.output_tokens, "tools": ",".join(t.tools),
    }  # fmt: skip


def tail_model(model: AgentModel, since: float) -> AgentModel:
    """A model holding only what happened from `since` on (and the usage totals just before): turns() of it are
    the last turns of `model`, computed without walking the whole session."""

    def after(records: list[T]) -> list[T]:
        return records[bisect.bisect_left(records, since, key=_at) :]  # type: ignore[arg-type]

    cutoff = since - LATE_SECONDS
    segments: dict[str, Segment] = {}
    for key in reversed(model.segments):
        segment = model.segments[key]
        if segment.opened_at < cutoff:
            break
        segments[key] = segment
    calls: dict[str, ToolCall] = {}
    for key in reversed(model.tool_calls):
        call = model.tool_calls[key]
        at = call.started_at if call.started_at is not None else call.ended_at
        if at is not None and at < cutoff:
            break
        calls[key] = call
    first_usage = max(bisect.bisect_left(model.usage_points, since, key=_at) - 1, 0)
    return AgentModel(
        model.identity,
        agent_states=after(model.agent_states),
        attribute_states=after(model.attribute_states),
        conversation=after(model.conversation),
        segments=dict(reversed(segments.items())),
        tool_calls=dict(reversed(calls.items())),
        usage_points=model.usage_points[first_usage:],
    )


class AgentDeltas:
    """What one browser view of `model` was sent, and the next delta (`next()`); `reset()` for a new view."""

    def __init__(self, model: AgentModel, *, turns_kept: int = 2) -> None:
        self.model = model
        self.turns_kept = turns_kept
        self.reset()

    def reset(self) -> None:
        """Forget what was sent: the next delta has everything (a new view, or a reloaded page)."""
        self._reset = True
        self._version = -1
        self._conversation: set[int] = set()
        self._states: dict[str, set[int]] = {"agent": set(), "attribute": set(), "user": set()}
        self._segment_count = 0
        self._open: dict[str, int] = {}
        """Streaming replies on screen: stream id -> characters sent."""
        self._shown_segments: dict[str, str] = {}
        """Final replies on screen not yet matched by a conversation item: stream id -> text."""
        self._replies: Counter[str] = Counter()
        """Assistant messages on screen with no stream matched yet (a stream can close after its item arrived)."""
        self._tool_keys: dict[int, str] = {}
        self._tools_sent: dict[str, AgentToolRow] = {}
        self._unsettled: dict[str, ToolCall] = {}
        self._tool_count = 0
        self._turn_starts: list[float] = []
        self._turns_sent: dict[int, AgentTurnBar] = {}
        self._usage_count = 0
        self._new_turns = 0
        self._lines = 0

    def next(self) -> AgentPanelDelta | None:
        """The changes since the last call, or None when nothing the view shows changed."""
        m = self.model
        if m.version == self._version and not self._reset:
            return None
        self._version = m.version
        delta: AgentPanelDelta = {"t": "agent"}
        if self._reset:
            delta["reset"] = True
            self._reset = False
        lines: list[AgentLine] = []
        grow: list[AgentGrow] = []
        drop: list[str] = []
        self._conversation_lines(lines, drop)
        self._segment_lines(lines, grow, drop)
        states = self._new_states()
        tools = self._changed_tools()
        usage_changed = len(m.usage_points) != self._usage_count
        self._usage_count = len(m.usage_points)
        full = delta.get("reset", False)
        bars = self._changed_turns(full=full) if full or lines or grow or states or tools or usage_changed else []
        for key, value in (("lines", lines), ("grow", grow), ("drop", drop), ("states", states), ("tools", tools)):
            if value:
                delta[key] = value  # type: ignore[literal-required]
        if bars:
            delta["turns"] = bars
        return delta if len(delta) > 1 else None

    # -- the transcript -----------------------------------------------------------------------------------------
    def _key(self, prefix: str) -> str:
        self._lines += 1
        return f"{prefix}{self._lines}"

    def _conversation_lines(self, lines: list[AgentLine], drop: list[str]) -> None:
        for entry in new_items(self.model.conversation, self._conversation):
            role, text, interrupted, _ = item_text(entry.item)
            lines.append(
                {"k": self._key("c"), "role": role, "text": text, "at": entry.at * 1000, "final": True,
                 "interrupted": interrupted}
            )  # fmt: skip
            if isinstance(entry.item, ChatMessage) and role == "user":
                bisect.insort(self._turn_starts, entry.at)
                self._new_turns += 1
            elif role == "assistant":
                covered = next((sid for sid, said in self._shown_segments.items() if said == text.strip()), None)
                if covered is None:
                    self._replies[text.strip()] += 1
                else:
                    del self._shown_segments[covered]
                    drop.append(f"s{covered}")

    def _segment_lines(self, lines: list[AgentLine], grow: list[AgentGrow], drop: list[str]) -> None:
        segments = self.model.segments
        fresh = len(segments) - self._segment_count
        if fresh > 0:
            ids = list(itertools.islice(reversed(segments), fresh))
            for sid in sorted(ids, key=lambda s: segments[s].opened_at):
                s = segments[sid]
                lines.append(
                    {"k": f"s{sid}", "role": "assistant", "text": s.text, "at": s.opened_at * 1000,
                     "final": s.final, "interrupted": False}
                )  # fmt: skip
                if s.final:
                    self._settle(sid, s, drop)
                else:
                    self._open[sid] = len(s.text)
            self._segment_count = len(segments)
        for sid, sent in list(self._open.items()):
            s = segments[sid]
            if len(s.text) == sent and not s.final:
                continue
            grow.append({"k": f"s{sid}", "add": s.text[sent:], "final": s.final})
            self._open[sid] = len(s.text)
            if s.final:
                del self._open[sid]
                self._settle(sid, s, drop)

    def _settle(self, sid: str, segment: Segment, drop: list[str]) -> None:
        """A final reply: dropped when its conversation item is already on screen, else kept until it comes."""
        text = segment.text.strip()
        if self.model.has_session_channel and self._replies[text] > 0:
            self._replies[text] -= 1
            drop.append(f"s{sid}")
        elif self.model.has_session_channel:
            self._shown_segments[sid] = text

    # -- states, tools, turns -------------------------------------------------------------------------------------
    def _new_states(self) -> list[AgentStatePoint]:
        m = self.model
        changes = new_items(m.agent_states, self._states["agent"]) + new_items(m.user_states, self._states["user"])
        if not m.has_session_channel:  # the attribute is the fallback of agents without the session channel
            changes += new_items(m.attribute_states, self._states["attribute"])
        return [{"who": c.who, "state": c.new, "at": c.at * 1000} for c in sorted(changes, key=_at)]

    def _changed_tools(self) -> list[AgentToolRow]:
        calls = self.model.tool_calls
        if len(calls) != self._tool_count:  # new calls (rare: one per tool use) are found by one pass over the keys
            self._tool_count = len(calls)
            for call in calls.values():
                if id(call) not in self._tool_keys:
                    key = self._tool_keys[id(call)] = f"t{len(self._tool_keys) + 1}"
                    self._unsettled[key] = call
        out: list[AgentToolRow] = []
        for key, call in list(self._unsettled.items()):
            row = _tool_row(key, call)
            if row != self._tools_sent.get(key):
                self._tools_sent[key] = row
                out.append(row)
            if call.ended_at is not None and call.output is not None:
                del self._unsettled[key]
        return out

    def _changed_turns(self, *, full: bool) -> list[AgentTurnBar]:
        starts = self._turn_starts
        if not starts:
            return []
        # The turns that started since the last delta, and the one before them (a late event can still move it).
        kept = len(starts) if full else min(max(self.turns_kept, self._new_turns + 1), len(starts))
        self._new_turns = 0
        since = starts[-kept] if kept < len(starts) else -math.inf
        first = len(starts) - kept if kept < len(starts) else 0
        out: list[AgentTurnBar] = []
        for turn in turns(tail_model(self.model, since)):
            bar = _turn_bar(turn)
            bar["turn"] += first
            if self._turns_sent.get(bar["turn"]) != bar:
                self._turns_sent[bar["turn"]] = bar
                out.append(bar)
        return out
