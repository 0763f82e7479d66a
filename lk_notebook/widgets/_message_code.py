"""Pure pieces of the Composer: what its payload input means, the same send as code, and its size meter (from
`limits.check_publish`, the check `Session.publish` makes)."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Sequence

from .. import limits
from ..errors import InvalidInputError
from .editor import meter_html

__all__ = ["MODES", "code_snippets", "parse_payload", "publish_meter_html"]

MODES = ("text", "JSON", "hex", "base64")


def parse_payload(mode: str, text: str) -> bytes:
    """The bytes a Composer input means: text as UTF-8, JSON validated (sent as typed), hex or base64 decoded."""
    if mode == "text":
        return text.encode("utf-8")
    if mode == "JSON":
        try:
            json.loads(text)
        except ValueError as exc:
            raise InvalidInputError(f"payload is not valid JSON: {exc}") from exc
        return text.encode("utf-8")
    if mode == "hex":
        cleaned = "".join(text.split()).removeprefix("0x")
        try:
            return bytes.fromhex(cleaned)
        except ValueError as exc:
            raise InvalidInputError(f"payload is not valid hex ({exc}); e.g. 'de ad be ef'") from exc
    if mode == "base64":
        try:
            return base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInputError(f"payload is not valid base64: {exc}") from exc
    raise InvalidInputError(f"unknown payload mode {mode!r}; one of {', '.join(MODES)}")


def _py_bytes(data: bytes, mode: str, text: str) -> str:
    if mode in ("text", "JSON"):
        return f"{text!r}.encode()"
    return f"bytes.fromhex({data.hex()!r})"


def _js_bytes(data: bytes, mode: str, text: str) -> str:
    if mode in ("text", "JSON"):
        return f"new TextEncoder().encode({json.dumps(text, ensure_ascii=False)})"
    return f"Uint8Array.from(atob({json.dumps(base64.b64encode(data).decode())}), (c) => c.charCodeAt(0))"


def _sh(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def code_snippets(
    data: bytes,
    *,
    mode: str,
    text: str,
    reliable: bool,
    topic: str,
    destinations: Sequence[str],
    room: str,
    identity: str,
) -> dict[str, str]:
    """The same send as code: lk_notebook, Python (rtc SDK), JavaScript (client SDK), the `lk` CLI (where one
    exists)."""
    py_args = [_py_bytes(data, mode, text), f"reliable={reliable}"]
    if topic:
        py_args.append(f"topic={topic!r}")
    if destinations:
        py_args.append(f"destination_identities={list(destinations)!r}")
    python = f"await room.local_participant.publish_data(\n    {', '.join(py_args)},\n)"
    nb_args = [repr(text) if mode in ("text", "JSON") else f"bytes.fromhex({data.hex()!r})"]
    if not reliable:
        nb_args.append("reliable=False")
    if topic:
        nb_args.append(f"topic={topic!r}")
    if destinations:
        nb_args.append(f"destinations={list(destinations)!r}")
    notebook = f"await session.publish({', '.join(nb_args)})"
    js_opts = [f"reliable: {'true' if reliable else 'false'}"]
    if topic:
        js_opts.append(f"topic: {json.dumps(topic, ensure_ascii=False)}")
    if destinations:
        js_opts.append(f"destinationIdentities: {json.dumps(list(destinations), ensure_ascii=False)}")
    javascript = (
        f"await room.localParticipant.publishData(\n  {_js_bytes(data, mode, text)},\n  {{ {', '.join(js_opts)} }},\n);"
    )
    if mode not in ("text", "JSON"):
        cli = "# the lk CLI sends text only: no equivalent for a binary payload"
    else:
        lines = []
        if reliable:
            # `lk room send-data` sends through the server API: receivers get no sender (None), not you.
            flags = f"--room {_sh(room)}"
            if topic:
                flags += f" --topic {_sh(topic)}"
            for d in destinations:
                flags += f" --identity {_sh(d)}"
            lines.append(
                f"# from the server (receivers see no participant as sender):\nlk room send-data {flags} {_sh(text)}"
            )
            if not topic and not destinations:
                lines.append(
                    f"# as a participant (joins, publishes once, reliable):\n"
                    f"lk room join --identity {_sh(identity + '-cli')} --publish-data {_sh(text)} {_sh(room)}"
                )
        else:
            lines.append("# the lk CLI has no lossy send")
        cli = "\n".join(lines)
    return {"lk_notebook": notebook, "Python": python, "JavaScript": javascript, "lk CLI": cli}


def publish_meter_html(check: limits.PublishCheck) -> str:
    """The payload's size against the SDK's limit, with LiveKit's advice for its mode marked."""
    return meter_html(
        check.size,
        limit=limits.SDK_MAX_PACKET_BYTES,
        marks=((check.advised, f"over LiveKit's advice of {check.advised:,} B for {check.mode}"),),
        label="payload: ",
    ) + (
        f'<span style="font-size:11px;color:#666">encoded packet ≤ {check.packet:,} B (the SDK refuses over '
        f"{limits.SDK_MAX_PACKET_BYTES:,}); advice: lossy ≤ {limits.LOSSY_ADVISED_BYTES:,} B, reliable ≤ "
        f"{limits.RELIABLE_ADVISED_BYTES:,} B</span>"
    )
