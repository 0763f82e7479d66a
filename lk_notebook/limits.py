"""LiveKit's data limits, and the pure checks that apply them before anything is sent.

Numbers from LiveKit's code (livekit-facts.md), not only its docs:
- the Rust SDK (the core of the Python SDK) refuses an encoded data packet over 64000 bytes;
- the docs advise <= 15 KiB for reliable and ~1300 B for lossy messages (one datagram under a 1400 MTU);
- the server's default limits: 64 KiB of attributes (keys plus values, UTF-8), 512 KiB of metadata;
- RPC: LiveKit's docs give 15 KiB per request and per response, and SDKs with the first RPC protocol refuse more
  (1402 / 1504). Measured here, `livekit` 1.2.1 and `livekit-client` 2.23 accept far more (20 MB between Python
  peers, 100 KB each way with the JS SDK; notebook 07): they no longer have that limit. `lk_notebook` keeps 15 KiB
  as its default (`Session.rpc_payload_limit`), the size every SDK accepts; raise it when all peers are recent.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livekit.protocol import models

from .errors import InvalidInputError, MissingFileError, SizeWarning, TooLargeError, UnknownDestinationWarning

__all__ = [
    "LOSSY_ADVISED_BYTES",
    "MAX_ATTRIBUTES_BYTES",
    "MAX_METADATA_BYTES",
    "RELIABLE_ADVISED_BYTES",
    "RPC_MAX_PAYLOAD_BYTES",
    "SDK_MAX_PACKET_BYTES",
    "Payload",
    "PublishCheck",
    "attributes_size",
    "check_attributes",
    "check_destinations",
    "check_file",
    "check_metadata",
    "check_publish",
    "check_rpc",
    "check_stream",
    "encode_payload",
    "merged_attributes",
    "packet_size",
    "unknown_destinations",
]

SDK_MAX_PACKET_BYTES = 64_000
RELIABLE_ADVISED_BYTES = 15 * 1024
LOSSY_ADVISED_BYTES = 1300
MAX_ATTRIBUTES_BYTES = 64 * 1024
MAX_METADATA_BYTES = 512 * 1024
RPC_MAX_PAYLOAD_BYTES = 15 * 1024

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
    _within(
        size,
        limit,
        "attributes",
        f"attributes would total {size} bytes (keys plus values), over the server's {limit}-byte limit. "
        f'Delete keys (value "") or keep large data in metadata or a data message.',
    )
    return clean


def check_metadata(metadata: object, *, limit: int = MAX_METADATA_BYTES) -> str:
    """Validate a metadata string. Raises InvalidInputError / TooLargeError."""
    if not isinstance(metadata, str):
        raise InvalidInputError(
            f"metadata must be a str, not {type(metadata).__name__}; use json.dumps(...) for structured data."
        )
    size = len(metadata.encode("utf-8"))
    _within(size, limit, "metadata", f"metadata is {size} bytes, over the server's {limit}-byte limit.")
    return metadata


def check_destinations(destinations: object) -> tuple[str, ...]:
    """Destination identities as a tuple (None or empty: the whole room). Raises InvalidInputError."""
    if destinations is None:
        return ()
    if isinstance(destinations, str):
        raise InvalidInputError("destinations must be a list of identities, not a single string")
    if not isinstance(destinations, Iterable) or isinstance(destinations, bytes):
        raise InvalidInputError(f"destinations must be a list of identities, not {type(destinations).__name__}")
    dests = tuple(destinations)
    for d in dests:
        if not isinstance(d, str) or not d:
            raise InvalidInputError(f"destination identities must be non-empty strings; got {d!r}")
    return dests


def unknown_destinations(
    destinations: Sequence[str], present: Container[str], *, room: str
) -> UnknownDestinationWarning | None:
    """The warning for destinations not in the room now (the server drops their data silently), or None."""
    unknown = [d for d in destinations if d not in present]
    if not unknown:
        return None
    return UnknownDestinationWarning(
        f"{', '.join(map(repr, unknown))} not in room {room!r} now; the server drops data for absent identities "
        f"without telling anyone."
    )


@dataclass(frozen=True)
class PublishCheck:
    """What `check_publish` found about one data message: its sizes against the limits of its mode."""

    size: int
    """Payload bytes."""
    packet: int
    """Upper bound of the encoded packet (what the SDK's 64000-byte limit applies to)."""
    reliable: bool
    topic: str
    destinations: tuple[str, ...]
    """Empty: the whole room."""

    @property
    def mode(self) -> str:
        return "reliable" if self.reliable else "lossy"

    @property
    def advised(self) -> int:
        """LiveKit's advised largest payload for this mode."""
        return RELIABLE_ADVISED_BYTES if self.reliable else LOSSY_ADVISED_BYTES

    def too_large(self) -> TooLargeError | None:
        """The error when the SDK would refuse the packet, else None."""
        if self.packet <= SDK_MAX_PACKET_BYTES:
            return None
        return TooLargeError(
            f"{self.mode} message of {self.size} bytes encodes to {self.packet} bytes, over the SDK's "
            f"{SDK_MAX_PACKET_BYTES}-byte limit; nothing was sent. Split it, or use a data stream "
            f"(`await session.send_bytes(data, topic=...)` or `session.send_text(...)`), which chunks large payloads.",
            size=self.packet,
            limit=SDK_MAX_PACKET_BYTES,
            what=f"{self.mode} message",
        )

    def over_advice(self) -> SizeWarning | None:
        """The warning when the payload is over LiveKit's advice for its mode, else None."""
        if self.size <= self.advised:
            return None
        why = (
            "large reliable messages delay every message behind them (head-of-line blocking)"
            if self.reliable
            else "a lossy message spread over several datagrams is lost if any one of them is"
        )
        return SizeWarning(
            f"{self.mode} message of {self.size} bytes is over LiveKit's advice of {self.advised}: {why}."
        )


def check_publish(
    data: bytes, *, reliable: bool = True, topic: object = None, destinations: object = None, identity: str = ""
) -> PublishCheck:
    """The one check of a data message (for `Session.publish` and the Composer's meter): topic and destinations
    validated (InvalidInputError), sizes measured. Raises nothing for size: see `too_large()`, `over_advice()`."""
    if topic is not None and not isinstance(topic, str):
        raise InvalidInputError(f"topic must be a string, not {type(topic).__name__}")
    dests = check_destinations(destinations)
    top = topic or ""
    packet = packet_size(data, topic=top, destinations=dests, identity=identity)
    return PublishCheck(size=len(data), packet=packet, reliable=reliable, topic=top, destinations=dests)


def check_stream(topic: object, attributes: object) -> dict[str, str]:
    """Validate a stream's topic and attributes; returns the attributes as a plain dict."""
    if not isinstance(topic, str):
        raise InvalidInputError(f"topic must be a string, not {type(topic).__name__}")
    if attributes is None:
        return {}
    return check_attributes({}, attributes)


def check_rpc(destination: object, method: object, payload: object, *, limit: int = RPC_MAX_PAYLOAD_BYTES) -> str:
    """Validate an RPC call before it is made; returns the payload. Raises InvalidInputError / TooLargeError."""
    if not isinstance(destination, str) or not destination:
        raise InvalidInputError(f"the RPC destination must be a participant identity, not {destination!r}")
    if not isinstance(method, str) or not method:
        raise InvalidInputError(f"the RPC method must be a non-empty string, not {method!r}")
    if not isinstance(payload, str):
        raise InvalidInputError(
            f"an RPC payload is a str, not {type(payload).__name__}; use json.dumps(...) for structured data"
        )
    size = len(payload.encode("utf-8"))
    _within(
        size,
        limit,
        "RPC payload",
        f"RPC payload of {size} bytes is over the {limit}-byte limit (LiveKit's documented 15 KiB unless raised "
        f"with session.rpc_payload_limit; SDKs with the first RPC protocol refuse more with error 1402); nothing "
        f"was sent. Send large data as a byte stream and pass its stream id, or raise the limit if every peer "
        f"runs a recent SDK.",
    )
    return payload


def _within(size: int, limit: int, what: str, message: str) -> None:
    if size > limit:
        raise TooLargeError(message, size=size, limit=limit, what=what)


def check_file(path: object) -> Path:
    """A file to send: it must exist and be a regular file. Raises InvalidInputError / MissingFileError."""
    if not isinstance(path, str | Path):
        raise InvalidInputError(f"a file path must be a str or Path, not {type(path).__name__}")
    p = Path(path).expanduser()
    if not p.is_file():
        why = "is a directory" if p.is_dir() else "does not exist"
        raise MissingFileError(f"cannot send {str(p)!r}: it {why}; nothing was sent.", path=str(p))
    return p
