"""Dashboard: every view of one room in one widget, and `show()`, the one-line entry point."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..errors import JoinTimeoutError
from ..events import ConnectionChanged, Event
from ..observer import ApiObserver
from ..session import DUPLICATE_IDENTITY, Session
from ._text import TextFallback, participants_text, session_line
from .agent_panel import AgentPanels, AgentSources
from .composer import Composer
from .datatracks import DataTracksView
from .editor import StateEditor
from .logview import LogView
from .messages import MessageLog
from .metadata import RoomMetadataView
from .observer import ObserverView
from .panel import RoomPanel
from .streams_rpc import RpcMethods
from .table import ParticipantsTable

__all__ = ["Dashboard", "show"]

_sessions: dict[tuple[str, str], Session] = {}
"""Sessions opened by `show()`, so running the cell again reuses the connection instead of joining twice."""
_joining: dict[tuple[str, str], Dashboard] = {}
"""Dashboards whose join is still in flight (running the cell twice quickly must not join twice)."""


class Dashboard(TextFallback, w.VBox):  # type: ignore[misc]
    """RoomPanel, ParticipantsTable, Composer, MessageLog, StateEditor, RoomMetadataView and LogView for one room.

    Without a session it shows the join form; whenever the panel joins, the views are rebuilt for that session.
    A hidden session (an inspector) gets no Composer or StateEditor (it publishes nothing) and gets the room's data
    tracks. A session that tracks agents (`session.agents`) gets an AgentPanel per agent, shown once one is in the
    room. When a join times out (UDP does not reach the server), it offers the API-only observer instead.
    Closing the dashboard closes every view (their tasks stop); it does not leave the room.

    Example::

        session = await lk_notebook.join("demo", identity="ann")
        Dashboard(session)
    """

    def text_fallback(self) -> str:
        s = self.session
        body = "" if s is None else "\n" + participants_text(s.state)
        return f"lk_notebook Dashboard, {session_line(s)}{body}\n(the live view needs JupyterLab or Notebook 7)"

    def __init__(self, session: Session | None = None, *, panel: RoomPanel | None = None) -> None:
        self.panel = panel or RoomPanel()
        self.logs = LogView()
        self.body = w.VBox([])
        super().__init__(
            children=[
                self.panel,
                self.body,
                w.Accordion(children=[self.logs], titles=("SDK log",), selected_index=0),
            ]
        )
        self.add_class("lk-dashboard")
        self.session: Session | None = None
        self.table: ParticipantsTable | None = None
        self.composer: Composer | None = None
        self.messages: MessageLog | None = None
        self.editor: StateEditor | None = None
        self.room_metadata: RoomMetadataView | None = None
        self.data_tracks: DataTracksView | None = None
        self.observer_view: ObserverView | None = None
        self.rpc_methods: RpcMethods | None = None
        self.agent_panels: AgentPanels | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self.panel.on_session(self._bind)
        self.panel.on_join_failed(self._offer_observer)
        if session is not None:
            self.panel.attach(session)

    @property
    def views(self) -> list[w.Widget]:
        views = (
            self.table,
            self.composer,
            self.messages,
            self.editor,
            self.room_metadata,
            self.data_tracks,
            self.observer_view,
            self.agent_panels,
        )
        return [v for v in views if v is not None]

    def _bind(self, session: Session) -> None:
        if session is self.session:
            return
        self._close_views()
        self.session = session
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._unsubscribe = session.state.subscribe(self._on_event)
        self.table = ParticipantsTable(session)
        # `agents` arrives with the agent tracking layer; a session without it simply shows no agent panels.
        agents: AgentSources | None = getattr(session, "agents", None)
        self.agent_panels = AgentPanels(agents) if agents is not None else None
        above = [self.table] if self.agent_panels is None else [self.table, self.agent_panels]
        half = {"width": "50%", "padding": "0 8px 0 0"}
        if session.hidden:
            self.messages = MessageLog(session)
            self.room_metadata = RoomMetadataView(session)
            self.data_tracks = DataTracksView(session)
            self.body.children = [*above, self.data_tracks, self.messages, self.room_metadata]
            return
        self.composer = Composer(session)
        self.messages = MessageLog(session, include_sent=True)
        self.editor = StateEditor(session)
        self.room_metadata = RoomMetadataView(session)
        self.rpc_methods = RpcMethods(session)
        self.composer.layout = w.Layout(**half)
        self.editor.layout = w.Layout(width="100%")
        self.room_metadata.layout = w.Layout(width="100%")
        # Composer beside the state forms; the log (messages, streams, RPC: the widest tables) gets the full width
        # below, where its columns fit unwrapped at 1400 px (tests/browser/test_dashboard_layout_browser.py).
        self.body.children = [
            *above,
            w.HBox([self.composer, w.VBox([self.editor, self.room_metadata], layout=w.Layout(width="50%"))]),
            self.messages,
            self.rpc_methods,
        ]

    def _on_event(self, event: Event) -> None:
        replaced = self.session is not None and self.session.disconnect_reason == DUPLICATE_IDENTITY
        if isinstance(event, ConnectionChanged) and replaced:
            # A newer session took this identity (the join cell ran again): this dashboard is done. Its views stop
            # on their own; the SDK log view is not tied to the session, so stop it here.
            self.logs.live.close()

    def _close_views(self) -> None:
        for view in self.views:
            view.close()
        if self.rpc_methods is not None:
            self.rpc_methods.close()  # a form without tasks; the methods it registered stay with the session
        self.table = self.composer = self.messages = self.editor = self.room_metadata = self.rpc_methods = None
        self.data_tracks = None
        self.observer_view = None
        self.agent_panels = None
        self.body.children = []

    def _offer_observer(self, exc: BaseException) -> None:
        if not isinstance(exc, JoinTimeoutError):
            return
        button = w.Button(description="Watch through the server API only", icon="eye", layout={"width": "300px"})
        button.add_class("lk-offer-observer")
        note = w.HTML(
            '<span style="color:#555">WebRTC did not connect (UDP blocked?). The server API still lists '
            "participants and their state, without messages.</span>"
        )
        button.on_click(lambda _b: self.observe_api_only(exc.room))
        self.body.children = [w.HBox([button, note])]

    def observe_api_only(self, room: str, *, interval: float = 1.0) -> ObserverView:
        """Show `room` through the server API only (polling), in place of the joined views."""
        self._close_views()
        from ..admin import ServerAPI

        extra = self.panel.extra_join_arguments
        admin = ServerAPI(url=extra.get("url"), api_key=extra.get("api_key"), api_secret=extra.get("api_secret"))
        self.observer_view = ObserverView(ApiObserver(room, admin=admin, interval=interval, own_admin=True))
        self.body.children = [self.observer_view]
        return self.observer_view

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self._close_views()
        self.logs.close()
        self.panel.close()
        super().close()


def show(
    room: str,
    *,
    identity: str,
    session: Session | None = None,
    **join_kwargs: Any,
) -> Dashboard:
    """A Dashboard for `room` as `identity`: reuses an open session (this one, or one an earlier `show()` opened),
    else starts joining at once in the background and returns without blocking; the panel shows progress and
    errors. Make it the last expression of a cell to display it.

    `join_kwargs` (name, attributes, metadata, url, announce, ...) go to the join form: `name`, `attributes` and
    `metadata` appear in it; the rest are passed to `lk_notebook.join` as given.

    Example::

        lk_notebook.show("demo", identity="ann")
    """
    key = (room, identity)
    for stale in [k for k, s in _sessions.items() if s.closed]:
        del _sessions[stale]  # left sessions are not kept alive by this registry
    existing = session or _sessions.get(key)
    if existing is not None and not existing.closed:
        return Dashboard(existing)
    pending = _joining.get(key)
    if pending is not None and pending.panel.joining:
        return pending  # the same widget again: a second join would evict the first (duplicate identity)
    panel = RoomPanel(
        room=room,
        identity=identity,
        name=str(join_kwargs.pop("name", "") or ""),
        attributes=dict(join_kwargs.pop("attributes", None) or {}),
        metadata=str(join_kwargs.pop("metadata", "") or ""),
    )
    panel.extra_join_arguments = dict(join_kwargs)
    dash = Dashboard(panel=panel)

    def joined(s: Session) -> None:
        _sessions[(s.room_name, s.identity)] = s
        _joining.pop(key, None)

    panel.on_session(joined)
    panel.join()
    _joining[key] = dash
    return dash
