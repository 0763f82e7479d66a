"""What a recording holds besides room state: packets, streams, RPC, data-track statistics, agent messages, the
server's participant lists and webhooks. For each: its wire format (the `body` column, each key written once: a
TypedDict, or the record's own fields where the body is just those), its encoder (bounded: payloads and texts are cut
at the journal's limits, with size and sha256 of the whole) and the frozen dataclass the reader hands out.

Pure: no I/O.
"""

from __future__ import annotations

import dataclasses
import enum
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


class AgentMessageWire(TypedDict):
    sender: str
    topic: str
    size: int
    sha256: str


class ServerParticipantsWire(TypedDict):
    room: str
    participants: list[ParticipantWire]


_Fielded = StreamRecord | RpcRecord | DataTrackStats | WebhookRecord
"""The records whose body is their own fields (`_wire`)."""

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


def _wire(record: _Fielded, *, omit: str = "", **override: Any) -> dict[str, Any]:
    """A record as its `body`: the dataclass's field names are the keys (so each is written once, there), enums go by
    value, mappings as dicts, tuples as lists; `override` replaces fields, `omit` leaves one out (kept as data)."""
    body: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        if f.name == omit:
            continue
        value = override[f.name] if f.name in override else getattr(record, f.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, Mapping):
            value = dict(value)
        elif isinstance(value, tuple):
            value = list(value)
        body[f.name] = value
    return body


def encode_stream(r: StreamRecord, *, text_limit: int, data: bytes | None) -> Encoded:
    text, cut = _cut(r.text, text_limit)
    return "stream", _wire(r, omit="head", text=text, truncated=r.truncated or cut), data


def encode_rpc(r: RpcRecord, *, text_limit: int) -> Encoded:
    payload = _cut(r.payload, text_limit)[0] or ""
    return "rpc", _wire(r, payload=payload, response=_cut(r.response, text_limit)[0]), None


def encode_datatrack_stats(publisher: str, track: str, stats: Mapping[str, StatValue]) -> Encoded:
    return "datatrack_stats", _wire(DataTrackStats(publisher, track, stats)), None


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
    return "webhook", _wire(record, omit="body"), record.body.encode()


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
        typed = {"attributes": frozen_map(w["attributes"]), "state": StreamState(w["state"])}
        return StreamRecord(**{**w, **typed, "destinations": tuple(w["destinations"]), "head": blob})
    if kind == "rpc":
        return RpcRecord(**w)
    if kind == "datatrack_stats":
        return DataTrackStats(**w)
    if kind == "agent_message":
        return AgentMessage(w["sender"], w["topic"], blob, w["size"], w["sha256"])
    if kind == "server_participants":
        return ServerParticipants(w["room"], tuple(decode_participant(p) for p in w["participants"]))
    if kind == "webhook":
        return WebhookRecord(**w, body=blob.decode())
    raise ValueError(f"unknown record kind {kind!r}")
