"""A fake `AgentSource` (widgets/agent_panel.py) that replays a real agent's recorded session, at live pace.

The recording (tests/data/agent-session-messages.bin: the `lk.agent.session` events a real livekit-agents 1.8.9
worker sent during tests/test_agent_live.py; 4-byte big-endian length, then the message) holds three user turns:
the weather question with its `get_weather` tool call, then "hello" twice. Replies are also streamed as the real
agent does on `lk.transcription`: a stream opens when the agent starts speaking, one chunk per word, final on close.

Feeding goes through the real pure `AgentsModel` (decode included); only the I/O is fake. Used by the unit tests,
the AgentPanel's browser test (its notebook imports it) and bench/agents.py.

Example::

    agent = ReplayAgent()
    panel = AgentPanel(agent)
    await agent.play(replay_schedule(pace=20, word_gap=0.3))
"""

from __future__ import annotations

import asyncio
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from livekit.protocol.agent_pb import agent_session as pb

from lk_notebook.agents import AgentModel, AgentsModel

RECORDING = Path(__file__).resolve().parent / "data" / "agent-session-messages.bin"


def read_recording(path: Path = RECORDING) -> list[bytes]:
    data, out, i = path.read_bytes(), [], 0
    while i < len(data):
        (size,) = struct.unpack_from(">I", data, i)
        out.append(data[i + 4 : i + 4 + size])
        i += 4 + size
    return out


@dataclass(frozen=True)
class Step:
    at: float
    """Seconds after the replay's start."""
    kind: Literal["session", "open", "chunk", "close"]
    data: bytes = b""
    text: str = ""
    stream_id: str = ""


def _parse(data: bytes) -> pb.AgentSessionMessage:
    message = pb.AgentSessionMessage()
    message.ParseFromString(data)
    return message


def _assistant_text(message: pb.AgentSessionMessage) -> str | None:
    item = message.event.conversation_item_added.item
    if message.event.WhichOneof("event") != "conversation_item_added" or item.message.role != pb.ASSISTANT:
        return None
    return "".join(c.text for c in item.message.content)


def replay_schedule(
    *, turns: int = 3, pace: float = 1.0, word_gap: float = 0.0, origin: float | None = None, gap: float = 0.3
) -> list[Step]:
    """The recording's events (repeated until `turns` user turns), stamped so that the first one is `origin`
    (default: now) and the gaps between them are the recorded ones times `pace`, plus a transcription stream per
    reply, one chunk per word `word_gap` seconds apart (the events after a reply wait for its stream to end)."""
    recorded = [_parse(d) for d in read_recording()]
    t0 = recorded[0].event.created_at.ToNanoseconds() / 1e9
    span = recorded[-1].event.created_at.ToNanoseconds() / 1e9 - t0
    origin = time.time() if origin is None else origin
    steps: list[Step] = []
    shift, shift_before, delay_from, done, repetition, arrival = 0.0, 0.0, 0.0, 0, 0, 0.0
    while done < turns:
        for index, message in enumerate(recorded):
            event = message.event
            if repetition and index < 2:
                continue  # the handoff and initializing -> listening happen once
            recorded_at = (event.created_at.ToNanoseconds() / 1e9 - t0 + repetition * (span + gap)) * pace
            # Only the reply's message and what the agent did after it wait for the stream's last word.
            at = recorded_at + (shift if recorded_at >= delay_from else shift_before)
            which = event.WhichOneof("event")
            if which == "conversation_item_added" and event.conversation_item_added.item.message.role == pb.USER:
                if done == turns:
                    break
                done += 1
            if which == "agent_state_changed" and event.agent_state_changed.new_state == pb.AS_SPEAKING:
                # The reply streams from here; what the agent does after it (its message, back to listening)
                # waits until the stream has had its words.
                reply = next((r for r in recorded[index + 1 :] if _assistant_text(r) is not None), None)
                if reply is not None:
                    text = _assistant_text(reply) or ""
                    stream = f"TR_{repetition}_{index}"
                    steps.append(Step(at, "open", stream_id=stream))
                    words = text.split(" ")
                    for i, word in enumerate(words):
                        chunk = word if i == 0 else " " + word
                        steps.append(Step(at + (i + 1) * word_gap, "chunk", text=chunk, stream_id=stream))
                    end = at + (len(words) + 1) * word_gap
                    reply_at = (reply.event.created_at.ToNanoseconds() / 1e9 - t0 + repetition * (span + gap)) * pace
                    delay_from, shift_before = reply_at, shift
                    shift += max(0.0, end - (reply_at + shift))
                    steps.append(Step(end, "close", stream_id=stream))
            stamped = pb.AgentSessionMessage()
            stamped.CopyFrom(message)
            stamped.event.created_at.FromNanoseconds(round((origin + at) * 1e9))
            arrival = max(at, arrival)  # the recorded arrival order, kept (it is not `created_at` order)
            steps.append(Step(arrival, "session", stamped.SerializeToString()))
        repetition += 1
    return sorted(steps, key=lambda s: s.at)  # stable: the transcription steps slot in between the events


class ReplayAgent:
    """An `AgentSource` fed by `play()`; its chat box stays disabled (`can_send` False) unless set."""

    def __init__(self, identity: str = "agent-replay", *, can_send: bool = False) -> None:
        self.identity = identity
        self.agents = AgentsModel()
        self.model: AgentModel = self.agents.agent(identity)
        self.can_send = can_send
        self.sent: list[str] = []
        self.requests: list[str] = []
        self._subscribers: list[Callable[[], None]] = []

    @property
    def version(self) -> int:
        return self.model.version

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]:
        self._subscribers.append(callback)
        return lambda: self._subscribers.remove(callback)

    def feed_session(self, data: bytes, *, received_at: float) -> None:
        """One `lk.agent.session` message, as the live layer passes it on (subscribers told)."""
        self.agents.feed_session_bytes(self.identity, data, received_at=received_at)
        self._notify()

    def _notify(self) -> None:
        for callback in list(self._subscribers):
            callback()

    def feed(self, step: Step, *, origin: float) -> None:
        now = time.time()
        if step.kind == "session":
            self.agents.feed_session_bytes(self.identity, step.data, received_at=now)
        elif step.kind == "open":
            attributes = {"lk.segment_id": step.stream_id, "lk.transcription_final": "false"}
            self.agents.feed_transcription_opened(
                self.identity, step.stream_id, attributes, opened_at=origin + step.at, received_at=now
            )
        elif step.kind == "chunk":
            self.agents.feed_transcription_chunk(self.identity, step.stream_id, step.text, received_at=now)
        else:
            attributes = {"lk.transcription_final": "true"}
            self.agents.feed_transcription_closed(self.identity, step.stream_id, attributes, received_at=now)
        self._notify()

    def feed_all(self, steps: list[Step], *, origin: float) -> None:
        for step in steps:
            self.feed(step, origin=origin)

    async def play(self, steps: list[Step], *, origin: float) -> None:
        """Each step at its time (a late one at once, in the recorded arrival order)."""
        for step in steps:
            delay = origin + step.at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.feed(step, origin=origin)

    async def send(self, text: str, *, timeout: float = 20.0) -> None:
        self.sent.append(text)

    async def _request(self, kind: str) -> object:
        self.requests.append(kind)
        if kind == "fail":
            raise TimeoutError("get_rtc_stats timed out")
        return self.model.conversation_frame()

    async def chat_history(self) -> object:
        return await self._request("chat_history")

    async def session_state(self) -> object:
        return await self._request("session_state")

    async def agent_info(self) -> object:
        return await self._request("agent_info")

    async def session_usage(self) -> object:
        return self.model.usage_frame()

    async def rtc_stats(self) -> object:
        return await self._request("fail")
