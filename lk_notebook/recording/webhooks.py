"""A webhook receiver on the kernel's loop: livekit-server POSTs its events here, each one verified before use.

livekit-server signs every POST with a JWT (issuer: the API key, signed with its secret) in the `Authorization`
header, carrying the base64 SHA-256 of the body; `livekit.api.WebhookReceiver` checks both. A request that fails
the check gets 401 and goes nowhere: the callback only ever sees verified events.

Example::

    receiver = WebhookServer(api_key, api_secret, on_event=journal.append_webhook)
    await receiver.start()
    LocalServer(config=webhook_config(receiver.url, api_key))   # the server posts to it from now on
    ...
    await receiver.stop()
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web
from livekit import api
from livekit.protocol.webhook import WebhookEvent

from .entries import WebhookRecord

__all__ = ["WebhookCallback", "WebhookServer", "webhook_config", "webhook_record"]

log = logging.getLogger(__name__)

WebhookCallback = Callable[[WebhookRecord, float | None, float], None]
"""Called with each verified event, the server's `created_at` (Unix seconds, None when the event has none) and the
local receive time: `Journal.append_webhook` fits."""


def webhook_config(url: str, api_key: str) -> dict[str, Any]:
    """The livekit-server config fragment that posts webhooks to `url`, signed with `api_key`'s secret (the key
    must be one of the server's `keys`; the secret itself is not in the fragment)."""
    return {"webhook": {"api_key": api_key, "urls": [url]}}


def webhook_record(event: WebhookEvent, body: str) -> WebhookRecord:
    """What a recording keeps of a verified event: its name, id, room, participant and the protojson body."""
    participant = event.participant.identity if event.HasField("participant") else ""
    room = event.room.name if event.HasField("room") else ""
    return WebhookRecord(event.event, event.id, room, participant, body)


class WebhookServer:
    """An aiohttp server on 127.0.0.1 (or `host`) that verifies livekit-server's webhooks and hands them on."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        on_event: WebhookCallback,
        host: str = "127.0.0.1",
        port: int = 0,
        path: str = "/webhook",
        room: str | None = None,
    ) -> None:
        # Only the verifier holds the secret; this object's repr and attributes do not.
        self._receiver = api.WebhookReceiver(api.TokenVerifier(api_key, api_secret))
        self._on_event = on_event
        self._host = host
        self._port = port
        self._path = path
        # A server posts every room's events to every URL: a recorder of one room passes its name.
        self._room = room
        self._runner: web.AppRunner | None = None
        self.received = 0
        """Verified events handed on."""
        self.refused = 0
        """Requests answered 401 (missing or forged signature, body not matching its hash)."""

    @property
    def url(self) -> str:
        """Where the server should POST (only once started: the port is chosen then)."""
        if self._runner is None:
            raise RuntimeError("start() the webhook server first: its port is chosen then")
        return f"http://{self._host}:{self._port}{self._path}"

    def __repr__(self) -> str:
        where = self.url if self._runner is not None else "not started"
        return f"WebhookServer({where}, received={self.received}, refused={self.refused})"

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post(self._path, self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self._host, self._port)
        await site.start()
        self._port = int(runner.addresses[0][1])  # the port chosen when asked for 0
        self._runner = runner

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> WebhookServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _handle(self, request: web.Request) -> web.Response:
        received_at = time.time()
        body = await request.text()
        auth = request.headers.get("Authorization", "")
        # livekit-server sends the bare JWT; accept "Bearer <jwt>" too, as a proxy or a test client may add it.
        token = auth.removeprefix("Bearer ").strip()
        try:
            event = self._receiver.receive(body, token)
        except Exception as exc:  # WebhookReceiver raises bare Exception (hash) or jwt errors (signature, expiry)
            self.refused += 1
            # The reason only: never the header (it is a token).
            log.warning("refused a webhook: %s", type(exc).__name__)
            return web.Response(status=401, text="invalid webhook signature\n")
        created_at = float(event.created_at) if event.created_at else None
        record = webhook_record(event, body)
        if self._room is not None and record.room != self._room:
            return web.Response(status=200)  # verified, but about another room: acknowledged, not handed on
        self.received += 1
        try:
            self._on_event(record, created_at, received_at)
        except Exception:
            log.exception("the webhook callback failed on %s", event.event)
        return web.Response(status=200)
