"""RoomPanel: join a room from a form, leave it, and watch the connection's status live."""

from __future__ import annotations

import asyncio
import html
import json
import os
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from .. import config
from ..cluster import placement
from ..errors import InvalidInputError
from ..events import ConnectionChanged, ConnectionStatus, Event
from ..joining import join
from ..session import DUPLICATE_IDENTITY, Session
from ._forms import KeyValueRows, SecretField
from ._live import ErrorLine, Live
from ._text import TextFallback, session_line

__all__ = ["RoomPanel", "default_url"]

_STATUS_COLOURS = {
    ConnectionStatus.CONNECTING: "#b26a00",
    ConnectionStatus.CONNECTED: "#2e7d32",
    ConnectionStatus.RECONNECTING: "#b26a00",
    ConnectionStatus.DISCONNECTED: "#b00020",
}


def default_url() -> tuple[str, str]:
    """(url, where it came from): LIVEKIT_URL, else the running local server, else ("", "local server")."""
    env = os.environ.get("LIVEKIT_URL", "")
    if env:
        return env, "LIVEKIT_URL"
    server = getattr(config, "_default_server", None)
    if server is not None and getattr(server, "running", False):
        return str(server.url), "local server"
    return "", "local server (started on Join)"


class RoomPanel(TextFallback, w.VBox):  # type: ignore[misc]
    """A join form (URL, room, identity, name, attributes, metadata, an optional token), Join / Leave, and the
    connection status (connecting, connected, reconnecting, disconnected with the reason). Errors appear inline.

    Credentials come from LIVEKIT_URL / LIVEKIT_API_KEY / LIVEKIT_API_SECRET or the local server; the API secret is
    never shown. A pasted token lives in a masked field that is not widget state and is cleared once used.

    Example::

        panel = RoomPanel(room="demo", identity="ann")
        panel            # fill in, press Join; then panel.session is the joined Session
    """

    def text_fallback(self) -> str:
        s = self.session
        rejoin = s.rejoin.describe() if s is not None else ""
        return f"RoomPanel, {session_line(s)}" + (f" ({rejoin})" if rejoin else "")

    def __init__(
        self,
        session: Session | None = None,
        *,
        room: str = "",
        identity: str = "",
        name: str = "",
        attributes: dict[str, str] | None = None,
        metadata: str = "",
        hz: float = 4.0,
    ) -> None:
        url, source = default_url()
        self.url = w.Text(value=url, description="URL", placeholder=source, layout={"width": "560px"})
        self.url_source = w.HTML(value=f'<span style="color:#666">from {html.escape(source)}</span>')
        self.room = w.Text(value=room, description="room", layout={"width": "360px"})
        self.identity = w.Text(value=identity, description="identity", layout={"width": "360px"})
        self.name = w.Text(value=name, description="name", placeholder="(optional)", layout={"width": "360px"})
        self.attributes = KeyValueRows(attributes or {})
        self.metadata = w.Textarea(
            value=metadata, description="metadata", placeholder="(optional; JSON is common)", layout={"width": "560px"}
        )
        self.token = SecretField(label="token", placeholder="(optional) paste an access token instead of API keys")
        self.join_button = w.Button(description="Join", button_style="primary", icon="sign-in")
        self.leave_button = w.Button(description="Leave", icon="sign-out", disabled=True)
        self.status = w.HTML(value="")
        self.error = ErrorLine()
        self.form = w.VBox(
            [
                w.HBox([self.url, self.url_source]),
                self.room,
                self.identity,
                self.name,
                w.HTML("<b>initial attributes</b>"),
                self.attributes,
                self.metadata,
                self.token,
            ]
        )
        self.collapse = w.Accordion(children=[self.form], titles=("join form",))
        super().__init__(
            children=[w.HBox([self.join_button, self.leave_button, self.status]), self.error, self.collapse]
        )
        self.add_class("lk-room-panel")
        self.session: Session | None = None
        self._join_task: asyncio.Task[None] | None = None
        self.extra_join_arguments: dict[str, Any] = {}
        """More keyword arguments for `lk_notebook.join` (kernel side only; never shown)."""
        self._session_callbacks: list[Callable[[Session], None]] = []
        self._failure_callbacks: list[Callable[[BaseException], None]] = []
        self._unsubscribe: Callable[[], None] | None = None
        self.live = Live("room panel", self._render, hz=hz, errors=self.error, is_finished=self._replaced)
        self.join_button.on_click(lambda _b: self.join())
        self.leave_button.on_click(lambda _b: self.leave())
        if session is not None:
            self.attach(session)
        else:
            self.collapse.selected_index = 0
        self.live.start()

    # -- session binding ------------------------------------------------------------------------------------------
    def on_session(self, callback: Callable[[Session], None]) -> None:
        """Call `callback(session)` whenever this panel joins (or is given) a session."""
        self._session_callbacks.append(callback)

    def on_join_failed(self, callback: Callable[[BaseException], None]) -> None:
        """Call `callback(error)` when a Join started from this panel fails (the error line shows it too)."""
        self._failure_callbacks.append(callback)

    def attach(self, session: Session) -> None:
        """Show (and control) an existing session."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        self.session = session
        self.room.value = session.room_name
        self.identity.value = session.identity
        self.url.value = session.url
        unsubscribe_state = session.state.subscribe(self._on_event)
        # Background failures of the session (e.g. removed by the server) belong next to its status line.
        unsubscribe_errors = session.on_error(lambda where, exc: self.error.show_error(exc, where=where))

        def unsubscribe() -> None:
            unsubscribe_state()
            unsubscribe_errors()

        self._unsubscribe = unsubscribe
        self.collapse.selected_index = None
        self.live.mark()
        for callback in tuple(self._session_callbacks):
            callback(session)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ConnectionChanged):
            # Rare and short-lived (a reconnect can take 100 ms): show each one now, not at the next tick.
            self.live.dirty = True
            self.live.render_now()
        else:
            self.live.mark()

    # -- actions --------------------------------------------------------------------------------------------------
    def join_arguments(self) -> dict[str, Any]:
        """What Join passes to `lk_notebook.join` (without the token). Raises InvalidInputError on bad input."""
        room = self.room.value.strip()
        identity = self.identity.value.strip()
        if not room:
            raise InvalidInputError("enter a room name")
        if not identity:
            raise InvalidInputError("enter an identity")
        kwargs: dict[str, Any] = {"identity": identity}
        if self.name.value.strip():
            kwargs["name"] = self.name.value.strip()
        attrs = dict(self.attributes.items())
        if attrs:
            kwargs["attributes"] = attrs
        if self.metadata.value:
            kwargs["metadata"] = self.metadata.value
        url = self.url.value.strip()
        env_url, _ = default_url()
        if url and url != env_url:
            kwargs["url"] = url  # key and secret still come from the environment
        return {"room": room, **kwargs, **self.extra_join_arguments}

    def _replaced(self) -> bool:
        """True once a newer connection took this panel's identity: this panel is done (rejoining from it would
        evict the newer session in turn), so its render task ends after the final picture."""
        return self.session is not None and self.session.disconnect_reason == DUPLICATE_IDENTITY

    def join(self) -> None:
        """Start joining with the form's values (an owned task); the result shows in the status line."""
        if self._replaced():
            self.error.show_error(
                InvalidInputError("a newer session took this identity (DUPLICATE_IDENTITY): use its dashboard"),
                where="join",
            )
            return
        if self.session is not None and not self.session.closed:
            self.error.show_error(InvalidInputError("already joined: press Leave first"), where="join")
            return
        try:
            kwargs = self.join_arguments()
        except InvalidInputError as exc:
            self.error.show_error(exc, where="join")
            return
        token = self.token.take()  # used once, then gone from the kernel and the page
        if token:
            kwargs["token"] = token
            if "url" not in kwargs and self.url.value.strip():
                kwargs["url"] = self.url.value.strip()
        room = kwargs.pop("room")
        self.join_button.disabled = True
        self.status.value = f'<span style="color:#b26a00">● joining {html.escape(room)}…</span>'

        async def do_join() -> Session:
            try:
                return await join(room, **kwargs)
            except Exception as exc:
                for callback in tuple(self._failure_callbacks):
                    callback(exc)
                raise
            finally:
                self.join_button.disabled = False
                self.live.mark()

        def joined(session: Session) -> None:
            self.error.clear()
            self.attach(session)

        self._join_task = self.live.run("join", do_join, on_ok=joined)

    @property
    def joining(self) -> bool:
        """True while a Join started from this panel is in progress."""
        return self._join_task is not None and not self._join_task.done()

    def leave(self) -> None:
        session = self.session
        if session is None:
            return
        self.live.run("leave", session.leave, on_ok=lambda _r: self.live.mark())

    # -- rendering ------------------------------------------------------------------------------------------------
    def _render(self) -> None:
        s = self.session
        if s is None:
            self.status.value = '<span style="color:#666">● not joined</span>'
            self.leave_button.disabled = True
            return
        st = s.state.status
        colour = _STATUS_COLOURS[st]
        text = st.value
        if st is ConnectionStatus.DISCONNECTED and s.state.disconnect_reason:
            text += f" ({s.state.disconnect_reason})"
        rejoin = s.rejoin.describe()  # a gap the session is bridging or has bridged by rejoining on its own
        if rejoin:
            text += f" · {rejoin}"
        where = "" if s.credentials is None else f", credentials from {s.credentials.source}"
        # In a local cluster: which node the session came in through, and which one hosts the room.
        placed = placement(s.url, s.room_name) if not s.closed else None
        nodes = "" if placed is None else f" · {placed.describe()}"
        mode = ' <b class="lk-hidden-mode">inspecting (hidden)</b>' if s.hidden else ""
        self.status.value = (
            f'<span style="color:{colour}">● {html.escape(text)}</span>{mode} '
            f"<span>{html.escape(s.room_name)} as <b>{html.escape(s.identity)}</b> at "
            f"<code>{html.escape(s.url)}</code>{html.escape(where)} · {len(s.state)} participant(s)"
            f"{html.escape(nodes)}</span>"
        )
        self.leave_button.disabled = s.closed
        self.join_button.disabled = not s.closed or self._replaced()

    def describe(self) -> str:
        """The status line as text (for tests and logs)."""
        s = self.session
        if s is None:
            return "not joined"
        out: dict[str, Any] = {
            "status": s.state.status.value,
            "reason": s.state.disconnect_reason,
            "rejoin": s.rejoin.describe(),
        }
        placed = placement(s.url, s.room_name) if not s.closed else None
        if placed is not None:
            out.update(via_node=placed.via_node_id, room_node=placed.room_node_id)
        return json.dumps(out)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        self.live.close()
        super().close()
