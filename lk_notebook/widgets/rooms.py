"""RoomBrowser: every room on a server, live, with no Session; click one to inspect it hidden.

The list is polled through the server API by a `Poller` (one owned task; back-off on failure; never blocking the
kernel) and sent to the browser as one small synced list (room names, counts, creation times, metadata previews:
nothing secret). Clicking a row opens the inspector Dashboard for that room below the list. Participant and
publisher counts are the server's, which it refreshes about every 5 s; the inspector's table is exact and live.
Rooms holding an agent are marked: `list_rooms` gives no participant kinds, so a second, slower poller counts
agents with one `list_participants` per room (at most `MAX_COUNTED_ROOMS` rooms, fullest first).
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Mapping, Sequence
from typing import Any, TypeGuard

import anywidget
import ipywidgets as w
import traitlets

from .._tasks import TaskOwner
from ..admin import RoomSummary, ServerAPI, metadata_preview
from ..events import ParticipantKind
from ..inspector import inspector_identity
from ..poll import Poller
from ._live import describe_error
from ._static import STATIC, es_module
from ._text import TextFallback
from .dashboard import Dashboard, show
from .protocol import ROOMS_WIRE, RoomOpen, RoomRefresh, RoomRow

__all__ = ["RoomBrowser", "RoomList", "count_agents", "room_rows"]

MAX_COUNTED_ROOMS = 50
"""Rooms whose agents are counted per round (one `list_participants` each): a big deployment is not hammered."""
AGENT_COUNT_INTERVAL = 5.0
"""Seconds between agent counts: the server's own participant counts refresh about as often."""


async def count_agents(
    admin: ServerAPI, rooms: Sequence[RoomSummary], *, limit: int = MAX_COUNTED_ROOMS
) -> dict[str, int]:
    """Participants of kind agent per room, for the `limit` fullest (then newest) rooms. A room that vanished
    between the list and its count is left out."""
    chosen = sorted(rooms, key=lambda r: (-r.num_participants, -r.created_at))[:limit]
    results = await asyncio.gather(*(admin.list_participants(r.name) for r in chosen), return_exceptions=True)
    counts: dict[str, int] = {}
    for room, result in zip(chosen, results, strict=True):
        if isinstance(result, list):
            counts[room.name] = sum(p.kind is ParticipantKind.AGENT for p in result)
        elif not isinstance(result, Exception):
            raise result  # a cancellation: the poller is closing
    return counts


def room_rows(rooms: list[RoomSummary], agents: Mapping[str, int] | None = None) -> list[RoomRow]:
    """The wire form of the list (`protocol.RoomRow`), sorted by room name; `agents`: counts by room."""
    counts = agents or {}
    return [
        {
            "name": r.name,
            "participants": r.num_participants,
            "publishers": r.num_publishers,
            "created": round(r.created_at * 1000),
            "metadata": metadata_preview(r.metadata),
            "agents": counts.get(r.name),
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
        self.agent_counts: dict[str, int] = {}
        self.agent_poller: Poller[dict[str, int]] = Poller(
            lambda: count_agents(self.admin, self.rooms),
            on_result=self._show_agent_counts,
            on_error=self._show_error,
            name="room browser agents",
            interval=AGENT_COUNT_INTERVAL,
            max_interval=max(max_interval, AGENT_COUNT_INTERVAL),
        )
        self.room_list.on_msg(self._on_front_end)
        self.poller.start()
        self.agent_poller.start()

    # -- polling ------------------------------------------------------------------------------------------------
    def _show_rooms(self, rooms: list[RoomSummary]) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        ordered = sorted(rooms, key=lambda r: r.name)
        first = not self.rooms
        if ordered != self.rooms:  # frozen dataclasses: comparing is cheaper than rebuilding and syncing the rows
            self.room_list.rows = room_rows(ordered, self.agent_counts)
        self.rooms = ordered
        if first and ordered:
            self.agent_poller.refresh()  # its first round ran before any room was known
        self.refreshed_at = now.timestamp()
        self.room_list.error = ""
        self.room_list.status = (
            f"{len(rooms)} room(s) · refreshed {now.astimezone().strftime('%H:%M:%S')} in "
            f"{self.poller.last_duration * 1000:.0f} ms · every {self.poller.next_delay:g} s"
        )

    def _show_agent_counts(self, counts: dict[str, int]) -> None:
        if counts != self.agent_counts:
            self.agent_counts = counts
            self.room_list.rows = room_rows(self.rooms, counts)

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
        await self.agent_poller.aclose()
        if self._own_admin:
            await self.admin.aclose()

    def close(self) -> None:
        self.poller.close()
        self.agent_poller.close()
        self._close_dashboard()
        self.room_list.close()
        super().close()
