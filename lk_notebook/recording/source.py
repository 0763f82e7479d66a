"""ReplaySource: a recording played back as a read-only stand-in for a Session, so the live views render it.

It offers what ParticipantsTable and MessageLog read from a session (a `state: RoomState`, `inbox`, `streams`,
`rpc_calls`, message/stream/RPC callbacks, a status line), with no LiveKit connection: `advance(t)` applies the
records up to `t` in order (as they arrived), `seek(t)` jumps anywhere (a `Snapshot` of `state_at(t)`, so the same
RoomState object, and every view subscribed to it, becomes true at `t`).

Pure of widgets and network: usable in a script or a test.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ..errors import SessionClosedError
from ..events import ConnectionChanged, ConnectionStatus, Message, RpcRecord, Snapshot, StreamRecord
from ..received import MessageCallback, ReceivedRecords, RpcCallback, StreamCallback
from ..state import RoomState
from .entries import RecordedPacket
from .recording import Recording, Time, to_seconds
from .wire import STATE_KINDS

__all__ = ["ReplaySource"]


def as_message(p: RecordedPacket, at: float) -> Message:
    """A recorded packet as the Message a live session delivered (payload as kept: cut at the journal's bound)."""
    return Message(p.sender, p.topic, p.kind, p.payload, at, destinations=p.destinations, sent=p.sent)


class ReplaySource(ReceivedRecords):
    """A recording as a read-only session: `state`, `inbox`, `streams`, `rpc_calls` as they were at `position`."""

    hidden = True
    credentials = None
    closed = False

    def __init__(self, recording: Recording, *, inbox_limit: int = 1_000) -> None:
        self.recording = recording
        self.room_name = recording.room
        self.identity = f"replay of {recording.path.name}"
        self.start = recording.start.timestamp()
        self.end = recording.end.timestamp()
        self.state = RoomState(recording.room)
        self.position = self.start
        """The recording's time (Unix seconds) the state and inbox show."""
        self._seq = 0
        """The last record applied."""
        self._inbox: deque[Message] = deque(maxlen=inbox_limit)
        self._streams: dict[str, StreamRecord] = {}
        self._rpcs: dict[int, RpcRecord] = {}
        self._message_callbacks: list[tuple[str | None, bool, MessageCallback]] = []
        self._stream_callbacks: list[StreamCallback] = []
        self._rpc_callbacks: list[RpcCallback] = []
        self.seek(self.start)

    def __repr__(self) -> str:
        offset = self.position - self.start
        return f"ReplaySource({self.room_name!r}, at +{offset:.3f} s of {self.end - self.start:.3f} s)"

    # -- what the views read -------------------------------------------------------------------------------------
    @property
    def status(self) -> ConnectionStatus:
        return self.state.status

    def closed_error(self, action: str) -> SessionClosedError:
        return SessionClosedError(f"cannot {action}: this is a replay of {self.recording.path.name}, read-only")

    # -- moving in time -------------------------------------------------------------------------------------------
    def seek(self, t: Time) -> None:
        """Show the room as it was at `t` (clamped to the recording): state, and the last messages, streams and
        RPC calls up to `t`. Callbacks are not called for what is skipped over (views re-read `inbox`)."""
        at = min(max(to_seconds(t), self.start), self.end)
        target = self.recording.state_at(at, history_limit=1)
        self.state.apply(Snapshot(target.room, target.room_metadata, tuple(target.participants.values()), at))
        if target.status is not self.state.status:
            self.state.apply(ConnectionChanged(target.status, at, target.disconnect_reason))
        self._inbox.clear()
        self._streams.clear()
        self._rpcs.clear()
        limit = self._inbox.maxlen or 0
        upto = self.recording.last_seq_at(at)
        for entry in self.recording.events(["packet"], before_seq=upto, last=limit):
            self._inbox.append(as_message(entry.value, entry.at))  # type: ignore[arg-type]
        for entry in self.recording.events(["stream", "rpc"], before_seq=upto):
            self._keep(entry.value, notify=False)  # type: ignore[arg-type]
        self._seq = upto
        self.position = at

    def advance(self, t: Time) -> int:
        """Play the records after `position` up to `t` in order, as a live session delivered them (state events
        applied, messages to the inbox and the callbacks). Returns how many were played."""
        at = min(to_seconds(t), self.end)
        if at < self.position:
            self.seek(at)
            return 0
        played = 0
        state_kinds = set(STATE_KINDS)
        for entry in self.recording.events(after_seq=self._seq, end=at):
            self._seq = entry.seq
            played += 1
            if entry.kind in state_kinds:
                self.state.apply(entry.value)  # type: ignore[arg-type]
            elif entry.kind == "packet":
                self._deliver(as_message(entry.value, entry.at))  # type: ignore[arg-type]
            elif entry.kind in ("stream", "rpc"):
                self._keep(entry.value)  # type: ignore[arg-type]
        self.position = at
        return played

    def _keep(self, value: StreamRecord | RpcRecord, *, notify: bool = True) -> None:
        """Keep the latest record of a stream or call, as many as the inbox holds (as a live session bounds them);
        `notify`: tell the callbacks (not for what a seek skips over)."""
        records: dict[Any, Any] = self._streams if isinstance(value, StreamRecord) else self._rpcs
        key = value.stream_id if isinstance(value, StreamRecord) else value.call_id
        records[key] = value  # an update keeps the stream's place: oldest first, as a session's `streams`
        while len(records) > (self._inbox.maxlen or len(records)):
            del records[next(iter(records))]
        if not notify:
            return
        if isinstance(value, StreamRecord):
            for stream_callback in tuple(self._stream_callbacks):
                stream_callback(value)
        else:
            for rpc_callback in tuple(self._rpc_callbacks):
                rpc_callback(value)

    def _deliver(self, m: Message) -> None:
        self._inbox.append(m)
        for topic, include_sent, callback in tuple(self._message_callbacks):
            if (topic is None or topic == m.topic) and (include_sent or not m.sent):
                callback(m)
