"""The wire format of a recording's room-state records: one TypedDict per record kind, each key written once.

A record's `body` column is compact JSON of one of these dicts; bytes that are not text (packet payloads, kept
stream bytes, webhook bodies) go to the `data` column instead, so they are not base64-inflated. The record kinds of
things that are not room state (packets, streams, RPC, webhooks...) are declared in `entries.py`.

Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from types import MappingProxyType
from typing import Any, TypedDict

from .. import events as ev
from ..state import RoomState

__all__ = [
    "STATE_KINDS",
    "ParticipantWire",
    "RoomStateWire",
    "decode_event",
    "decode_participant",
    "dumps",
    "encode_event",
    "encode_participant",
    "encode_room_state",
    "restore_room_state",
]


# One encoder for every call: `json.dumps` with non-default options builds a JSONEncoder per call (measured 25 % of
# the cost of encoding a packet's body, which the journal does for every record).
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(value: object) -> str:
    """Compact JSON (no spaces, UTF-8 kept as is): the one encoder of every body."""
    return _ENCODER.encode(value)


class ParticipantWire(TypedDict):
    identity: str
    sid: str
    name: str
    metadata: str
    attributes: dict[str, str]
    is_local: bool
    active: bool
    joined_at: float | None
    kind: str


class SnapshotWire(TypedDict):
    room: str
    room_metadata: str
    participants: list[ParticipantWire]
    at: float


class JoinedWire(TypedDict):
    participant: ParticipantWire
    at: float


class LeftWire(TypedDict):
    identity: str
    reason: str
    at: float


class ActiveWire(TypedDict):
    identity: str
    at: float


class AttributesWire(TypedDict):
    identity: str
    changed: dict[str, str]
    attributes: dict[str, str]
    at: float


class ChangeWire(TypedDict):
    """Metadata and name changes."""

    identity: str
    old: str
    new: str
    at: float


class RoomMetadataWire(TypedDict):
    old: str
    new: str
    at: float


class ConnectionWire(TypedDict):
    status: str
    at: float
    reason: str
    gap: float | None


class RoomStateWire(TypedDict):
    """A whole RoomState, stored in the `snapshots` table so that `state_at` replays from near `t`."""

    room: str
    room_metadata: str
    status: str
    disconnect_reason: str
    participants: list[ParticipantWire]


def encode_participant(p: ev.ParticipantInfo) -> ParticipantWire:
    return {
        "identity": p.identity,
        "sid": p.sid,
        "name": p.name,
        "metadata": p.metadata,
        "attributes": dict(p.attributes),
        "is_local": p.is_local,
        "active": p.active,
        "joined_at": p.joined_at,
        "kind": p.kind.value,
    }


def decode_participant(w: ParticipantWire) -> ev.ParticipantInfo:
    return ev.ParticipantInfo(
        w["identity"],
        w["sid"],
        w["name"],
        w["metadata"],
        MappingProxyType(w["attributes"]),
        w["is_local"],
        w["active"],
        w["joined_at"],
        ev.ParticipantKind(w["kind"]),
    )


def encode_event(event: ev.Event) -> tuple[str, dict[str, Any]]:
    """(record kind, wire dict) of a room-state event."""
    if isinstance(event, ev.AttributesChanged):
        a: AttributesWire = {
            "identity": event.identity,
            "changed": dict(event.changed),
            "attributes": dict(event.attributes),
            "at": event.at,
        }
        return "attributes", dict(a)
    if isinstance(event, ev.ParticipantJoined):
        j: JoinedWire = {"participant": encode_participant(event.participant), "at": event.at}
        return "joined", dict(j)
    if isinstance(event, ev.ParticipantLeft):
        lw: LeftWire = {"identity": event.identity, "reason": event.reason, "at": event.at}
        return "left", dict(lw)
    if isinstance(event, ev.ParticipantActive):
        aw: ActiveWire = {"identity": event.identity, "at": event.at}
        return "active", dict(aw)
    if isinstance(event, ev.MetadataChanged | ev.NameChanged):
        c: ChangeWire = {"identity": event.identity, "old": event.old, "new": event.new, "at": event.at}
        return ("metadata" if isinstance(event, ev.MetadataChanged) else "name"), dict(c)
    if isinstance(event, ev.RoomMetadataChanged):
        r: RoomMetadataWire = {"old": event.old, "new": event.new, "at": event.at}
        return "room_metadata", dict(r)
    if isinstance(event, ev.ConnectionChanged):
        cw: ConnectionWire = {"status": event.status.value, "at": event.at, "reason": event.reason, "gap": event.gap}
        return "connection", dict(cw)
    if isinstance(event, ev.Snapshot):
        s: SnapshotWire = {
            "room": event.room,
            "room_metadata": event.room_metadata,
            "participants": [encode_participant(p) for p in event.participants],
            "at": event.at,
        }
        return "snapshot", dict(s)
    raise TypeError(f"not a room-state event: {type(event).__name__}")  # pragma: no cover - the union is closed


# Decoders by kind: a dict lookup, not an isinstance chain, because replay decodes >= 200k records/s.
_DECODERS: dict[str, Callable[[Any], ev.Event]] = {
    # json.loads made these dicts and nothing else holds them: a read-only view is as safe as frozen_map's copy.
    "attributes": lambda w: ev.AttributesChanged(
        w["identity"], MappingProxyType(w["changed"]), MappingProxyType(w["attributes"]), w["at"]
    ),
    "joined": lambda w: ev.ParticipantJoined(decode_participant(w["participant"]), w["at"]),
    "left": lambda w: ev.ParticipantLeft(w["identity"], w["reason"], w["at"]),
    "active": lambda w: ev.ParticipantActive(w["identity"], w["at"]),
    "metadata": lambda w: ev.MetadataChanged(w["identity"], w["old"], w["new"], w["at"]),
    "name": lambda w: ev.NameChanged(w["identity"], w["old"], w["new"], w["at"]),
    "room_metadata": lambda w: ev.RoomMetadataChanged(w["old"], w["new"], w["at"]),
    "connection": lambda w: ev.ConnectionChanged(ev.ConnectionStatus(w["status"]), w["at"], w["reason"], w["gap"]),
    "snapshot": lambda w: ev.Snapshot(
        w["room"], w["room_metadata"], tuple(decode_participant(p) for p in w["participants"]), w["at"]
    ),
}

STATE_KINDS: tuple[str, ...] = tuple(_DECODERS)
"""The record kinds that are room-state events (what `state_at` and replay apply)."""


def decode_event(kind: str, body: str) -> ev.Event:
    """The room-state event of one record (`kind` one of STATE_KINDS)."""
    return _DECODERS[kind](json.loads(body))


def encode_room_state(state: RoomState) -> RoomStateWire:
    return {
        "room": state.room,
        "room_metadata": state.room_metadata,
        "status": state.status.value,
        "disconnect_reason": state.disconnect_reason,
        "participants": [encode_participant(p) for p in state.participants.values()],
    }


def restore_room_state(w: RoomStateWire, *, at: float, history_limit: int = 10_000) -> RoomState:
    """A RoomState equal to the stored one in room, room metadata, participants, status and disconnect reason.

    Built through `apply` (RoomState has no other way in), so its `history` starts with the restoring changes and
    its `version` counts them: compare states by content, not by version.
    """
    state = RoomState(w["room"], history_limit=history_limit)
    participants = tuple(decode_participant(p) for p in w["participants"])
    state.apply(ev.Snapshot(w["room"], w["room_metadata"], participants, at))
    status = ev.ConnectionStatus(w["status"])
    reason = w["disconnect_reason"]
    if reason:
        # disconnect_reason outlives a reconnect, and only a DISCONNECTED event sets it.
        state.apply(ev.ConnectionChanged(ev.ConnectionStatus.DISCONNECTED, at, reason))
    if status is not state.status:
        state.apply(ev.ConnectionChanged(status, at))
    return state
