"""The webhook receiver: verified events reach the journal, forged ones get 401 and are recorded nowhere, and no
secret or token ends up in the file.

Hand-signed requests are built as livekit-server builds them (protocol `webhook/resource_url_notifier.go`): the
protojson body, and in `Authorization` a bare JWT from the API key/secret, valid 5 minutes, whose `sha256` claim is
the base64 SHA-256 of the body. The last test starts a real livekit-server configured with `webhook_config`.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import re
import secrets
import time
from pathlib import Path

import aiohttp
import pytest
from google.protobuf.json_format import MessageToJson
from livekit import api
from livekit.protocol.models import ParticipantInfo as ProtoParticipant
from livekit.protocol.models import Room as ProtoRoom
from livekit.protocol.webhook import WebhookEvent

from lk_notebook.recording import Journal, Recording, WebhookServer, webhook_config
from lk_notebook.server import LocalServer

from .conftest import eventually

KEY = "webhook-key"
SECRET = secrets.token_urlsafe(36)
JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")


def signed(body: str, *, key: str = KEY, secret: str = SECRET) -> str:
    digest = base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
    return api.AccessToken(key, secret).with_sha256(digest).to_jwt()


def event_body(name: str, identity: str = "ann", room: str = "demo") -> str:
    event = WebhookEvent(
        event=name,
        id=f"EV_{secrets.token_hex(4)}",
        created_at=int(time.time()) - 2,
        room=ProtoRoom(name=room, sid="RM_1"),
        participant=ProtoParticipant(identity=identity, sid="PA_1", metadata="hello"),
    )
    return MessageToJson(event, indent=None)


async def post(session: aiohttp.ClientSession, url: str, body: str, auth: str | None) -> int:
    headers = {"Content-Type": "application/webhook+json"}
    if auth is not None:
        headers["Authorization"] = auth
    async with session.post(url, data=body.encode(), headers=headers) as response:
        return response.status


async def test_verified_events_are_journaled_and_forged_ones_refused(tmp_path: Path) -> None:
    path = tmp_path / "hooks.lkrec"
    journal = Journal(path, room="demo", commit_interval=0.05)
    good, forged_body = event_body("participant_joined"), event_body("participant_left", identity="mallory")
    try:
        async with (
            WebhookServer(KEY, SECRET, on_event=journal.append_webhook, room="demo") as receiver,
            aiohttp.ClientSession() as s,
        ):
            assert SECRET not in repr(receiver)
            assert await post(s, receiver.url, good, signed(good)) == 200
            assert await post(s, receiver.url, forged_body, signed(forged_body, secret="x" * 40)) == 401
            assert await post(s, receiver.url, forged_body, None) == 401
            assert await post(s, receiver.url, forged_body, signed(good)) == 401  # a real token for another body
            assert await post(s, receiver.url, forged_body, signed(forged_body, key="other-key")) == 401
            assert await post(s, receiver.url, good, "Bearer " + signed(good)) == 200
            other = event_body("participant_joined", identity="olga", room="elsewhere")
            assert await post(s, receiver.url, other, signed(other)) == 200  # verified, another room: not kept
            assert (receiver.received, receiver.refused) == (2, 4)
        await journal.aflush()
    finally:
        journal.close()
    with Recording(path) as rec:
        hooks = rec.webhooks_frame()
    assert list(hooks["event"]) == ["participant_joined"] * 2
    assert list(hooks["participant"]) == ["ann", "ann"] and list(hooks["room"]) == ["demo", "demo"]
    assert (hooks["at"] - hooks["server_at"]).dt.total_seconds().min() > 1  # both clocks kept: created 2 s before
    data = path.read_bytes()
    assert b"mallory" not in data and b"participant_left" not in data and b"olga" not in data
    assert SECRET.encode() not in data and not JWT.search(data)


@pytest.mark.server
async def test_a_real_livekit_server_posts_its_webhooks_to_the_receiver(tmp_path: Path) -> None:
    path = tmp_path / "server.lkrec"
    journal = Journal(path, commit_interval=0.05)
    async with WebhookServer(KEY, SECRET, on_event=journal.append_webhook) as receiver:
        server = LocalServer(api_key=KEY, api_secret=SECRET, config=webhook_config(receiver.url, KEY))
        assert SECRET not in str(webhook_config(receiver.url, KEY))
        await asyncio.to_thread(server.start)
        try:
            assert server.config_dict()["webhook"] == {"api_key": KEY, "urls": [receiver.url]}
            async with api.LiveKitAPI(server.http_url, KEY, SECRET) as lkapi:
                await lkapi.room.create_room(api.CreateRoomRequest(name="hooked"))
                await eventually(lambda: receiver.received >= 1, timeout=15, what="room_started webhook")
                await lkapi.room.delete_room(api.DeleteRoomRequest(room="hooked"))
                await eventually(lambda: receiver.received >= 2, timeout=15, what="room_finished webhook")
        finally:
            await asyncio.to_thread(server.stop)
        await journal.aflush()
    journal.close()
    with Recording(path) as rec:
        hooks = rec.webhooks_frame()
    assert {"room_started", "room_finished"} <= set(hooks["event"])
    assert set(hooks["room"]) == {"hooked"} and hooks["server_at"].notna().all()
    assert receiver.refused == 0
    data = path.read_bytes()
    assert SECRET.encode() not in data and not JWT.search(data)
