"""LiveKit's data limits, and the pure checks that apply them before anything is sent.

Numbers from LiveKit's code (livekit-facts.md), not only its docs:
- the Rust SDK (the core of the Python SDK) refuses an encoded data packet over 64000 bytes;
- the docs advise <= 15 KiB for reliable and ~1300 B for lossy messages (one datagram under a 1400 MTU);
- the server's default limits: 64 KiB of attributes (keys plus values, UTF-8), 512 KiB of metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from livekit.protocol import models

from .errors import InvalidInputError, TooLargeError

__all__ = [
    "LOSSY_ADVISED_BYTES",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_METADATA_BYTES",
    "RELIABLE_ADVISED_BYTES",
    "SDK_MAX_PACKET_BYTES",
    "Payload",
    "attributes_size",
    "check_attributes",
    "check_metadata",
    "encode_payload",
    "merged_attributes",
    "packet_size",
]

SDK_MAX_PACKET_BYTES = 64_000
RELIABLE_ADVISED_BYTES = 15 * 1024
LOSSY_ADVISED_BYTES = 1300
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_METADATA_BYTES = 512 * 1024

Payload = str | bytes | bytearray | memoryview | Mapping[str, Any] | Sequence[Any]


def encode_payload(payload: Payload) -> bytes:
    """str -> UTF-8; bytes-like -> bytes; dict or list -> compact JSON. Anything else is an InvalidInputError."""
    if isinstance(payload, str):
        return payload.encode("utf-8")
    if isinstance(payload, bytes | bytearray | memoryview):
        return bytes(payload)
    if isinstance(payload, Mapping | list | tuple):
        try:
            return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"payload is not JSON-serialisable: {exc}") from exc
    raise InvalidInputError(
        f"payload must be str, bytes or a JSON-serialisable dict/list, not {type(payload).__name__}"
    )


def packet_size(payload: bytes, *, topic: str = "", destinations: Sequence[str] = (), identity: str = "") -> int:
    """Upper bound of the data packet the SDK encodes for this message (what its 64000-byte limit applies to).

    The SDK also fills in the sender's sid (in two places) and a sequence number we cannot see in advance, so
    those are counted at their widest: the result is never below the SDK's figure, and measured to be at most
    ~25 bytes above it (tests/test_data.py finds the SDK's real boundary).
    """
    sid = "PA_" + "x" * 12
    user = models.UserPacket(
        payload=payload,
        topic=topic,
        destination_identities=list(destinations),
        participant_identity=identity,
        participant_sid=sid,
    )
    packet = models.DataPacket(
        kind=models.DataPacket.Kind.LOSSY,  # non-zero, so it is encoded (RELIABLE=0 is not)
        user=user,
        participant_identity=identity,
        participant_sid=sid,
        destination_identities=list(destinations),
        sequence=2**32 - 1,
    )
    return packet.ByteSize()


def attributes_size(attributes: Mapping[str, str]) -> int:
    """Bytes the server counts against its attribute limit: UTF-8 keys plus values."""
    return sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in attributes.items())


def merged_attributes(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """The attribute set after applying `changes` (value "" deletes the key), as the server computes it."""
    out = dict(current)
    for key, value in changes.items():
        if value == "":
            out.pop(key, None)
        else:
            out[key] = value
    return out


def check_attributes(
    current: Mapping[str, str], changes: object, *, limit: int = MAX_ATTRIBUTES_BYTES
) -> dict[str, str]:
    """Validate an attribute update; returns it as a plain dict. Raises InvalidInputError / TooLargeError."""
    if not isinstance(changes, Mapping):
        raise InvalidInputError(f"attributes must be a dict of str to str, not {type(changes).__name__}")
    clean: dict[str, str] = {}
    for key, value in changes.items():
        if not isinstance(key, str) or not key:
            raise InvalidInputError(f"attribute keys must be non-empty strings; got {key!r}")
        if not isinstance(value, str):
            raise InvalidInputError(
                f"attribute {key!r} has a {type(value).__name__} value; LiveKit attributes are strings. "
                f"Use str(value) or json.dumps(value)."
            )
        clean[key] = value
    size = attributes_size(merged_attributes(current, clean))
    if size > limit:
        raise TooLargeError(
            f"attributes would total {size} bytes (keys plus values), over the server's {limit}-byte limit. "
            f'Delete keys (value "") or keep large data in metadata or a data message.',
            size=size,
            limit=limit,
            what="attributes",
        )
    return clean


def check_metadata(metadata: object, *, limit: int = MAX_METADATA_BYTES) -> str:
    """Validate a metadata string. Raises InvalidInputError / TooLargeError."""
    if not isinstance(metadata, str):
        raise InvalidInputError(
            f"metadata must be a str, not {type(metadata).__name__}; use json.dumps(...) for structured data."
        )
    size = len(metadata.encode("utf-8"))
    if size > limit:
        raise TooLargeError(
            f"metadata is {size} bytes, over the server's {limit}-byte limit.",
            size=size,
            limit=limit,
            what="metadata",
        )
    return metadata
