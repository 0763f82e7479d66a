"""Regenerate notebooks/data/sample-room.lkrec: a short recording of a scripted room, with the server's webhooks.

    python bench/sample_recording.py [--out notebooks/data/sample-room.lkrec]

Starts a livekit-server of its own that posts webhooks to the recorder, records a room with `lk_notebook.record`
while four peers (raw SDK) join, change attributes, metadata and the room's metadata, chat, send a text stream and
answer an RPC, and one leaves. About 20 s; the file is a few hundred KB and holds no secret (checked at the end).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import socket
from pathlib import Path

from livekit import rtc

import lk_notebook as lk
from lk_notebook.admin import ServerAPI
from lk_notebook.config import Credentials
from lk_notebook.recording import webhook_config, webhook_url

ROOM = "sample-room"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def scripted_room(creds: Credentials, room: str) -> None:
    """Joins, state changes, messages, a stream, an RPC and a leave, paced like a small real room (~15 s)."""
    peers: dict[str, rtc.Room] = {}

    async def join(identity: str, **attributes: str) -> rtc.Room:
        peer = rtc.Room()
        await peer.connect(creds.url, creds.token(room, identity, name=identity.title(), attributes=attributes))
        peers[identity] = peer
        return peer

    async with ServerAPI(creds) as admin:
        try:
            ann = await join("ann", role="host")
            await asyncio.sleep(1.0)
            bob = await join("bob", role="guest")
            bob.local_participant.register_rpc_method("ping", lambda data: "pong:" + data.payload)
            await asyncio.sleep(1.0)
            await admin.update_room_metadata(room, json.dumps({"topic": "release planning"}))
            for n in range(20):
                sender = ann if n % 2 == 0 else bob
                await sender.local_participant.publish_data(f"message {n}", reliable=True, topic="chat")
                await asyncio.sleep(0.15)
            carol = await join("carol", role="guest")
            await asyncio.sleep(1.0)
            await bob.local_participant.set_attributes({"role": "presenter", "hand": "up"})
            await carol.local_participant.set_metadata(json.dumps({"team": "design"}))
            await ann.local_participant.send_text("Agenda: 1. dates 2. owners 3. risks", topic="notes")
            await ann.local_participant.perform_rpc(destination_identity="bob", method="ping", payload="1")
            for n in range(20, 40):
                await carol.local_participant.publish_data(f"message {n}", reliable=True, topic="chat")
                await asyncio.sleep(0.1)
            dave = await join("dave")
            await asyncio.sleep(4.0)  # a data-only peer: others hear of it at the server's 3 s tick
            await dave.disconnect()
            await bob.local_participant.set_attributes({"hand": ""})
            await asyncio.sleep(3.0)  # the last webhooks and a list_participants snapshot after the leave
        finally:
            for peer in peers.values():
                await peer.disconnect()


async def record_sample(out: Path) -> str:
    """Record the scripted room into `out`; returns the server's secret (to check the file holds none)."""
    port = free_port()
    key, secret = "lk_notebook", secrets.token_urlsafe(36)
    server = lk.LocalServer(api_key=key, api_secret=secret, config=webhook_config(webhook_url(port), key))
    await asyncio.to_thread(server.start)
    try:
        creds = Credentials(server.url, key, secret, "local server")
        rec = await lk.record(
            ROOM, out, url=creds.url, api_key=key, api_secret=secret, webhook_port=port, poll_interval=1.0
        )
        try:
            await scripted_room(creds, ROOM)
        finally:
            await rec.aclose()
        print(f"{out}: {rec.counts}")
    finally:
        await asyncio.to_thread(server.stop)
    return secret


def main(out: Path) -> None:
    out.unlink(missing_ok=True)
    secret = asyncio.run(record_sample(out))
    data = out.read_bytes()
    print(f"{out}: {len(data):,} bytes")
    assert secret.encode() not in data and b"eyJ" not in data, "a secret or token in the sample"


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parent.parent / "notebooks" / "data" / "sample-room.lkrec"
    ap.add_argument("--out", type=Path, default=default)
    main(ap.parse_args().out)
