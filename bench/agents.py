"""Decoding and model update of `lk.agent.session` messages: messages per second (target >= 50,000).

Replays 100,000 session messages through `AgentsModel.feed_session_bytes` (decode + model update), and separately
through the decoder alone, then times building every frame of the resulting model. The messages are the ones the
live test recorded from the real livekit-agents worker (artifacts/agent-session-messages.bin, written by
tests/test_agent_live.py) when that file exists, re-stamped turn after turn; otherwise synthesised turns shaped like
the real agent's (tests/agent_messages.py: 14 messages for a turn with a tool call, 10 without).

With `--panel`: event-loop lag with an AgentPanel live (target p99 < 20 ms). The recorded session of the real
agent (tests/data/agent-session-messages.bin, through tests/agent_replay.py) is played at live pace for 20 user
turns, replies streamed a word every 50 ms, through the real AgentModel, while the panel renders its deltas at 6 Hz
(serialised to JSON as the comm would) and a probe task measures how late a 5 ms sleep wakes. `--history N` feeds
N turns first, so that the same 20 live turns run on top of a long session: the work per render must not grow.

With `--panel --live-agent`: the same measurement with the REAL test agent (tests/agent/, livekit-agents in its own
environment) on a local livekit-server: a joined session chats 20 scripted turns through `AgentView.send` (the
weather question and a greeting, alternately) while its AgentPanel renders; the loop also carries the SDK's own
events, so this is the figure a notebook user sees.

Run: python bench/agents.py [--messages 100000] [--recorded PATH]
     python bench/agents.py --panel [--turns 20] [--history 0] [--live-agent]
Only --live-agent starts a LiveKit server (and the agent).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from livekit.protocol.agent_pb import agent_session as pb

from lk_notebook.agents import AgentsModel, decode_session_message
from lk_notebook.lab.stats import LatencyHistogram
from tests import agent_messages as m
from tests.agent_replay import read_recording  # length-prefixed, as tests/test_agent_live.py writes them

RECORDED = Path(__file__).resolve().parent.parent / "artifacts" / "agent-session-messages.bin"


def repeated(recorded: list[bytes], count: int) -> list[bytes]:
    """The recording played again and again, each repetition's event times shifted past the previous one's (as a
    longer session would be), so that the model appends instead of inserting into the past."""
    out: list[bytes] = []
    for repetition in range(count // max(len(recorded), 1) + 1):
        for data in recorded:
            message = pb.AgentSessionMessage()
            message.ParseFromString(data)
            if message.HasField("event") and message.event.HasField("created_at"):
                created = message.event.created_at
                created.FromNanoseconds(created.ToNanoseconds() + repetition * 3_600 * 10**9)
            out.append(message.SerializeToString())
    return out[:count]


def synthesised(count: int) -> list[bytes]:
    out: list[bytes] = [m.agent_state("initializing", "listening", 1.0)]
    turn, tokens = 0, (0, 0)
    while len(out) < count:
        start = 10.0 + turn * 2.0
        if turn % 2 == 0:
            tool = (f"call_{turn}", "get_weather", {"city": "Paris"}, "It is sunny and 21 degrees in Paris.")
            out += m.scripted_turn(start, "what is the weather in Paris?", tool[3], tool=tool, tokens_before=tokens)
            tokens = (tokens[0] + 20, tokens[1] + 10)
        else:
            out += m.scripted_turn(start, "hello", "Hello! How can I help you today?", tokens_before=tokens)
            tokens = (tokens[0] + 10, tokens[1] + 5)
        turn += 1
    return out[:count]


async def lag_probe(hist: LatencyHistogram, stop: asyncio.Event, period: float = 0.005) -> None:
    while not stop.is_set():
        t = time.perf_counter()
        await asyncio.sleep(period)
        hist.record(int((time.perf_counter() - t - period) * 1e9))


async def idle_lag(seconds: float, label: str) -> None:
    """Print the loop lag of `seconds` with nothing measured running: on a shared machine, much of a p99 is other
    processes' doing, and this says how much."""
    idle, stop = LatencyHistogram(), asyncio.Event()
    probe = asyncio.ensure_future(lag_probe(idle, stop))
    await asyncio.sleep(seconds)
    stop.set()
    await probe
    print(f"{label}, {seconds:g} s: lag p50 {idle.percentile(50):.2f} ms, p99 {idle.percentile(99):.2f} ms, "
          f"max {idle.max_ns / 1e6:.2f} ms")  # fmt: skip


@dataclass
class Measured:
    """What `measured(panel)` saw over its block."""

    hist: LatencyHistogram
    wall: float = 0.0
    cpu: float = 0.0
    renders: int = 0
    render_ms: float = 0.0
    gc_pauses_ms: list[float] = field(default_factory=list)
    """The garbage collector's full (generation 2) collections during the block: with pandas, protobuf and the SDK
    loaded they take 40-70 ms here, and one of them in a short block is its p99 whatever the panel does."""


@contextlib.asynccontextmanager
async def measured(panel: Any) -> AsyncIterator[Measured]:
    """Loop lag, wall and CPU time and the panel's renders over the block (its last render included); the panel is
    closed at the end."""
    m = Measured(LatencyHistogram())
    stop = asyncio.Event()
    probe = asyncio.ensure_future(lag_probe(m.hist, stop))
    start_renders, start_seconds = panel.live.renders, panel.live.render_seconds
    started: list[float] = []

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] == 2:
            if phase == "start":
                started.append(time.perf_counter())
            elif started:
                m.gc_pauses_ms.append((time.perf_counter() - started.pop()) * 1000)

    gc.callbacks.append(on_gc)
    cpu, wall = time.process_time(), time.perf_counter()
    try:
        yield m
        await asyncio.sleep(0.3)  # the last render
    finally:
        stop.set()
        await probe
        gc.callbacks.remove(on_gc)
    m.wall, m.cpu = time.perf_counter() - wall, time.process_time() - cpu
    m.renders = panel.live.renders - start_renders
    m.render_ms = (panel.live.render_seconds - start_seconds) * 1000
    panel.close()


async def panel_lag(turns: int, history: int) -> None:
    from lk_notebook.widgets import AgentPanel
    from tests.agent_replay import ReplayAgent, replay_schedule

    await idle_lag(5.0, "idle loop")  # the same probe on an idle loop first

    agent = ReplayAgent()
    if history:
        agent.feed_all(replay_schedule(turns=history, word_gap=0.05, origin=0.0), origin=0.0)
    panel = AgentPanel(agent, hz=6.0)
    panel.timeline.send = lambda _msg: None  # type: ignore[method-assign] # no front end: _send_delta still serialises
    panel._on_front_end(panel.timeline, {"t": "hello"}, [])  # a view is open: deltas are made and sent
    await asyncio.sleep(0.5)  # the reset of a long history is sent before the measured turns
    start_bytes = panel.bytes_sent
    origin = time.time() + 0.2  # the history was stamped from 1970 on: these come after it
    steps = replay_schedule(turns=turns, word_gap=0.05, origin=origin)
    async with measured(panel) as m:
        await agent.play(steps, origin=origin)
    hist = m.hist
    print(
        f"{turns} live turns over {history} earlier turns: {len(steps)} steps in {m.wall:.1f} s "
        f"({m.cpu / m.wall:.0%} of a CPU); loop lag p50 {hist.percentile(50):.2f} ms, "
        f"p99 {hist.percentile(99):.2f} ms, max {hist.max_ns / 1e6:.2f} ms; {m.renders} renders, "
        f"{m.render_ms / max(m.renders, 1):.2f} ms each, "
        f"{(panel.bytes_sent - start_bytes) / 1024:.1f} KiB sent"
    )
    print(f"full GC collections in the block: {', '.join(f'{p:.0f} ms' for p in m.gc_pauses_ms) or 'none'}")
    print(f"target p99 < 20 ms: {'met' if hist.percentile(99) < 20 else 'NOT met'}")


def replies(view: Any) -> int:
    """The assistant messages in an AgentView's conversation (cheap: no frame is built)."""
    from lk_notebook.agents.messages import ChatMessage

    return sum(1 for e in view.model.conversation if isinstance(e.item, ChatMessage) and e.item.role == "assistant")


async def live_agent_lag(turns: int) -> None:
    import uuid

    import lk_notebook as lk
    from lk_notebook.config import Credentials
    from lk_notebook.widgets import AgentPanel
    from tests.agent.script import GREETING_INPUT, WEATHER_QUESTION
    from tests.agentenv import agent_worker, dispatch

    with lk.LocalServer() as server:
        creds = Credentials(server.url, server.api_key, server.api_secret, "local server")
        with agent_worker(creds, f"bench-agent-{uuid.uuid4().hex[:6]}") as agent:
            room = f"bench-agents-{uuid.uuid4().hex[:6]}"
            session = await lk.join(room, identity="user", url=server.url, api_key=server.api_key,
                                    api_secret=server.api_secret)  # fmt: skip
            try:
                await dispatch(creds, agent.agent_name, room)
                view = await session.agents.wait_for(timeout=60)
                panel = AgentPanel(view, hz=6.0)
                panel.timeline.send = lambda _msg: None  # type: ignore[method-assign] # no front end: still serialised
                panel._on_front_end(panel.timeline, {"t": "hello"}, [])  # a view is open: deltas are made and sent
                await view.send(GREETING_INPUT)  # the first send waits until the agent can hear us: not measured
                await idle_lag(3.0, "joined and idle")  # the same probe with everything joined and idle first
                async with measured(panel) as m:
                    for turn in range(turns):
                        done = replies(view) + 1
                        await view.send(WEATHER_QUESTION if turn % 2 == 0 else GREETING_INPUT)
                        ok = await view.wait_until(lambda v, n=done: replies(v) >= n and v.state == "listening",
                                                   timeout=30)  # fmt: skip
                        if not ok:
                            raise SystemExit(f"turn {turn + 1} did not finish in 30 s")
            finally:
                await session.leave()
    hist = m.hist
    print(
        f"{turns} turns with the real agent in {m.wall:.1f} s ({m.cpu / m.wall:.0%} of a CPU in this process): loop "
        f"lag p50 {hist.percentile(50):.2f} ms, p99 {hist.percentile(99):.2f} ms, max {hist.max_ns / 1e6:.2f} ms; "
        f"{m.renders} renders, {m.render_ms / max(m.renders, 1):.2f} ms each"
    )
    print(f"full GC collections in the block: {', '.join(f'{p:.0f} ms' for p in m.gc_pauses_ms) or 'none'}")
    print(f"target p99 < 20 ms: {'met' if hist.percentile(99) < 20 else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--recorded", type=Path, default=RECORDED)
    parser.add_argument("--panel", action="store_true", help="event-loop lag with an AgentPanel live")
    parser.add_argument("--turns", type=int, default=20)
    parser.add_argument("--history", type=int, default=0, help="turns fed before the live ones (--panel)")
    parser.add_argument("--live-agent", action="store_true", help="with --panel: the real test agent, not a replay")
    args = parser.parse_args()
    if args.panel and args.live_agent:
        asyncio.run(live_agent_lag(args.turns))
        return
    if args.panel:
        asyncio.run(panel_lag(args.turns, args.history))
        return

    if args.recorded.exists():
        recorded = read_recording(args.recorded)
        messages = repeated(recorded, args.messages)
        source = f"{len(recorded)} recorded messages ({args.recorded}), repeated and re-stamped"
    else:
        messages = synthesised(args.messages)
        source = "synthesised turns (no recording: run tests/test_agent_live.py to make one)"
    size = sum(len(b) for b in messages)
    print(f"{len(messages):,} messages, {size / len(messages):.0f} bytes on average, from {source}")

    # Rates per second of this process's CPU time: the machine is shared, and wall time would measure the others.
    start, wall = time.process_time(), time.perf_counter()
    for data in messages:
        decode_session_message(data, received_at=0.0)
    decode, decode_wall = time.process_time() - start, time.perf_counter() - wall
    print(
        f"decode only:            {len(messages) / decode:>10,.0f} messages/s ({len(messages) / decode_wall:,.0f} wall)"
    )

    agents = AgentsModel()
    start, wall = time.process_time(), time.perf_counter()
    for i, data in enumerate(messages):
        agents.feed_session_bytes("agent", data, received_at=float(i))
    update, update_wall = time.process_time() - start, time.perf_counter() - wall
    rate = len(messages) / update
    print(f"decode + model update:  {rate:>10,.0f} messages/s ({len(messages) / update_wall:,.0f} wall)")
    print(f"target >= 50,000 messages/s: {'met' if rate >= 50_000 else 'NOT met'}")

    model = agents["agent"]
    start = time.perf_counter()
    frames = {name: getattr(model, name)() for name in ("conversation_frame", "states_frame", "tool_calls_frame")}
    frames["usage_frame"] = model.usage_frame()
    frames["turns_frame"] = model.turns_frame()
    built = time.perf_counter() - start
    rows = ", ".join(f"{name} {len(frame):,}" for name, frame in frames.items())
    print(f"all frames built in {built * 1000:.0f} ms ({rows} rows); malformed {model.malformed}")


if __name__ == "__main__":
    main()
