"""Notebook views of a LiveKit room: thin widgets over `Session` and its live `RoomState`.

Each view observes the session's state (handlers only mark it dirty), renders from one owned task at a fixed rate,
sends only what changed, calls session or server-API methods for actions (showing errors inline), and stops its
tasks when closed or when the session leaves.

Example::

    import lk_notebook
    lk_notebook.show("demo", identity="ann")       # joins (or reuses the session) and shows the Dashboard
"""

from __future__ import annotations

from .agent_panel import AgentPanel, AgentPanels
from .composer import Composer
from .dashboard import Dashboard, show
from .datatracks import DataTracksView
from .editor import StateEditor
from .logview import LogView
from .messages import MessageLog
from .metadata import RoomMetadataView
from .observer import ObserverView
from .panel import RoomPanel
from .replay import Replay
from .rooms import RoomBrowser
from .table import ParticipantsTable

__all__ = [
    "AgentPanel",
    "AgentPanels",
    "Composer",
    "Dashboard",
    "DataTracksView",
    "LogView",
    "MessageLog",
    "ObserverView",
    "ParticipantsTable",
    "Replay",
    "RoomBrowser",
    "RoomMetadataView",
    "RoomPanel",
    "StateEditor",
    "show",
]
