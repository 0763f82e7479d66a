"""AgentPanel: one LiveKit Agents session, live: transcript, states over time, tool calls, per-turn latency, chat.

The timeline (transcript with streaming replies, the agent/user state strip, tool calls, latency bars) is an
anywidget with a static ES module (`static/agent_panel.js`); it gets only what changed (`agent_delta.AgentDeltas`)
as custom messages, so a long session costs the kernel and the wire what each render adds. The chat box, the
request buttons and their output are classic ipywidgets under it. The source notifies through `subscribe`, which
only marks the panel dirty; one render task (`Live`) sends at most `hz` deltas a second. Errors (a failed request,
a send refused, a render that raised) are shown in the panel's error line; nothing escapes a callback.

Example::

    panel = AgentPanel(await session.agents.wait_for())   # one agent
    AgentPanel.for_session(session)                       # one panel per agent, as agents appear
"""

from __future__ import annotations

import asyncio
import html
import json
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pprint import pformat
from typing import Any, Protocol, TypeGuard

import anywidget
import ipywidgets as w
import traitlets

from .._logging import scrub
from ..agents.model import AgentModel
from ._live import ErrorLine, Live
from ._static import STATIC, es_module
from ._text import TextFallback
from .agent_delta import AgentDeltas
from .protocol import AGENT_PANEL_WIRE, AgentPanelDelta, AgentPanelHello

__all__ = ["AgentPanel", "AgentPanels", "AgentSource", "AgentSources", "AgentTimeline"]

CANNOT_SEND = "the agent cannot hear this session yet"
"""Shown next to the disabled chat box ..."""
CANNOT_SEND_WHY = (
    "An agent learns of a new participant within about 3 s of its joining (the server's announcement tick); "
    "a message sent before is dropped. A hidden inspector publishes nothing, so it never can."
)
"""... with this as its tooltip."""


class AgentSource(Protocol):
    """What the panel reads of one agent (`session.agents[identity]`, an `AgentView`, satisfies it)."""

    @property
    def identity(self) -> str: ...
    @property
    def model(self) -> AgentModel: ...
    @property
    def can_send(self) -> bool:
        """The agent can hear this session: the chat box is enabled only then."""

    def subscribe(self, callback: Callable[[], None]) -> Callable[[], None]: ...
    async def send(self, text: str, *, timeout: float = ...) -> None: ...
    async def chat_history(self) -> object: ...
    async def session_state(self) -> object: ...
    async def agent_info(self) -> object: ...
    async def session_usage(self) -> object: ...
    async def rtc_stats(self) -> object: ...


class AgentSources(Protocol):
    """The agents of a session (`session.agents`): those present, and a callback for each new one."""

    def values(self) -> Iterable[AgentSource]: ...
    def on_agent(self, callback: Callable[[AgentSource], None]) -> Callable[[], None]: ...


REQUESTS: tuple[tuple[str, str, Callable[[AgentSource], Awaitable[object]]], ...] = (
    ("chat history", "history", lambda s: s.chat_history()),
    ("session state", "state", lambda s: s.session_state()),
    ("agent info", "info", lambda s: s.agent_info()),
    ("usage", "usage", lambda s: s.session_usage()),
    ("rtc stats", "rtc", lambda s: s.rtc_stats()),
)
"""(button label, CSS class suffix, the request): each result shows in the panel's output area."""


def _is_hello(content: object) -> TypeGuard[AgentPanelHello]:
    return isinstance(content, Mapping) and content.get("t") == AGENT_PANEL_WIRE["hello"]["is"]


def result_html(result: object) -> str:
    """A request's result for the output area: a DataFrame as a table, anything else pretty-printed; scrubbed."""
    to_html = getattr(result, "to_html", None)
    if callable(to_html):
        return scrub(str(to_html(max_rows=50, border=0)))
    return f"<pre>{html.escape(scrub(pformat(result, width=120)))}</pre>"


class AgentTimeline(anywidget.AnyWidget):
    """The front-end part: header, state strip, transcript, tool calls, latency bars (fed by `AgentPanel`)."""

    _esm = es_module("agent_panel.js")
    _css = STATIC / "agent_panel.css"

    title = traitlets.Unicode("").tag(sync=True)
    agent_state = traitlets.Unicode("").tag(sync=True)
    user_state = traitlets.Unicode("").tag(sync=True)
    note = traitlets.Unicode("").tag(sync=True)
    """What the panel warns about: malformed messages, the agent's own errors, no session channel."""
    wire = traitlets.Dict(AGENT_PANEL_WIRE).tag(sync=True)
    """How the front end reads the messages (`protocol.AGENT_PANEL_WIRE`)."""


class AgentPanel(TextFallback, w.VBox):  # type: ignore[misc]
    """One agent, live. `source` is an `AgentSource` (`session.agents[identity]`).

    Example::

        agent = await session.agents.wait_for()
        AgentPanel(agent)          # last expression of a cell: shows it
    """

    def text_fallback(self) -> str:
        m = self.source.model
        return (
            f"AgentPanel of {self.source.identity}: {m.state or 'unknown'} (user {m.user_state or 'unknown'}), "
            f"{len(m.conversation)} conversation item(s), {len(m.tool_calls)} tool call(s)"
        )

    def __init__(self, source: AgentSource, *, hz: float = 6.0) -> None:
        self.source = source
        self.deltas = AgentDeltas(source.model)
        self.timeline = AgentTimeline()
        self.error_line = ErrorLine()
        self.chat = w.Text(placeholder="say something to the agent", layout={"width": "420px"}, disabled=True)
        self.chat.add_class("lk-agent-chat")
        self.send_button = w.Button(description="send", icon="paper-plane", disabled=True, layout={"width": "110px"})
        self.send_button.add_class("lk-agent-send")
        why, what = html.escape(CANNOT_SEND_WHY), html.escape(CANNOT_SEND)
        self.chat_reason = w.HTML(f'<span class="lk-agent-chat-reason" title="{why}">{what}</span>')
        self.buttons: dict[str, w.Button] = {}
        for label, suffix, request in REQUESTS:
            button = w.Button(description=label, layout={"width": "auto"})
            button.add_class(f"lk-agent-request-{suffix}")
            button.on_click(lambda _b, label=label, request=request: self.request(label, request))
            self.buttons[suffix] = button
        self.output = w.HTML("")
        self.output.add_class("lk-agent-output")
        super().__init__(
            [
                self.timeline,
                w.HBox([self.chat, self.send_button, self.chat_reason], layout={"align_items": "center"}),
                w.HBox(list(self.buttons.values())),
                self.error_line,
                self.output,
            ]
        )
        self.add_class("lk-agent-panel")
        self.bytes_sent = 0
        self.messages_sent = 0
        self.last_message: AgentPanelDelta | None = None
        self._ready = False
        self._viewed = asyncio.Event()
        self._can_send: bool | None = None
        self.send_button.on_click(lambda _b: self.send_chat())
        self.timeline.on_msg(self._on_front_end)
        self.live = Live(f"agent {source.identity}", self._render, hz=hz, errors=self.error_line, poll=self._poll)
        self.live.on_close(source.subscribe(self.live.mark))
        self._poll()
        self._sync_head()
        self.live.start()

    @classmethod
    def for_session(cls, session: object, *, hz: float = 6.0) -> AgentPanels:
        """One panel per agent of `session` (its `agents`), added as agents appear."""
        agents: AgentSources | None = getattr(session, "agents", None)
        if agents is None:
            raise TypeError(f"{type(session).__name__} has no `agents`: this lk_notebook has no agent tracking")
        return AgentPanels(agents, hz=hz)

    # -- rendering ----------------------------------------------------------------------------------------------
    def _poll(self) -> None:
        can_send = bool(self.source.can_send)
        if can_send != self._can_send:  # not a model change: the source does not notify it
            self._can_send = can_send
            self.chat.disabled = self.send_button.disabled = not can_send
            self.chat_reason.layout.display = "none" if can_send else ""

    def _sync_head(self) -> None:
        m, t = self.source.model, self.timeline
        name = f" ({m.name})" if m.name else ""
        t.title = f"{self.source.identity}{name}"
        t.agent_state, t.user_state = m.state, m.user_state
        notes = []
        if m.malformed:
            notes.append(f"{m.malformed} malformed session message(s)")
        agent_errors = [e for e in m.errors[-3:] if e.kind == "agent"]
        if agent_errors:
            notes.append(f"agent error: {agent_errors[-1].message}")
        if not m.has_session_channel and (m.attribute_states or m.segments):
            notes.append("no lk.agent.session channel (an older framework?): states from attributes only")
        t.note = scrub(" · ".join(notes))

    def _render(self) -> None:
        self._sync_head()
        if not self._ready:
            return  # no view yet: its hello asks for everything
        delta = self.deltas.next()
        if delta is not None:
            self._send_delta(delta)

    def _send_delta(self, delta: AgentPanelDelta) -> None:
        self.bytes_sent += len(json.dumps(delta, separators=(",", ":"), ensure_ascii=False).encode())
        self.messages_sent += 1
        self.last_message = delta
        self.timeline.send(delta)

    def _on_front_end(self, _widget: object, content: Mapping[str, Any], _buffers: object) -> None:
        if _is_hello(content):
            self._ready = True
            self._viewed.set()
            self.deltas.reset()
            self.live.mark()
            if not self.live.running:
                self.live.render_now()

    def render_now(self) -> None:
        """Push pending changes at once (the render task does this on its own)."""
        self.live.render_now()

    @property
    def viewed(self) -> bool:
        """A browser view is showing the panel (it said hello)."""
        return self._ready

    async def wait_viewed(self, timeout: float = 60.0) -> None:
        """Until a browser view shows the panel: a script waits for it before driving a turn it wants seen."""
        await asyncio.wait_for(self._viewed.wait(), timeout)

    # -- actions --------------------------------------------------------------------------------------------------
    def send_chat(self) -> None:
        text = self.chat.value.strip()
        if not text:
            return
        if not self.source.can_send:
            self.error_line.show_error(RuntimeError(f"{CANNOT_SEND}. {CANNOT_SEND_WHY}"), where="send")
            return

        def sent(_: None) -> None:
            self.chat.value = ""
            self.error_line.show_note(f"sent: {text}")

        self.live.run("send", lambda: self.source.send(text), on_ok=sent, busy="sending…")

    def request(self, label: str, request: Callable[[AgentSource], Awaitable[object]]) -> None:
        def show(result: object) -> None:
            self.output.value = f"<b>{html.escape(label)}</b>{result_html(result)}"
            self.error_line.clear()

        self.live.run(label, lambda: request(self.source), on_ok=show, busy=f"{label}…")

    @property
    def stats(self) -> dict[str, float]:
        return self.live.stats(messages=self.messages_sent, bytes_sent=self.bytes_sent)

    def close(self) -> None:
        self.live.close()
        self.timeline.close()
        super().close()


class AgentPanels(TextFallback, w.VBox):  # type: ignore[misc]
    """An AgentPanel per agent of a session, added as each appears; hidden while there is none.

    Example::

        AgentPanel.for_session(session)
    """

    def text_fallback(self) -> str:
        return f"AgentPanels: {', '.join(self.panels) or 'no agent yet'}"

    def __init__(self, agents: AgentSources, *, hz: float = 6.0) -> None:
        super().__init__([])
        self.add_class("lk-agent-panels")
        self.layout.display = "none"
        self.hz = hz
        self.error_line = ErrorLine()
        self.panels: dict[str, AgentPanel] = {}
        for source in list(agents.values()):
            self.add(source)
        self._unsubscribe: Callable[[], None] | None = agents.on_agent(self.add)

    def add(self, source: AgentSource) -> None:
        """A panel for `source` (once per identity); called by `on_agent`, so it never raises."""
        try:
            if source.identity in self.panels:
                return
            self.panels[source.identity] = AgentPanel(source, hz=self.hz)
        except Exception as exc:
            self.error_line.show_error(exc, where=f"agent {getattr(source, 'identity', '?')}")
        else:
            self.layout.display = ""
        self.children = [*self.panels.values(), self.error_line]

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for panel in self.panels.values():
            panel.close()
        super().close()
