"""lk_notebook: explore, teach and measure LiveKit's realtime data features from Jupyter.

Example::

    import lk_notebook
    session = await lk_notebook.join("demo", identity="ann")   # a local server starts if LIVEKIT_* is unset
    session.state.to_frame()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._logging import install_scrubber as _install_scrubber
from .admin import RoomSummary, ServerAPI
from .config import Credentials, Grants, default_server, resolve_credentials
from .errors import (
    AdminError,
    AuthenticationError,
    CredentialsError,
    InvalidInputError,
    JoinError,
    JoinTimeoutError,
    LabError,
    LkNotebookError,
    LkNotebookWarning,
    PortInUseError,
    PublishError,
    ServerError,
    ServerExitedError,
    ServerInstallError,
    ServerStartError,
    SessionClosedError,
    SizeWarning,
    TooLargeError,
    UnknownDestinationWarning,
    UnreachableError,
    UpdateRefusedError,
)
from .events import ConnectionStatus, DataKind, Message, ParticipantInfo
from .server import SERVER_VERSION, LocalServer, install_server
from .session import Session, join
from .state import Change, RoomState

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .widgets import Dashboard, show


def __getattr__(name: str) -> Any:
    # The widgets import ipywidgets and anywidget: load them on first use, so scripts and the CLI start fast.
    if name in ("show", "Dashboard"):
        from . import widgets

        return getattr(widgets, name)
    raise AttributeError(f"module 'lk_notebook' has no attribute {name!r}")


_install_scrubber()

__all__ = [
    "SERVER_VERSION",
    "AdminError",
    "AuthenticationError",
    "Change",
    "ConnectionStatus",
    "Credentials",
    "CredentialsError",
    "Dashboard",
    "DataKind",
    "Grants",
    "InvalidInputError",
    "JoinError",
    "JoinTimeoutError",
    "LabError",
    "LkNotebookError",
    "LkNotebookWarning",
    "LocalServer",
    "Message",
    "ParticipantInfo",
    "PortInUseError",
    "PublishError",
    "RoomState",
    "RoomSummary",
    "ServerAPI",
    "ServerError",
    "ServerExitedError",
    "ServerInstallError",
    "ServerStartError",
    "Session",
    "SessionClosedError",
    "SizeWarning",
    "TooLargeError",
    "UnknownDestinationWarning",
    "UnreachableError",
    "UpdateRefusedError",
    "__version__",
    "default_server",
    "install_server",
    "join",
    "resolve_credentials",
    "show",
]
