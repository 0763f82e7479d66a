"""One error hierarchy for everything lk_notebook raises.

    LkNotebookError
    ├── ServerError                   the local livekit-server
    │   ├── ServerInstallError        could not find or install the binary
    │   │   └── RedisMissingError     a local cluster needs `redis-server` (Debian package redis-server)
    │   └── ServerStartError          could not start it
    │       ├── PortInUseError        a requested port is taken
    │       └── ServerExitedError     it exited early (carries its last log lines)
    ├── CredentialsError              no usable URL / key / secret / token
    ├── JoinError                     rtc connect failed
    │   ├── AuthenticationError       the server refused the token (wrong key or secret, expired)
    │   ├── UnreachableError          nothing answers at the URL
    │   └── JoinTimeoutError          the connection did not complete in time
    ├── SessionClosedError            an operation on a session that has left
    ├── EventLoopError (RuntimeError) a session used after the event loop it joined on stopped (scripts)
    ├── WaitTimeoutError (TimeoutError)  a wait_for / next_message / next_stream / wait_for_participant timed out
    ├── InvalidInputError (ValueError)  rejected before anything was sent
    │   ├── TooLargeError             a payload, attribute set, metadata or RPC payload over a limit
    │   ├── MissingFileError          a file to send does not exist or is not a file
    │   └── AlreadyRegisteredError    an RPC method or stream topic that already has a handler
    ├── UpdateRefusedError            the server did not apply a state change (permission, limit)
    ├── PublishError                  the SDK refused to send a data message
    ├── StreamError                   a text or byte stream could not be sent
    ├── RpcError                      an RPC call failed (carries LiveKit's error code)
    ├── SubscribeError                subscribing to a data track failed (no permission, track gone)
    ├── AdminError                    a server API (Twirp) call failed
    ├── RoomGoneError                 the room being inspected or observed no longer exists
    └── LabError                      the delivery lab cannot run as asked

Warnings (LkNotebookWarning: SizeWarning, UnknownDestinationWarning) mark what is sent but probably not as meant.

Every message says what happened and what to do next. No message ever contains an API secret or a token.
"""

from __future__ import annotations

__all__ = [
    "AdminError",
    "AlreadyRegisteredError",
    "AuthenticationError",
    "CredentialsError",
    "EventLoopError",
    "InvalidInputError",
    "JoinError",
    "JoinTimeoutError",
    "LabError",
    "LkNotebookError",
    "LkNotebookWarning",
    "MissingFileError",
    "PortInUseError",
    "PublishError",
    "RedisMissingError",
    "RoomGoneError",
    "RpcError",
    "ServerError",
    "ServerExitedError",
    "ServerInstallError",
    "ServerStartError",
    "SessionClosedError",
    "SizeWarning",
    "StreamError",
    "SubscribeError",
    "TooLargeError",
    "UnknownDestinationWarning",
    "UnreachableError",
    "UpdateRefusedError",
    "WaitTimeoutError",
]


class LkNotebookError(Exception):
    """Base class of every error lk_notebook raises on purpose."""


class ServerError(LkNotebookError):
    """The local livekit-server could not be installed or run."""


class ServerInstallError(ServerError):
    """No livekit-server binary could be found or installed."""


class RedisMissingError(ServerInstallError):
    """A local cluster needs Redis and no `redis-server` is on PATH (install the Debian package redis-server)."""


class ServerStartError(ServerError):
    """livekit-server was found but did not become ready."""


class PortInUseError(ServerStartError):
    """A port the server needs is already taken."""

    def __init__(self, message: str, *, port: int) -> None:
        super().__init__(message)
        self.port = port


class ServerExitedError(ServerStartError):
    """The server process exited before it was ready, or while in use."""

    def __init__(self, message: str, *, returncode: int | None, log_tail: str) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.log_tail = log_tail


class CredentialsError(LkNotebookError):
    """No usable credentials (URL, API key and secret, or a token)."""


class JoinError(LkNotebookError):
    """Joining a room failed."""

    def __init__(self, message: str, *, url: str, room: str) -> None:
        super().__init__(message)
        self.url = url
        self.room = room


class AuthenticationError(JoinError):
    """The server rejected the access token: wrong API key or secret, or the token expired."""


class UnreachableError(JoinError):
    """Nothing answered at the server URL."""


class JoinTimeoutError(JoinError):
    """The connection started but did not complete in time."""


class SessionClosedError(LkNotebookError):
    """The session has left the room; join again to continue."""


class InvalidInputError(LkNotebookError, ValueError):
    """Input rejected before anything was sent: nothing changed on the server."""


class TooLargeError(InvalidInputError):
    """A payload, an attribute set or a metadata string is over a limit."""

    def __init__(self, message: str, *, size: int, limit: int, what: str) -> None:
        super().__init__(message)
        self.size = size
        self.limit = limit
        self.what = what


class MissingFileError(InvalidInputError):
    """A file to send does not exist, or is not a regular file."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class AlreadyRegisteredError(InvalidInputError):
    """An RPC method (or a stream topic) already has a handler in this session; unregister it first."""

    def __init__(self, message: str, *, what: str, name: str) -> None:
        super().__init__(message)
        self.what = what
        self.name = name


class UpdateRefusedError(LkNotebookError):
    """The server did not apply a change to participant state.

    The SDK does not report this (it ignores the server's error), so lk_notebook detects it: either the token
    lacks `canUpdateOwnMetadata`, or the change was not echoed back by the server within a bounded wait.
    """

    def __init__(self, message: str, *, identity: str, what: str) -> None:
        super().__init__(message)
        self.identity = identity
        self.what = what


class PublishError(LkNotebookError):
    """The SDK refused to send a data message."""


class StreamError(LkNotebookError):
    """The SDK could not send a text or byte stream (or the connection ended while it was being sent)."""

    def __init__(self, message: str, *, topic: str, stream_id: str = "") -> None:
        super().__init__(message)
        self.topic = topic
        self.stream_id = stream_id


class RpcError(LkNotebookError):
    """An RPC call failed. `code` is LiveKit's: 1400 unsupported method, 1401 recipient not found, 1402 request
    too large, 1500 application error (the handler raised), 1501/1502 connection or response timeout, 1503
    recipient disconnected, 1504 response too large."""

    def __init__(self, message: str, *, code: int, method: str, destination: str, sdk_message: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.method = method
        self.destination = destination
        self.sdk_message = sdk_message


class EventLoopError(LkNotebookError, RuntimeError):
    """A session was used from another event loop than the one it joined on, and that one has stopped: the SDK
    delivers the server's answers to the loop the room was made on. (Typically `run_sync` called twice in a
    script: each call runs its own loop and closes it.) Use `asyncio.run(main())` and `await` inside."""


class WaitTimeoutError(LkNotebookError, TimeoutError):
    """What a session waited for did not happen in time. `what` says what it waited for, `timeout` how long (s).
    A TimeoutError too, so `except TimeoutError` catches it."""

    def __init__(self, message: str, *, what: str, timeout: float) -> None:
        super().__init__(message)
        self.what = what
        self.timeout = timeout


class SubscribeError(LkNotebookError):
    """Subscribing to a data track failed: the token lacks canSubscribe, or the track is gone."""

    def __init__(self, message: str, *, publisher: str, track: str) -> None:
        super().__init__(message)
        self.publisher = publisher
        self.track = track


class AdminError(LkNotebookError):
    """A server API call failed."""

    def __init__(self, message: str, *, operation: str, status: int | None = None) -> None:
        super().__init__(message)
        self.operation = operation
        self.status = status


class RoomGoneError(LkNotebookError):
    """The room being inspected or observed no longer exists on the server (deleted, or closed once empty)."""


class LabError(LkNotebookError):
    """The delivery lab cannot run as asked (bad parameters, no relay, no data tracks)."""


class ClaimNotHeldError(LkNotebookError, AssertionError):
    """A tutorial's claim did not hold in a strict run (`LK_NOTEBOOK_STRICT=1`, as the test suite runs them).

    In a learner's run the same check prints "differs on this machine" with its reason instead (`lk.check`).
    """


class LkNotebookWarning(UserWarning):
    """Base class of lk_notebook's warnings: something will work, but probably not as you expect."""


class SizeWarning(LkNotebookWarning):
    """A data message is above LiveKit's advice for its mode (it is still sent)."""


class UnknownDestinationWarning(LkNotebookWarning):
    """A destination identity is not in the room now; the server silently drops data for it."""


# -- recordings (lk_notebook.recording) ------------------------------------------------------------------------------
# Kept in one block at the end of the file so that other work on the hierarchy above does not collide with it.
#
#   LkNotebookError
#   └── RecordingError                a recording file cannot be written or read as asked
#       ├── NotARecordingError        the file is not an lk_notebook recording (says what it found)
#       ├── NewerRecordingError       written by a newer schema version than this lk_notebook reads
#       └── JournalError              the journal (writer) stopped: closed, or a write failed
#           └── DiskFullError         the disk (or the database's size limit) is full

__all__ += ["DiskFullError", "JournalError", "MissingExtraError", "NewerRecordingError", "NotARecordingError"]
__all__ += ["RecordingError"]


class RecordingError(LkNotebookError):
    """A recording file cannot be written or read as asked."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class NotARecordingError(RecordingError):
    """The file is not an lk_notebook recording (not SQLite, or SQLite without a recording's meta table)."""

    def __init__(self, message: str, *, path: str, found: str) -> None:
        super().__init__(message, path=path)
        self.found = found


class NewerRecordingError(RecordingError):
    """The recording's schema is newer than this version of lk_notebook reads: upgrade lk_notebook."""

    def __init__(self, message: str, *, path: str, version: int, supported: int) -> None:
        super().__init__(message, path=path)
        self.version = version
        self.supported = supported


class JournalError(RecordingError):
    """The journal stopped writing: it was closed, or a write failed (what was committed before stays readable)."""


class DiskFullError(JournalError):
    """The disk, or the database's size limit, is full; the journal stopped and the file stays readable."""


class MissingExtraError(LkNotebookError, ImportError):
    """An optional feature needs a package that is not installed; the message names the extra that brings it."""

    def __init__(self, message: str, *, extra: str, package: str) -> None:
        super().__init__(message)
        self.extra = extra
        self.package = package


# -- agents (lk_notebook.agents) --------------------------------------------------------------------------------------
#
#   LkNotebookError
#   ├── AgentRequestError             a session request to a LiveKit Agents session failed (names the request)
#   │   └── AgentTimeoutError         no answer in time (an agent without the session channel never answers)
#   └── AgentSendError                `AgentView.send` could not get the agent to hear the text (says why)

__all__ += ["AgentRequestError", "AgentSendError", "AgentTimeoutError"]


class AgentRequestError(LkNotebookError):
    """A session request failed: the agent answered with an error, with something that is not the answer, or the
    session cannot ask (a hidden inspector publishes nothing)."""

    def __init__(self, kind: str, request_id: str, message: str) -> None:
        super().__init__(f"agent session request {kind} ({request_id or 'not sent'}) failed: {message}")
        self.kind = kind
        self.request_id = request_id


class AgentTimeoutError(AgentRequestError):
    """The agent did not answer a session request within `timeout` seconds."""

    def __init__(self, kind: str, request_id: str, message: str, *, timeout: float) -> None:
        super().__init__(kind, request_id, message)
        self.timeout = timeout


class AgentSendError(LkNotebookError):
    """`AgentView.send` failed. `reason`: "hidden" (an inspector publishes nothing), "not_linked" (the agent reads
    `lk.chat` only from the participant it linked to, another one), "not_heard" (no sign it heard within the
    timeout)."""

    def __init__(self, message: str, *, agent: str, reason: str) -> None:
        super().__init__(message)
        self.agent = agent
        self.reason = reason
