"""Why a join failed: the SDK raises one ConnectError for everything; this tells unreachable servers, refused
credentials and other failures apart (and never quotes the token)."""

from __future__ import annotations

import asyncio
import socket
import urllib.parse

import aiohttp

from ._logging import scrub as _scrub
from .errors import AuthenticationError, JoinError, UnreachableError

__all__ = ["classify_join_error"]


async def classify_join_error(url: str, room: str, token: str, sdk_message: str) -> JoinError:
    """Turn the SDK's one ConnectError into: unreachable, bad credentials, or another join failure."""
    message = _scrub(sdk_message)
    parsed = urllib.parse.urlparse(url)
    host = parsed.hostname or "localhost"
    port = parsed.port or (443 if parsed.scheme in ("wss", "https") else 80)
    try:
        await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, _tcp_probe, host, port), 5)
    except (OSError, asyncio.TimeoutError):
        return UnreachableError(
            f"nothing answers at {url} (TCP {host}:{port}). Is the server running? For a local one, use "
            f"lk_notebook.LocalServer() or run `lk-notebook server`.",
            url=url,
            room=room,
        )
    # The server explains a refused token on /rtc/validate (401 with a reason).
    scheme = "https" if parsed.scheme in ("wss", "https") else "http"
    validate = f"{scheme}://{parsed.netloc}/rtc/validate?access_token={urllib.parse.quote(token)}"
    try:
        async with aiohttp.ClientSession() as http, http.get(validate, timeout=aiohttp.ClientTimeout(5)) as resp:
            body = (await resp.text()).strip()
            if resp.status in (401, 403):
                return AuthenticationError(
                    f"the server at {url} refused the token: {_scrub(body) or resp.reason}. Check LIVEKIT_API_KEY "
                    f"and LIVEKIT_API_SECRET (they must match the server's keys), or mint a fresh token.",
                    url=url,
                    room=room,
                )
    except (aiohttp.ClientError, asyncio.TimeoutError):
        pass
    return JoinError(f"could not join {room!r} at {url}: {message}", url=url, room=room)


def _tcp_probe(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=3):
        pass
