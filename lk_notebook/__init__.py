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
from .cluster import LocalCluster
from .config import Credentials, Grants, default_server, resolve_credentials
from .errors import (
    AdminError,
    AlreadyRegisteredError,
    AuthenticationError,
    CredentialsError,
    InvalidInputError,
    JoinError,
    JoinTimeoutError,
    LabError,
    LkNotebookError,
    LkNotebookWarning,
    MissingFileError,
    PortInUseError,
    PublishError,
    RedisMissingError,
    RpcError,
    ServerError,
    ServerExitedError,
    ServerInstallError,
    ServerStartError,
    SessionClosedError,
    SizeWarning,
    StreamError,
    TooLargeError,
    UnknownDestinationWarning,
    UnreachableError,
    UpdateRefusedError,
)
from .events import ConnectionStatus, DataKind, Message, ParticipantInfo, RpcRecord, StreamRecord, StreamState
from .install import SERVER_VERSION, install_server
from .server import LocalServer
from .session import Session, join
from .state import Change, RoomState

__version__ = "0.1.0"

if _typing.TYPE_CHECKING:
    from .lab import Impairment, Lab, PathError, measure, measure_state
    from .widgets import (
        Composer,
        Dashboard,
        LogView,
        MessageLog,
        ParticipantsTable,
        RoomMetadataView,
        RoomPanel,
        StateEditor,
        show,
    )

_WIDGETS = (
    "Composer",
    "Dashboard",
    "LogView",
    "MessageLog",
    "MissingFileError",
    "ParticipantsTable",
    "RoomMetadataView",
    "RoomPanel",
    "StateEditor",
    "StreamError",
    "StreamRecord",
    "StreamState",
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
    "AlreadyRegisteredError",
    "AuthenticationError",
    "Change",
    "Composer",
    "ConnectionStatus",
    "Credentials",
    "CredentialsError",
    "Dashboard",
    "DataKind",
    "Grants",
    "Impairment",
    "InvalidInputError",
    "JoinError",
    "JoinTimeoutError",
    "Lab",
    "LabError",
    "LkNotebookError",
    "LkNotebookWarning",
    "LocalCluster",
    "LocalServer",
    "LogView",
    "Message",
    "MessageLog",
    "MissingFileError",
    "ParticipantInfo",
    "ParticipantsTable",
    "PathError",
    "PortInUseError",
    "PublishError",
    "RedisMissingError",
    "RoomMetadataView",
    "RoomPanel",
    "RoomState",
    "RoomSummary",
    "RpcError",
    "RpcRecord",
    "ServerAPI",
    "ServerError",
    "ServerExitedError",
    "ServerInstallError",
    "ServerStartError",
    "Session",
    "SessionClosedError",
    "SizeWarning",
    "StateEditor",
    "StreamError",
    "StreamRecord",
    "StreamState",
    "TooLargeError",
    "UnknownDestinationWarning",
    "UnreachableError",
    "UpdateRefusedError",
    "__version__",
    "default_server",
    "install_server",
    "join",
    "measure",
    "measure_state",
    "resolve_credentials",
    "show",
]
