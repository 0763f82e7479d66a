"""Looking at a room as its team would: a hidden inspector, or, where WebRTC cannot connect, the server API alone.

Example::

    session = await lk_notebook.inspect("support-42")     # nobody in the room sees it
    session.state.to_frame()                              # participants, kinds, attributes, live
    session.data_tracks.frame()                           # who publishes which data track

    observer = lk_notebook.observe("support-42")          # no WebRTC at all: list_participants polling
"""

from __future__ import annotations

import secrets

from .admin import ServerAPI
from .config import Grants
from .joining import join
from .observer import ApiObserver
from .session import Session

__all__ = ["inspect", "inspector_identity", "observe"]


def inspector_identity() -> str:
    """A fresh identity for an inspector (identities must be unique in a room, hidden or not)."""
    return f"inspector-{secrets.token_hex(3)}"


async def inspect(
    room: str,
    *,
    identity: str | None = None,
    url: str | None = None,
    api_key: str | None = None,
    api_secret: str | None = None,
    grants: Grants | None = None,
    timeout: float = 20.0,
    rejoin: bool = True,
) -> Session:
    """Join `room` hidden: the other participants (Python, JS, any SDK) do not list it; it publishes nothing and
    subscribes to no media, yet sees every participant, attribute, metadata change and message, and can subscribe
    to data tracks on demand (`session.data_tracks`).

    Raises what `lk_notebook.join` raises; a JoinTimeoutError usually means UDP does not reach the server: use
    `observe(room)` there. `rejoin` (on by default): after a server restart or a long network drop, the inspector
    joins again by itself and resynchronises (see lk_notebook.rejoin).
    """
    return await join(
        room,
        identity=identity or inspector_identity(),
        url=url,
        api_key=api_key,
        api_secret=api_secret,
        grants=grants,
        timeout=timeout,
        hidden=True,
        rejoin=rejoin,
    )


def observe(room: str, *, admin: ServerAPI | None = None, interval: float = 1.0) -> ApiObserver:
    """Watch `room` through the server API only (labelled "server API only: no messages"), polling
    `list_participants` every `interval` seconds. Starts at once when a loop runs (a notebook cell)."""
    observer = ApiObserver(room, admin=admin, interval=interval)
    observer.start()
    return observer
