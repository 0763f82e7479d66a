"""lk_notebook: explore, teach and measure LiveKit's realtime data features from Jupyter.

Example::

    import lk_notebook
    session = await lk_notebook.join("demo", identity="ann")   # a local server starts if LIVEKIT_* is unset
    session.state.to_frame()
"""

from __future__ import annotations

import typing as _typing

from ._logging import install_scrubber as _install_scrubber
from .admin import RoomSummary, ServerAPI
from .config import Credentials, Grants, default_server, resolve_credentials
from .datatracks import DataTracks, PublishedDataTrack, TrackStats
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
    RoomGoneError,
    ServerError,
    ServerExitedError,
    ServerInstallError,
    ServerStartError,
    SessionClosedError,
    SizeWarning,
    SubscribeError,
    TooLargeError,
    UnknownDestinationWarning,
    UnreachableError,
    UpdateRefusedError,
)
from .events import ConnectionStatus, DataKind, Message, ParticipantInfo, ParticipantKind
from .inspector import inspect, observe
from .observer import ApiObserver
from .server import SERVER_VERSION, LocalServer, install_server
from .session import Session, join
from .state import Change, RoomState

__version__ = "0.1.0"

if _typing.TYPE_CHECKING:
    from .lab import Impairment, Lab, PathError, measure, measure_state
    from .widgets import (
        Composer,
        Dashboard,
        DataTracksView,
        LogView,
        MessageLog,
        ObserverView,
        ParticipantsTable,
        RoomBrowser,
        RoomMetadataView,
        RoomPanel,
        StateEditor,
        show,
    )

_WIDGETS = (
    "Composer",
    "Dashboard",
    "DataTracksView",
    "LogView",
    "MessageLog",
    "ObserverView",
    "ParticipantsTable",
    "RoomBrowser",
    "RoomMetadataView",
    "RoomPanel",
    "StateEditor",
    "show",
)


_LAB = ("Impairment", "Lab", "PathError", "measure", "measure_state")


def __getattr__(name: str) -> _typing.Any:
    # The widgets import ipywidgets and anywidget: load them on first use, so scripts and the CLI start fast.
    if name in _WIDGETS:
        from . import widgets

        return getattr(widgets, name)
    if name in _LAB:
        from . import lab

        return getattr(lab, name)
    raise AttributeError(f"module 'lk_notebook' has no attribute {name!r}")


_install_scrubber()

__all__ = [
    "SERVER_VERSION",
    "AdminError",
    "ApiObserver",
    "AuthenticationError",
    "Change",
    "Composer",
    "ConnectionStatus",
    "Credentials",
    "CredentialsError",
    "Dashboard",
    "DataKind",
    "DataTracks",
    "DataTracksView",
    "Grants",
    "Impairment",
    "InvalidInputError",
    "JoinError",
    "JoinTimeoutError",
    "Lab",
    "LabError",
    "LkNotebookError",
    "LkNotebookWarning",
    "LocalServer",
    "LogView",
    "Message",
    "MessageLog",
    "ObserverView",
    "ParticipantInfo",
    "ParticipantKind",
    "ParticipantsTable",
    "PathError",
    "PortInUseError",
    "PublishError",
    "PublishedDataTrack",
    "RoomBrowser",
    "RoomGoneError",
    "RoomMetadataView",
    "RoomPanel",
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
    "StateEditor",
    "SubscribeError",
    "TooLargeError",
    "TrackStats",
    "UnknownDestinationWarning",
    "UnreachableError",
    "UpdateRefusedError",
    "__version__",
    "default_server",
    "inspect",
    "install_server",
    "join",
    "measure",
    "measure_state",
    "observe",
    "resolve_credentials",
    "show",
]
