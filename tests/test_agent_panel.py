"""The AgentPanel's kernel side (and the room browser's agent marks), with no LiveKit.

A replay of a real agent's recorded session (tests/agent_replay.py) and hand-built protobuf messages go through the
real pure AgentModel; what the panel sends is applied to a small Python copy of the front end's bookkeeping, which
must end up showing what the model holds."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from livekit.protocol.agent_pb import agent_session as pb

from lk_notebook.admin import RoomSummary
from lk_notebook.agents import AgentModel, AgentsModel
from lk_notebook.events import ParticipantInfo
from lk_notebook.state import participant
from lk_notebook.widgets import AgentPanel, AgentPanels, Dashboard
from lk_notebook.widgets._static import STATIC
from lk_notebook.widgets.agent_delta import AgentDeltas, new_items
from lk_notebook.widgets.agent_panel import CANNOT_SEND, AgentSource, AgentSources
from lk_notebook.widgets.protocol import (
    AGENT_LATENCY_PHASES,
    AGENT_PANEL_WIRE,
    AGENT_STATE_COLORS,
    ROOMS_WIRE,
    AgentPanelDelta,
    schema,
)
from lk_notebook.widgets.rooms import count_agents, room_rows
from tests import agent_messages as m
from tests.agent_replay import ReplayAgent, replay_schedule
from tests.conftest import Sessions

W = AGENT_PANEL_WIRE


class FrontEnd:
    """What static/agent_panel.js keeps, by the wire's labels: lines, state points, tool rows, turn rows."""

    def __init__(self) -> None:
        self.lines: dict[str, dict[str, Any]] = {}
        self.states: list[dict[str, Any]] = []
        self.tools: dict[str, dict[str, Any]] = {}
        self.turns: dict[int, dict[str, Any]] = {}
        self.texts_seen: dict[str, list[str]] = {}
        """Every text a streaming line showed, in order."""

    def apply(self, msg: AgentPanelDelta) -> None:
        d = W["delta"]
        assert msg[d["tag"]] == d["is"]  # type: ignore[literal-required]
        assert set(msg) <= set(schema(AgentPanelDelta).values())
        if msg.get("reset"):
            self.__init__()  # type: ignore[misc]
        for line in msg.get("lines", []):
            assert set(line) == set(W["line"].values())
            self.lines[line["k"]] = dict(line)
            self.texts_seen.setdefault(line["k"], []).append(line["text"])
        for g in msg.get("grow", []):
            line = self.lines[g["k"]]
            line["text"] += g["add"]
            line["final"] = g["final"]
            self.texts_seen[g["k"]].append(line["text"])
        for key in msg.get("drop", []):
            del self.lines[key]
        self.states += msg.get("states", [])
        for t in msg.get("tools", []):
            self.tools[t["k"]] = dict(t)
        for r in msg.get("turns", []):
            self.turns[r["turn"]] = dict(r)

    def transcript(self) -> list[tuple[str, str]]:
        return [(line["role"], line["text"]) for line in sorted(self.lines.values(), key=lambda x: x["at"])]


def panel_with_front_end(source: AgentSource) -> tuple[AgentPanel, FrontEnd, list[AgentPanelDelta]]:
    panel = AgentPanel(source)
    front, sent = FrontEnd(), []

    def send(msg: AgentPanelDelta) -> None:
        sent.append(json.loads(json.dumps(msg)))  # what the comm carries: plain JSON
        front.apply(sent[-1])

    panel.timeline.send = send  # type: ignore[method-assign]
    panel._on_front_end(panel.timeline, {W["hello"]["tag"]: W["hello"]["is"]}, [])
    return panel, front, sent


def replay(agent: ReplayAgent, panel: AgentPanel, *, turns: int = 3, render_every: int = 1) -> None:
    origin = time.time()
    for i, step in enumerate(replay_schedule(turns=turns, word_gap=0.05, origin=origin)):
        agent.feed(step, origin=origin)
        if i % render_every == 0:
            panel.render_now()
    panel.render_now()


def test_a_replayed_session_shows_its_transcript_states_tools_and_turns() -> None:
    agent = ReplayAgent()
    panel, front, sent = panel_with_front_end(agent)
    try:
        replay(agent, panel)
        assert front.transcript() == [
            ("handoff", " -> weather_agent"),
            ("user", "what is the weather in Paris?"),
            ("assistant", "It is sunny and 21 degrees in Paris."),
            ("user", "hello"),
            ("assistant", "Hello! How can I help you today?"),
            ("user", "hello"),
            ("assistant", "Hello! How can I help you today?"),
        ]
        # Each reply streamed word by word, not final until its stream closed, then gave way to its conversation item.
        streamed = [texts for key, texts in front.texts_seen.items() if key.startswith("s")]
        assert len(streamed) == 3
        assert streamed[0][:4] == ["", "It", "It is", "It is sunny"]
        assert streamed[0][-1] == "It is sunny and 21 degrees in Paris."
        assert not [line for line in front.lines.values() if not line["final"]]
        agent_states = [p["state"] for p in front.states if p["who"] == "agent"]
        assert agent_states == ["listening", *["thinking", "speaking", "listening"] * 2, "thinking", "speaking"]
        assert {p["state"] for p in front.states if p["who"] == "user"} == {"speaking", "listening"}
        (tool,) = front.tools.values()
        assert (tool["name"], json.loads(tool["arguments"]), tool["output"], tool["is_error"]) == (
            "get_weather",
            {"city": "Paris"},
            "It is sunny and 21 degrees in Paris.",
            False,
        )
        assert tool["duration"] == pytest.approx(0.066, abs=0.01)  # the recorded tool's run
        expected = agent.model.turns_frame()
        assert sorted(front.turns) == [1, 2, 3]
        for _, row in expected.iterrows():
            bar = front.turns[row["turn"] + 1]
            for phase in ("to_thinking", "to_first_chunk", "to_speaking", "to_final"):
                assert bar[phase] == pytest.approx(row[phase]), phase
            assert (bar["input_tokens"], bar["output_tokens"]) == (row["input_tokens"], row["output_tokens"])
            assert bar["input_tokens"] > 0
        assert front.turns[1]["tools"] == "get_weather"
        # Streaming sends the words that arrived, not the line again.
        grows = [g for msg in sent for g in msg.get("grow", [])]
        assert all(len(g["add"]) <= len(" degrees") for g in grows)
    finally:
        panel.close()


def test_a_new_view_gets_everything_and_later_renders_only_what_changed() -> None:
    agent = ReplayAgent()
    panel, front, sent = panel_with_front_end(agent)
    try:
        origin = time.time()
        steps = replay_schedule(turns=20, word_gap=0.05, origin=origin)
        last_chunk = max(i for i, s in enumerate(steps) if s.kind == "chunk")
        agent.feed_all(steps[:last_chunk], origin=origin)
        panel.render_now()
        before = panel.bytes_sent
        agent.feed(steps[last_chunk], origin=origin)  # one more word of the 20th reply
        panel.render_now()
        assert sent[-1] == {"t": "agent", "grow": [{"k": sent[-1]["grow"][0]["k"], "add": steps[last_chunk].text,
                                                    "final": False}]}  # fmt: skip
        assert panel.bytes_sent - before < 100
        agent.feed_all(steps[last_chunk + 1 :], origin=origin)
        panel.render_now()
        assert sorted(front.turns) == list(range(1, 21))
        assert len(sent[-1].get("turns", [])) <= 2  # a render recomputes the last turns only
        panel.render_now()
        count = len(sent)
        panel.render_now()  # nothing changed: nothing sent
        assert len(sent) == count

        # A reloaded page says hello again: it gets the whole session in one message.
        panel._on_front_end(panel.timeline, {"t": "hello"}, [])
        assert sent[-1]["reset"] is True and len(sent) == count + 1
        assert len(front.turns) == 20 and len(front.transcript()) == 1 + 20 * 2
        assert len([p for p in front.states if p["who"] == "agent"]) == len(agent.model.agent_states)
    finally:
        panel.close()


def test_new_items_finds_insertions_near_the_end_without_walking_the_list() -> None:
    items = [[i] for i in range(1000)]
    seen = {id(x) for x in items}
    late, last = [999.5], [1000]
    items.insert(998, late)  # out of order by a little: as the model's insort does
    items.append(last)
    assert new_items(items, seen) == [late, last]
    assert new_items(items, seen) == []


def test_without_a_session_channel_the_transcriptions_and_attributes_fill_the_panel() -> None:
    agents = AgentsModel()
    agents.feed_attributes("old-agent", {"lk.agent.state": "listening"}, at=1.0)
    agents.feed_attributes("old-agent", {"lk.agent.state": "speaking"}, at=2.0)
    agents.feed_transcription_opened("old-agent", "TR_1", {"lk.segment_id": "S1"}, opened_at=2.0, received_at=2.0)
    agents.feed_transcription_chunk("old-agent", "TR_1", "Hi there", received_at=2.1)
    agents.feed_transcription_closed("old-agent", "TR_1", {"lk.transcription_final": "true"}, received_at=2.2)
    source = ReplayAgent("old-agent")
    source.model = agents["old-agent"]
    panel, front, _ = panel_with_front_end(source)
    try:
        assert front.transcript() == [("assistant", "Hi there")]
        assert [p["state"] for p in front.states] == ["listening", "speaking"]
        assert "no lk.agent.session channel" in panel.timeline.note
    finally:
        panel.close()


def test_malformed_messages_and_agent_errors_are_shown_and_the_panel_goes_on() -> None:
    agent = ReplayAgent()
    panel, front, _ = panel_with_front_end(agent)
    try:
        agent.feed_session(b"\xff\x00 not protobuf", received_at=1.0)
        token = "eyJhbGciOiJIUzI1.eyJzdWIiOiJhbm4iLCJ2.c2lnbmF0dXJl"
        agent.feed_session(m.error(f"llm failed: token {token}", 2.0), received_at=2.0)
        agent.feed_session(m.message(pb.USER, "still there?", 3.0), received_at=3.0)
        panel.render_now()
        assert "1 malformed session message(s)" in panel.timeline.note
        assert "llm failed" in panel.timeline.note
        assert "eyJ" not in panel.timeline.note  # scrubbed: an error can quote a token
        assert front.transcript() == [("user", "still there?")]
    finally:
        panel.close()


def test_tool_errors_and_running_calls_show_in_their_row() -> None:
    agent = ReplayAgent()
    panel, front, _ = panel_with_front_end(agent)
    try:
        agent.feed_session(m.tool_started("call_9", "get_weather", {"city": "Atlantis"}, 1.0), received_at=1.0)
        panel.render_now()
        (row,) = front.tools.values()
        assert (row["status"], row["output"]) == ("running", None)
        agent.feed_session(m.tool_ended("call_9", "no such city", 1.5, status=pb.TC_ERROR), received_at=1.5)
        panel.render_now()
        (row,) = front.tools.values()
        assert (row["status"], row["is_error"], row["output"], row["duration"]) == ("error", True, "no such city", 0.5)
    finally:
        panel.close()


async def test_chat_box_is_disabled_with_its_reason_until_the_agent_can_hear_us() -> None:
    agent = ReplayAgent()
    panel = AgentPanel(agent, hz=50)
    try:
        assert panel.chat.disabled and panel.send_button.disabled
        assert CANNOT_SEND in panel.chat_reason.value and panel.chat_reason.layout.display != "none"
        panel.chat.value = "hello"
        panel.send_chat()
        assert "cannot hear" in panel.error_line.value and agent.sent == []
        agent.can_send = True
        await wait_for(lambda: not panel.chat.disabled)
        assert panel.chat_reason.layout.display == "none"
        panel.send_chat()
        await wait_for(lambda: agent.sent == ["hello"] and panel.chat.value == "")
    finally:
        await panel.live.aclose()
        panel.close()


async def test_request_buttons_show_results_and_errors_inline() -> None:
    agent = ReplayAgent()
    agent.feed_all(replay_schedule(turns=1, origin=0.0), origin=0.0)
    panel = AgentPanel(agent, hz=50)
    try:
        panel.buttons["history"].click()
        await wait_for(lambda: "chat history" in panel.output.value)
        assert "what is the weather in Paris?" in panel.output.value and "<table" in panel.output.value
        panel.buttons["rtc"].click()  # the fake's rtc_stats raises, as a request that timed out does
        await wait_for(lambda: "TimeoutError" in panel.error_line.value)
        assert "rtc stats" in panel.error_line.value
        assert "chat history" in panel.output.value  # the last good result stays
        assert agent.requests == ["chat_history", "fail"]
    finally:
        await panel.live.aclose()
        panel.close()


async def test_a_render_that_raises_is_shown_and_rendering_goes_on() -> None:
    agent = ReplayAgent()
    panel = AgentPanel(agent, hz=50)
    panel._ready = True
    sent: list[Any] = []
    panel.timeline.send = sent.append  # type: ignore[method-assign]
    broken = True
    real_next = panel.deltas.next

    def next_delta() -> AgentPanelDelta | None:
        if broken:
            raise ValueError("a bug in a render")
        return real_next()

    panel.deltas.next = next_delta  # type: ignore[method-assign]
    try:
        agent.feed_all(replay_schedule(turns=1, origin=0.0), origin=0.0)
        await wait_for(lambda: "a bug in a render" in panel.error_line.value)
        broken = False
        panel.live.mark()
        await wait_for(lambda: bool(sent))
    finally:
        await panel.live.aclose()
        panel.close()


class FakeAgents:
    """An `AgentSources`: agents present, and on_agent callbacks for the ones that come later."""

    def __init__(self, *present: ReplayAgent) -> None:
        self.present = list(present)
        self.callbacks: list[Callable[[AgentSource], None]] = []

    def values(self) -> list[ReplayAgent]:
        return self.present

    def on_agent(self, callback: Callable[[AgentSource], None]) -> Callable[[], None]:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def arrive(self, agent: ReplayAgent) -> None:
        self.present.append(agent)
        for callback in list(self.callbacks):
            callback(agent)


def test_agent_panels_follow_the_session_as_agents_appear() -> None:
    agents = FakeAgents()
    typed: AgentSources = agents  # the fake satisfies the protocol the Dashboard relies on
    panels = AgentPanels(typed)
    try:
        assert panels.layout.display == "none" and not panels.panels  # no agent yet: nothing shown
        agents.arrive(ReplayAgent("agent-a"))
        agents.arrive(ReplayAgent("agent-a"))  # told twice: one panel
        assert list(panels.panels) == ["agent-a"] and panels.layout.display == ""
        agents.arrive(ReplayAgent("agent-b"))
        assert list(panels.panels) == ["agent-a", "agent-b"]
        assert len(panels.children) == 3  # two panels and the error line

        class Session:
            pass

        with pytest.raises(TypeError, match="no `agents`"):
            AgentPanel.for_session(Session())
        session = Session()
        session.agents = FakeAgents(ReplayAgent("agent-c"))  # type: ignore[attr-defined]
        from_session = AgentPanel.for_session(session)
        assert list(from_session.panels) == ["agent-c"]
        from_session.close()
    finally:
        panels.close()
    assert agents.callbacks == []  # closing unsubscribed


def test_nothing_secret_is_synced_and_the_wire_is_plain_json() -> None:
    assert json.loads(json.dumps(AGENT_PANEL_WIRE)) == AGENT_PANEL_WIRE
    agent = ReplayAgent()
    panel = AgentPanel(agent)
    try:
        assert panel.timeline.wire == AGENT_PANEL_WIRE
        state = panel.timeline.get_state()
        assert set(state) >= {"title", "agent_state", "user_state", "note", "wire"}
        assert "secret" not in json.dumps({k: v for k, v in state.items() if k not in ("_esm", "_css")}).lower()
    finally:
        panel.close()


def test_deltas_of_a_model_fed_by_hand_built_turns() -> None:
    model = AgentModel("a")
    deltas = AgentDeltas(model)
    assert deltas.next() == {"t": "agent", "reset": True}
    for data in m.scripted_turn(10.0, "what is the weather in Paris?", "Sunny.", tool=("c1", "get_weather",
                                {"city": "Paris"}, "Sunny."), tokens_before=(0, 0)):  # fmt: skip
        from lk_notebook.agents import decode_session_message

        model.apply(decode_session_message(data, received_at=10.0))
    delta = deltas.next()
    assert delta is not None
    assert [(line["role"], line["text"]) for line in delta["lines"]] == [
        ("user", "what is the weather in Paris?"),
        ("assistant", "Sunny."),
    ]
    assert [t["turn"] for t in delta["turns"]] == [1]
    assert delta["turns"][0]["to_speaking"] == pytest.approx(0.07)
    assert deltas.next() is None


async def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


class FakeAdmin:
    """`list_participants` of a few rooms; "gone" vanished between the list and its count."""

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def list_participants(self, room: str) -> list[ParticipantInfo]:
        self.asked.append(room)
        if room == "gone":
            raise LookupError("room not found")
        people = {"support": [participant("bot", kind="agent"), participant("ann")], "chat": [participant("bob")]}
        return people.get(room, [])


async def test_the_room_browser_counts_agents_per_room_and_marks_them_in_its_rows() -> None:
    def room(name: str, people: int, created: float = 1.0) -> RoomSummary:
        return RoomSummary(name, "RM_" + name, "", people, created, 0)

    rooms = [room("chat", 1), room("support", 2), room("gone", 1), room("empty", 0), room("new", 0, created=9.0)]
    admin = FakeAdmin()
    counts = await count_agents(admin, rooms, limit=4)  # type: ignore[arg-type]
    assert counts == {"support": 1, "chat": 0, "new": 0}
    assert admin.asked == ["support", "chat", "gone", "new"]  # the fullest first, then the newest; "empty" left out
    rows = room_rows(rooms, counts)
    assert {r["name"]: r["agents"] for r in rows} == {"chat": 0, "empty": None, "gone": None, "new": 0, "support": 1}
    assert set(rows[0]) == set(ROOMS_WIRE["row"].values())


@pytest.mark.server
async def test_the_dashboard_shows_a_panel_per_agent_of_its_session(
    sessions: Sessions, room_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    agents = FakeAgents()
    me = await sessions.join(room_name, "me")
    # The session's own tracker is stood in for, so that the test decides when an agent arrives.
    monkeypatch.setattr(me, "agents", agents)
    dash = Dashboard(me)
    try:
        panels = dash.agent_panels
        assert panels is not None and panels in dash.body.children and panels in dash.views
        assert panels.layout.display == "none"  # no agent in the room yet
        agents.arrive(ReplayAgent("agent-1"))
        assert list(panels.panels) == ["agent-1"] and panels.layout.display == ""
    finally:
        dash.close()
    assert agents.callbacks == [] and panels.panels["agent-1"].live.closed


def test_the_front_end_declares_no_state_name_or_wire_key_of_its_own() -> None:
    js = (STATIC / "agent_panel.js").read_text()
    for state in AGENT_STATE_COLORS:
        assert f'"{state}"' not in js, f"agent_panel.js re-declares the state {state!r}"
    for part in ("line", "grow", "state", "tool", "turn", "delta"):
        for label in W[part]:
            assert f'"{label}"' not in js, f"agent_panel.js re-declares the {part} key {label!r}"
    for field, _label, _color in AGENT_LATENCY_PHASES:
        assert f'"{field}"' not in js, f"agent_panel.js re-declares the phase {field!r}"
