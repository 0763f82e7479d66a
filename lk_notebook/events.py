"""Typed, frozen events: the only shape in which room activity reaches the state model and the views.

The SDK hands out positional callbacks in differing orders (`participant_attributes_changed(changed, participant)`
but `participant_metadata_changed(participant, old, new)`); `session.py` turns each into one of these. Everything
above the session sees only these dataclasses. No I/O, no SDK or Jupyter imports here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = [
    "AGENT_STATE_ATTRIBUTE",
    "AttributesChanged",
    "ConnectionChanged",
    "ConnectionStatus",
    "DataKind",
    "Event",
    "Message",
    "MetadataChanged",
    "NameChanged",
    "ParticipantActive",
    "ParticipantInfo",
    "ParticipantJoined",
    "ParticipantKind",
    "ParticipantLeft",
    "PublishedDataTrack",
    "RoomMetadataChanged",
    "RpcRecord",
    "Snapshot",
    "StreamRecord",
    "StreamState",
    "frozen_map",
    "participant_kind",
]

AGENT_STATE_ATTRIBUTE = "lk.agent.state"
"""The attribute LiveKit Agents set to the agent's state (initializing, listening, thinking, speaking)."""


def frozen_map(items: Mapping[str, str] | None = None) -> Mapping[str, str]:
    """A read-only copy of `items`, so an event cannot be changed after it was made."""
    return MappingProxyType(dict(items or {}))


class ConnectionStatus(str, enum.Enum):
    """Where a session is in its life. Only CONNECTED accepts publishing and state changes."""

    CONNECTING = "connecting"
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


class DataKind(str, enum.Enum):
    """Delivery mode of a data message (named, to avoid the SDK's and the server API's opposite enums)."""

    RELIABLE = "reliable"
    LOSSY = "lossy"


class ParticipantKind(str, enum.Enum):
    """What kind of client a participant is (LiveKit's `ParticipantInfo.kind`, set by the token's `kind` claim)."""

    STANDARD = "standard"
    INGRESS = "ingress"
    EGRESS = "egress"
    SIP = "sip"
    AGENT = "agent"
    CONNECTOR = "connector"
    BRIDGE = "bridge"


def participant_kind(enum_name: str) -> ParticipantKind:
    """The kind named by an SDK or server enum name (`PARTICIPANT_KIND_AGENT`, `AGENT`); unknown names: standard.

    The rtc SDK and the server API number the same kinds differently (CONNECTOR is 5 in one, 7 in the other), so
    names, not numbers, cross this boundary.
    """
    short = enum_name.rsplit("PARTICIPANT_KIND_", 1)[-1].lower()
    try:
        return ParticipantKind(short)
    except ValueError:
        return ParticipantKind.STANDARD


@dataclass(frozen=True, slots=True)
class ParticipantInfo:
    """Everything the model keeps about one participant at one moment."""

    identity: str
    """Unique within the room; the key of every table."""
    sid: str
    """Server-assigned id; changes if the participant rejoins."""
    name: str
    """Display name (may be empty)."""
    metadata: str
    """Opaque string (often JSON)."""
    attributes: Mapping[str, str]
    """Key/value state; read-only."""
    is_local: bool = False
    """True for the participant this session joined as."""
    active: bool = True
    """False until the server reports the participant fully connected (lossy data is dropped before that)."""
    joined_at: float | None = None
    """Unix time the server says the participant joined, when known."""
    kind: ParticipantKind = ParticipantKind.STANDARD
    """Standard, agent, SIP, egress, ingress, ...: who (or what) this participant is."""

    @property
    def agent_state(self) -> str:
        """The `lk.agent.state` attribute ("" when absent): what an agent is doing."""
        return self.attributes.get(AGENT_STATE_ATTRIBUTE, "")


@dataclass(frozen=True, slots=True)
class PublishedDataTrack:
    """A data track someone in the room publishes."""

    publisher: str
    """The publisher's identity."""
    name: str
    """The name the publisher gave it (unique per publisher)."""
    sid: str
    """Server-assigned id (changes on a reconnect; `name` does not)."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole room as the SDK sees it; replaces the model's content (after join and after a reconnect)."""

    room: str
    room_metadata: str
    participants: tuple[ParticipantInfo, ...]
    at: float


@dataclass(frozen=True, slots=True)
class ParticipantJoined:
    """A participant connected (or was present when we joined)."""

    participant: ParticipantInfo
    at: float


@dataclass(frozen=True, slots=True)
class ParticipantLeft:
    """A participant disconnected."""

    identity: str
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class ParticipantActive:
    """The server reports the participant fully connected."""

    identity: str
    at: float


@dataclass(frozen=True, slots=True)
class AttributesChanged:
    """Some attribute keys changed; `changed` has the new values (`""` means deleted), `attributes` all of them."""

    identity: str
    changed: Mapping[str, str]
    attributes: Mapping[str, str]
    at: float


@dataclass(frozen=True, slots=True)
class MetadataChanged:
    """A participant's metadata changed."""

    identity: str
    old: str
    new: str
    at: float


@dataclass(frozen=True, slots=True)
class NameChanged:
    """A participant's display name changed."""

    identity: str
    old: str
    new: str
    at: float


@dataclass(frozen=True, slots=True)
class RoomMetadataChanged:
    """The room's metadata changed (set through the server API)."""

    old: str
    new: str
    at: float


@dataclass(frozen=True, slots=True)
class ConnectionChanged:
    """The session's connection changed state; `reason` says why it disconnected, when it did."""

    status: ConnectionStatus
    at: float
    reason: str = ""
    gap: float | None = None
    """For CONNECTED after a rejoin: seconds without a connection (what happened meanwhile came by a snapshot)."""


@dataclass(frozen=True, slots=True)
class Message:
    """One received (or, with `sent=True`, sent) data message.

    Example::

        async for msg in session.messages(topic="chat"):
            print(msg.sender, msg.text)
    """

    sender: str | None
    """Sender identity, or None when the packet came without one. The SDK names a data packet's sender only when
    it already knows the participant, so None means one of three sources nothing in the packet tells apart: a
    participant the session has not been told of yet (a peer without media tracks is announced on the server's
    ~3 s tick), the server API's `send_data`, or a hidden participant. See `sender_candidates`."""
    topic: str
    """Topic as given by the sender ("" when none)."""
    kind: DataKind
    """Reliable or lossy."""
    payload: bytes = field(repr=False)
    """The raw bytes."""
    received_at: float
    """Unix time at arrival (or at sending for sent messages)."""
    destinations: tuple[str, ...] = ()
    """For sent messages: the identities it was addressed to (empty: the whole room)."""
    sent: bool = False
    """True for messages this session sent (kept for logs), False for received ones."""
    sender_candidates: tuple[str, ...] | None = None
    """When `sender` is None: the participants the server listed (its `ListParticipants`, asked right after the
    message arrived) that this session had not been told of at arrival, sorted; `()` when there were none (then
    the server API or a hidden participant sent it: the server lists no hidden participant, so a hidden sender is
    never a candidate). None when not looked up: a known sender, a session without API credentials, a lookup not
    finished yet (`on_message` callbacks and `messages()` get the message at arrival, before it; `inbox` and
    `messages_frame()` show it resolved) or failed (see `session.errors`)."""

    @property
    def size(self) -> int:
        """Payload size in bytes."""
        return len(self.payload)

    @property
    def text(self) -> str | None:
        """The payload as UTF-8 text, or None if it is not valid UTF-8."""
        try:
            return self.payload.decode("utf-8")
        except UnicodeDecodeError:
            return None


class StreamState(str, enum.Enum):
    """Where an incoming (or outgoing) text or byte stream is."""

    STARTED = "started"
    FINISHED = "finished"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class StreamRecord:
    """One text or byte stream, as known at `updated_at` (a new record replaces it as chunks arrive).

    Example::

        session.on_stream(lambda r: print(r.topic, r.state.value, r.received, r.size))
    """

    stream_id: str
    """The sender's stream id (also on the other side)."""
    sender: str
    """Sender identity (the stream header carries it, even for a participant not yet announced)."""
    topic: str
    """Topic as given by the sender ("" when none)."""
    is_text: bool
    """True for a text stream, False for a byte stream."""
    name: str
    """File name of a byte stream ("" for text)."""
    mime_type: str
    """MIME type the sender announced."""
    size: int | None
    """Total size the sender announced, if it did."""
    attributes: Mapping[str, str]
    """Stream attributes (header, plus the trailer's once finished)."""
    received: int
    """Bytes received (or sent) so far."""
    state: StreamState
    started_at: float
    """Unix time the header arrived (or the first write)."""
    updated_at: float
    """Unix time of the last chunk or of the end."""
    text: str | None = field(default=None, repr=False)
    """Text streams: the text, up to the router's `text_limit` characters."""
    truncated: bool = False
    """True when `text` was cut at the limit."""
    sha256: str = ""
    """Byte streams: hex sha256 of every byte received (set when finished)."""
    head: bytes = field(default=b"", repr=False)
    """Byte streams: the first bytes (up to the router's `head_bytes`)."""
    saved_to: str = ""
    """Byte streams: the file they were saved to, when the session keeps them."""
    error: str = ""
    """Why an aborted stream ended."""
    destinations: tuple[str, ...] = ()
    """For sent streams: the identities it was addressed to (empty: the whole room)."""
    sent: bool = False
    """True for streams this session sent."""

    @property
    def progress(self) -> float | None:
        """Fraction received, when the size was announced."""
        return None if not self.size else min(1.0, self.received / self.size)

    @property
    def goodput(self) -> float:
        """Payload bytes per second from the header to the last chunk (0 until there is a duration)."""
        elapsed = self.updated_at - self.started_at
        return self.received / elapsed if elapsed > 0 else 0.0


@dataclass(frozen=True, slots=True)
class RpcRecord:
    """One RPC call, made by this session (`outgoing`) or to it; a finished record replaces the pending one.

    Example::

        session.on_rpc(lambda r: print(r.method, r.caller, "->", r.callee, r.response, r.error_code, r.latency))
    """

    call_id: int
    """This session's own number for the call (the SDK does not hand out the request id on the caller's side)."""
    outgoing: bool
    """True when this session called, False when it answered."""
    method: str
    caller: str
    callee: str
    payload: str = field(repr=False)
    """The request payload (kept up to the router's `text_limit`)."""
    started_at: float
    response: str | None = field(default=None, repr=False)
    """The response payload once answered (bounded like `payload`)."""
    error_code: int | None = None
    """LiveKit's RPC error code (1400 unsupported method, 1500 application error, 1502 timeout...)."""
    error: str = ""
    """The error message, when it failed."""
    finished_at: float | None = None
    """Unix time of the answer (None while pending)."""

    @property
    def latency(self) -> float | None:
        """Seconds from the call to its answer (round trip for outgoing calls)."""
        return None if self.finished_at is None else self.finished_at - self.started_at

    @property
    def pending(self) -> bool:
        return self.finished_at is None


Event = (
    Snapshot
    | ParticipantJoined
    | ParticipantLeft
    | ParticipantActive
    | AttributesChanged
    | MetadataChanged
    | NameChanged
    | RoomMetadataChanged
    | ConnectionChanged
)
"""Every event that changes the room model (messages are not state and do not appear here)."""
