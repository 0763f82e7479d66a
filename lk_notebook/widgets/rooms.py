"""RoomBrowser: every room on a server, live, with no Session; click one to inspect it hidden.

The list is polled through the server API by a `Poller` (one owned task; back-off on failure; never blocking the
kernel) and sent to the browser as one small synced list (room names, counts, creation times, metadata previews:
nothing secret). Clicking a row opens the inspector Dashboard for that room below the list. Participant and
publisher counts are the server's, which it refreshes about every 5 s; the inspector's table is exact and live.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, TypeGuard

import anywidget
import ipywidgets as w
import traitlets

from .._tasks import TaskOwner
from ..admin import RoomSummary, ServerAPI, metadata_preview
from ..inspector import inspector_identity
from ..poll import Poller
from ._live import describe_error
from ._static import STATIC, es_module
from ._text import TextFallback
from .dashboard import Dashboard, show
from .protocol import ROOMS_WIRE, RoomOpen, RoomRefresh, RoomRow

__all__ = ["RoomBrowser", "RoomList", "room_rows"]


def room_rows(rooms: list[RoomSummary]) -> list[RoomRow]:
    """The wire form of the list (`protocol.RoomRow`), sorted by room name."""
    return [
        {
            "name": r.name,
            "participants": r.num_participants,
            "publishers": r.num_publishers,
            "created": round(r.created_at * 1000),
            "metadata": metadata_preview(r.metadata),
        }
        for r in sorted(rooms, key=lambda r: r.name)
    ]


class RoomList(anywidget.AnyWidget):
    """The front-end list of rooms (sortable, filterable, clickable). Rows are plain data; no credentials."""

    _esm = es_module("rooms.js")
    _css = STATIC / "rooms.css"

    rows: traitlets.List[RoomRow] = traitlets.List().tag(sync=True)
    """`protocol.RoomRow`s (see `room_rows`); not validated per row (200+ rooms)."""
    status = traitlets.Unicode("").tag(sync=True)
    error = traitlets.Unicode("").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    wire = traitlets.Dict(ROOMS_WIRE).tag(sync=True)
    """How the front end reads rows and writes messages (`protocol.ROOMS_WIRE`)."""


def _is_open(content: object) -> TypeGuard[RoomOpen]:
    return isinstance(content, Mapping) and content.get("t") == "open" and isinstance(content.get("room"), str)


def _is_refresh(content: object) -> TypeGuard[RoomRefresh]:
    return isinstance(content, Mapping) and content.get("t") == "refresh"


class RoomBrowser(TextFallback, w.VBox):  # type: ignore[misc]
    """Every room of a server, refreshed every `interval` seconds; clicking a room inspects it (hidden).

    Example::

        RoomBrowser()                          # LIVEKIT_* credentials, or the local server
        RoomBrowser(ServerAPI(url=..., api_key=..., api_secret=...))
    """

    def text_fallback(self) -> str:
        lines = [f"RoomBrowser: {len(self.rooms)} room(s) at {self.admin.credentials.url}"]
        for r in self.rooms[:20]:
            lines.append(f"  {r.name}: {r.num_participants} participant(s), {r.num_publishers} publishing")
        if len(self.rooms) > 20:
            lines.append(f"  … and {len(self.rooms) - 20} more")
        return "\n".join(lines)

    def __init__(self, admin: ServerAPI | None = None, *, interval: float = 1.0, max_interval: float = 30.0) -> None:
        self.admin = admin or ServerAPI()
        self._own_admin = admin is None
        self.room_list = RoomList()
        self.inspector_box = w.VBox([])
        super().__init__([self.room_list, self.inspector_box])
        self.add_class("lk-room-browser")
        self.rooms: list[RoomSummary] = []
        self.refreshed_at: float | None = None
        self.dashboard: Dashboard | None = None
        self._tasks = TaskOwner("room browser", on_error=lambda _where, exc: self._show_error(exc))
        """Leaves of closed inspectors: short, so never cancelled."""
        self.poller: Poller[list[RoomSummary]] = Poller(
            self.admin.list_rooms,
            on_result=self._show_rooms,
            on_error=self._show_error,
            name="room browser",
            interval=interval,
            max_interval=max_interval,
        )
        self.room_list.on_msg(self._on_front_end)
        self.poller.start()

    # -- polling ------------------------------------------------------------------------------------------------
    def _show_rooms(self, rooms: list[RoomSummary]) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        ordered = sorted(rooms, key=lambda r: r.name)
        if ordered != self.rooms:  # frozen dataclasses: comparing is cheaper than rebuilding and syncing the rows
            self.room_list.rows = room_rows(ordered)
        self.rooms = ordered
        self.refreshed_at = now.timestamp()
        self.room_list.error = ""
        self.room_list.status = (
            f"{len(rooms)} room(s) · refreshed {now.astimezone().strftime('%H:%M:%S')} in "
            f"{self.poller.last_duration * 1000:.0f} ms · every {self.poller.next_delay:g} s"
        )

    def _show_error(self, exc: BaseException) -> None:
        self.room_list.error = (
            f"{describe_error(exc)} · retrying in {self.poller.next_delay:.0f} s "
            f"(attempt {self.poller.backoff.failures})"
        )

    def refresh(self) -> None:
        """Fetch the list now."""
        self.poller.refresh()

    # -- opening a room -----------------------------------------------------------------------------------------
    def _on_front_end(self, _widget: object, content: Mapping[str, Any], _buffers: object) -> None:
        if _is_open(content):
            self.inspect(content["room"])
        elif _is_refresh(content):
            self.refresh()

    def inspect(self, room: str) -> Dashboard:
        """Inspect `room` hidden below the list (closing the inspector of the room opened before)."""
        if self.dashboard is not None:
            self._close_dashboard()
        self.room_list.selected = room
        c = self.admin.credentials
        # Kernel side only: the join form never shows the key or secret, and no synced trait holds them.
        self.dashboard = show(
            room,
            identity=inspector_identity(),
            hidden=True,
            url=c.url,
            api_key=c.api_key,
            api_secret=c.api_secret,
        )
        self.inspector_box.children = [self.dashboard]
        return self.dashboard

    def _close_dashboard(self) -> None:
        dash, self.dashboard = self.dashboard, None
        if dash is None:
            return
        session = dash.session
        dash.close()  # also cancels a join still in flight
        if session is not None and not session.closed:
            self._tasks.spawn(session.leave(), name=f"leave {session.room_name}")
        self.inspector_box.children = []

    async def aclose(self) -> None:
        """`close()`, then wait for the poller to stop and release the server API client if this browser made it."""
        self.close()
        await self.poller.aclose()
        if self._own_admin:
            await self.admin.aclose()

    def close(self) -> None:
        self.poller.close()
        self._close_dashboard()
        self.room_list.close()
        super().close()
