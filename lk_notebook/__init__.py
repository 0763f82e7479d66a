"""lk_notebook: explore, teach and measure LiveKit's realtime data features from Jupyter.

Example::

    import lk_notebook
    session = await lk_notebook.join("demo", identity="ann")   # a local server starts if LIVEKIT_* is unset
    session.state.to_frame()
"""

from __future__ import annotations

import ast as _ast
import typing as _typing
from pathlib import Path as _Path

from ._logging import install_scrubber as _install_scrubber
from .admin import RoomSummary, ServerAPI
from .blocking import run_sync
from .cluster import LocalCluster
from .config import Credentials, Grants, default_server, resolve_credentials
from .datatracks import DataTracks, PublishedDataTrack, TrackStats
from .errors import (
    AdminError,
    AgentRequestError,
    AgentSendError,
    AgentTimeoutError,
    AlreadyRegisteredError,
    AuthenticationError,
    ClaimNotHeldError,
    CredentialsError,
    DiskFullError,
    EventLoopError,
    InvalidInputError,
    JoinError,
    JoinTimeoutError,
    JournalError,
    LabError,
    LkNotebookError,
    LkNotebookWarning,
    MissingExtraError,
    MissingFileError,
    NewerRecordingError,
    NotARecordingError,
    PortInUseError,
    PublishError,
    RecordingError,
    RedisMissingError,
    RoomGoneError,
    RpcError,
    ServerError,
    ServerExitedError,
    ServerInstallError,
    ServerStartError,
    SessionClosedError,
    SizeWarning,
    StreamError,
    SubscribeError,
    TooLargeError,
    UnknownDestinationWarning,
    UnreachableError,
    UpdateRefusedError,
    WaitTimeoutError,
)
from .events import (
    ConnectionStatus,
    DataKind,
    Message,
    ParticipantInfo,
    ParticipantKind,
    RpcRecord,
    StreamRecord,
    StreamState,
)
from .inspector import inspect, observe
from .install import SERVER_VERSION, install_server
from .joining import join
from .observer import ApiObserver
from .recording import Recorder, Recording, RecordingDiff, diff_recordings, lag_summary, record, webhooks_vs_sdk
from .server import LocalServer
from .session import Session
from .state import Change, RoomState
from .teaching import check

__version__ = "0.1.0"

if _typing.TYPE_CHECKING:
    from .lab import Impairment, Lab, PathError, measure, measure_state
    from .widgets import *  # noqa: F403 - every name of widgets.__all__, for type checkers


def _exported_names(package: str) -> tuple[str, ...]:
    """A subpackage's `__all__`, read from its source without importing it.

    `lk_notebook.widgets.__all__` is the one list of widget names; deriving it here keeps `import lk_notebook`
    from importing ipywidgets and anywidget (~0.5 s), which scripts and the CLI never need."""
    source = (_Path(__file__).parent / package / "__init__.py").read_text(encoding="utf-8")
    for node in _ast.parse(source).body:
        if isinstance(node, _ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            names: list[str] = _ast.literal_eval(node.value)
            return tuple(names)
    raise ImportError(f"lk_notebook.{package} has no literal __all__")


_WIDGETS = _exported_names("widgets")
_LAB = ("Impairment", "Lab", "PathError", "measure", "measure_state")
"""The lab's entry points, exported here too (the rest of `lk_notebook.lab` stays in its own namespace)."""


def __getattr__(name: str) -> _typing.Any:
    # Loaded on first use, so scripts and the CLI start fast.
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
    "AgentRequestError",
    "AgentSendError",
    "AgentTimeoutError",
    "AlreadyRegisteredError",
    "ApiObserver",
    "AuthenticationError",
    "Change",
    "ClaimNotHeldError",
    "ConnectionStatus",
    "Credentials",
    "CredentialsError",
    "DataKind",
    "DataTracks",
    "DiskFullError",
    "EventLoopError",
    "Grants",
    "Impairment",
    "InvalidInputError",
    "JoinError",
    "JoinTimeoutError",
    "JournalError",
    "Lab",
    "LabError",
    "LkNotebookError",
    "LkNotebookWarning",
    "LocalCluster",
    "LocalServer",
    "Message",
    "MissingExtraError",
    "MissingFileError",
    "NewerRecordingError",
    "NotARecordingError",
    "ParticipantInfo",
    "ParticipantKind",
    "PathError",
    "PortInUseError",
    "PublishError",
    "PublishedDataTrack",
    "Recorder",
    "Recording",
    "RecordingDiff",
    "RecordingError",
    "RedisMissingError",
    "RoomGoneError",
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
    "StreamError",
    "StreamRecord",
    "StreamState",
    "SubscribeError",
    "TooLargeError",
    "TrackStats",
    "UnknownDestinationWarning",
    "UnreachableError",
    "UpdateRefusedError",
    "WaitTimeoutError",
    "__version__",
    "check",
    "default_server",
    "diff_recordings",
    "inspect",
    "install_server",
    "join",
    "lag_summary",
    "measure",
    "measure_state",
    "observe",
    "record",
    "resolve_credentials",
    "run_sync",
    "webhooks_vs_sdk",
]
__all__ += _WIDGETS  # lazily loaded; their one list is lk_notebook.widgets.__all__
