"""What a recording holds besides room state: packets, streams, RPC, data-track statistics, agent messages, the
server's participant lists and webhooks. For each: its wire TypedDict (the `body` column, each key written once),
its encoder (bounded: payloads and texts are cut at the journal's limits, with size and sha256 of the whole) and
the frozen dataclass the reader hands out.

Pure: no I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypedDict

from ..events import DataKind, Event, Message, ParticipantInfo, RpcRecord, StreamRecord, StreamState, frozen_map
from .wire import ParticipantWire, decode_participant, encode_participant

__all__ = [
    "AgentMessage",
    "DataTrackStats",
    "Entry",
    "RecordedPacket",
    "ServerParticipants",
    "WebhookRecord",
    "decode_entry",
]

StatValue = float | int | str | bool | None


@dataclass(frozen=True, slots=True)
class RecordedPacket:
    """A data packet as recorded: the payload up to the journal's bound, with the size and sha256 of all of it."""

    sender: str | None
    """As `Message.sender`: None for a packet that came without one (its `sender_candidates` are not recorded: the
    journal writes the packet at arrival, before the session's look-up)."""
    topic: str
    kind: DataKind
    payload: bytes = field(repr=False)
    """The first `payload_limit` bytes (all of them unless `truncated`)."""
    size: int
    sha256: str
    """Hex sha256 of the whole payload."""
    truncated: bool
    sent: bool
    destinations: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DataTrackStats:
    """One reading of a data-track subscription's counters (`lk_notebook.datatracks.TrackStats` as a mapping)."""

    publisher: str
    track: str
    stats: Mapping[str, StatValue]


@dataclass(frozen=True, slots=True)
class AgentMessage:
    """An agent session message, kept opaque for now: its topic and bytes."""

    sender: str
    topic: str
    payload: bytes = field(repr=False)
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class ServerParticipants:
    """The server's `list_participants` answer at one moment."""

    room: str
    participants: tuple[ParticipantInfo, ...]


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    """One verified webhook: its event name (e.g. `participant_joined`), id and protojson body."""

    event: str
    id: str
    room: str
    participant: str
    """The identity the event is about ("" when none)."""
    body: str = field(repr=False)


Value = (
    Event
    | RecordedPacket
    | StreamRecord
    | RpcRecord
    | DataTrackStats
    | AgentMessage
    | ServerParticipants
    | WebhookRecord
)


@dataclass(frozen=True, slots=True)
class Entry:
    """One record of a recording, in journal order."""

    seq: int
    at: float
    """Local receive time (Unix seconds); never decreases along the journal."""
    server_at: float | None
    """The server's time of the event (a webhook's `created_at`, a participant's join time), when it has one."""
    kind: str
    value: Value


class PacketWire(TypedDict):
    sender: str | None
    topic: str
    kind: str
    size: int
    sha256: str
    truncated: bool
    sent: bool
    destinations: list[str]


class StreamWire(TypedDict):
    stream_id: str
    sender: str
    topic: str
    is_text: bool
    name: str
    mime_type: str
    size: int | None
    attributes: dict[str, str]
    received: int
    state: str
    started_at: float
    updated_at: float
    text: str | None
    truncated: bool
    sha256: str
    saved_to: str
    error: str
    destinations: list[str]
    sent: bool


class RpcWire(TypedDict):
    call_id: int
    outgoing: bool
    method: str
    caller: str
    callee: str
    payload: str
    started_at: float
    response: str | None
    error_code: int | None
    error: str
    finished_at: float | None


class DataTrackStatsWire(TypedDict):
    publisher: str
    track: str
    stats: dict[str, StatValue]


class AgentMessageWire(TypedDict):
    sender: str
    topic: str
    size: int
    sha256: str


class ServerParticipantsWire(TypedDict):
    room: str
    participants: list[ParticipantWire]


class WebhookWire(TypedDict):
    event: str
    id: str
    room: str
    participant: str


Encoded = tuple[str, dict[str, Any], bytes | None]
"""(record kind, body dict, data bytes or None)."""


def encode_packet(m: Message, *, limit: int) -> Encoded:
    w: PacketWire = {
        "sender": m.sender,
        "topic": m.topic,
        "kind": m.kind.value,
        "size": len(m.payload),
        "sha256": hashlib.sha256(m.payload).hexdigest(),
        "truncated": len(m.payload) > limit,
        "sent": m.sent,
        "destinations": list(m.destinations),
    }
    return "packet", dict(w), m.payload[:limit]


def _cut(text: str | None, limit: int) -> tuple[str | None, bool]:
    if text is None or len(text) <= limit:
        return text, False
    return text[:limit], True


def encode_stream(r: StreamRecord, *, text_limit: int, data: bytes | None) -> Encoded:
    text, cut = _cut(r.text, text_limit)
    w: StreamWire = {
        "stream_id": r.stream_id,
        "sender": r.sender,
        "topic": r.topic,
        "is_text": r.is_text,
        "name": r.name,
        "mime_type": r.mime_type,
        "size": r.size,
        "attributes": dict(r.attributes),
        "received": r.received,
        "state": r.state.value,
        "started_at": r.started_at,
        "updated_at": r.updated_at,
        "text": text,
        "truncated": r.truncated or cut,
        "sha256": r.sha256,
        "saved_to": r.saved_to,
        "error": r.error,
        "destinations": list(r.destinations),
        "sent": r.sent,
    }
    return "stream", dict(w), data


def encode_rpc(r: RpcRecord, *, text_limit: int) -> Encoded:
    w: RpcWire = {
        "call_id": r.call_id,
        "outgoing": r.outgoing,
        "method": r.method,
        "caller": r.caller,
        "callee": r.callee,
        "payload": _cut(r.payload, text_limit)[0] or "",
        "started_at": r.started_at,
        "response": _cut(r.response, text_limit)[0],
        "error_code": r.error_code,
        "error": r.error,
        "finished_at": r.finished_at,
    }
    return "rpc", dict(w), None


def encode_datatrack_stats(publisher: str, track: str, stats: Mapping[str, StatValue]) -> Encoded:
    w: DataTrackStatsWire = {"publisher": publisher, "track": track, "stats": dict(stats)}
    return "datatrack_stats", dict(w), None


def encode_agent_message(sender: str, topic: str, payload: bytes, *, limit: int) -> Encoded:
    w: AgentMessageWire = {
        "sender": sender,
        "topic": topic,
        "size": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
    }
    return "agent_message", dict(w), payload[:limit]


def encode_server_participants(room: str, participants: tuple[ParticipantInfo, ...]) -> Encoded:
    w: ServerParticipantsWire = {"room": room, "participants": [encode_participant(p) for p in participants]}
    return "server_participants", dict(w), None


def encode_webhook(record: WebhookRecord) -> Encoded:
    w: WebhookWire = {
        "event": record.event,
        "id": record.id,
        "room": record.room,
        "participant": record.participant,
    }
    return "webhook", dict(w), record.body.encode()


def decode_entry(kind: str, body: str, data: bytes | None) -> Value:
    """The value of one non-state record."""
    w = json.loads(body)
    blob = data or b""
    if kind == "packet":
        return RecordedPacket(
            w["sender"], w["topic"], DataKind(w["kind"]), blob, w["size"], w["sha256"], w["truncated"], w["sent"],
            tuple(w["destinations"]),
        )  # fmt: skip
    if kind == "stream":
        return StreamRecord(
            w["stream_id"], w["sender"], w["topic"], w["is_text"], w["name"], w["mime_type"], w["size"],
            frozen_map(w["attributes"]), w["received"], StreamState(w["state"]), w["started_at"], w["updated_at"],
            text=w["text"], truncated=w["truncated"], sha256=w["sha256"], head=blob, saved_to=w["saved_to"],
            error=w["error"], destinations=tuple(w["destinations"]), sent=w["sent"],
        )  # fmt: skip
    if kind == "rpc":
        return RpcRecord(**w)
    if kind == "datatrack_stats":
        return DataTrackStats(w["publisher"], w["track"], w["stats"])
    if kind == "agent_message":
        return AgentMessage(w["sender"], w["topic"], blob, w["size"], w["sha256"])
    if kind == "server_participants":
        return ServerParticipants(w["room"], tuple(decode_participant(p) for p in w["participants"]))
    if kind == "webhook":
        return WebhookRecord(w["event"], w["id"], w["room"], w["participant"], blob.decode())
    raise ValueError(f"unknown record kind {kind!r}")
