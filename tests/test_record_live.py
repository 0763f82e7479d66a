"""Issue 18's acceptance: a scripted room (raw SDK peers and a livekit-client peer: joins, leaves, state changes,
messages, a stream) recorded by the `lk-notebook record` subprocess on a livekit-server that posts its webhooks to
the recorder, SIGKILLed mid-traffic. Then the file opens; `state_at(t)` equals `list_participants` taken at t;
every reliable message sent more than 1 s before the kill is in it; the webhooks are in it; no secret or token is.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from livekit import rtc

from lk_notebook.admin import ServerAPI
from lk_notebook.config import Credentials
from lk_notebook.events import ParticipantInfo
from lk_notebook.recording import Recording, webhook_config, webhook_url
from lk_notebook.server import LocalServer

from .conftest import eventually
from .jsclient import js_peers

pytestmark = [pytest.mark.server, pytest.mark.slow]

JWT = re.compile(rb"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def comparable(participants: list[ParticipantInfo] | tuple[ParticipantInfo, ...]) -> dict[str, object]:
    """identity -> (name, metadata, attributes), without recorders (hidden inspectors: never the room's own)."""
    return {
        p.identity: (p.name, p.metadata, dict(p.attributes))
        for p in participants
        if not p.identity.startswith("inspector-")
    }


@contextlib.asynccontextmanager
async def hooked_server(port: int) -> AsyncIterator[Credentials]:
    """A livekit-server of its own, posting webhooks to `webhook_url(port)` (a URL is fixed at start)."""
    key, secret = "lk_notebook", secrets.token_urlsafe(36)
    server = LocalServer(api_key=key, api_secret=secret, config=webhook_config(webhook_url(port), key))
    await asyncio.to_thread(server.start)
    try:
        yield Credentials(server.url, key, secret, "local server")
    finally:
        await asyncio.to_thread(server.stop)


async def connect(stack: contextlib.AsyncExitStack, creds: Credentials, room: str, identity: str) -> rtc.Room:
    peer = rtc.Room()
    await peer.connect(creds.url, creds.token(room, identity, name=identity.title()))
    stack.push_async_callback(peer.disconnect)
    return peer


async def record_command(
    stack: contextlib.AsyncExitStack, creds: Credentials, room: str, *args: str
) -> tuple[asyncio.subprocess.Process, object]:
    """`lk-notebook record room args...` in a subprocess (killed when `stack` closes, if still running), and its
    first line of output, parsed."""
    env = {**os.environ, "LIVEKIT_URL": creds.url, "LIVEKIT_API_KEY": creds.api_key}
    env["LIVEKIT_API_SECRET"] = creds.api_secret
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "lk_notebook.cli", "record", room, *args,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip

    async def reap() -> None:
        if proc.returncode is None:
            proc.kill()
        await proc.wait()

    stack.push_async_callback(reap)
    line = await asyncio.wait_for(proc.stdout.readline(), 60)  # type: ignore[union-attr]
    return proc, json.loads(line)


async def test_sigkilled_recording_holds_the_room(tmp_path: Path) -> None:
    port = free_port()
    room, out = f"recorded-{secrets.token_hex(3)}", tmp_path / "room.lkrec"
    async with hooked_server(port) as creds, contextlib.AsyncExitStack() as stack:
        args = ["--out", str(out), "--webhook-port", str(port), "--poll", "0.5"]
        proc, first = await record_command(stack, creds, room, *args)
        assert first == {"recording": str(out), "room": room}
        admin = ServerAPI(creds)
        stack.push_async_callback(admin.aclose)
        make_js = await stack.enter_async_context(contextlib.asynccontextmanager(js_peers)(creds))

        # -- the scripted room ---------------------------------------------------------------------------------
        ann = await connect(stack, creds, room, "ann")
        bob = await connect(stack, creds, room, "bob")
        casey = await make_js(room, "casey", attributes={"client": "browser"})
        dave = await connect(stack, creds, room, "dave")
        await ann.local_participant.set_attributes({"role": "host"})
        await bob.local_participant.set_metadata("bob's metadata")
        await casey.evaluate("async () => { await window.room.localParticipant.setAttributes({mood: 'curious'}) }")
        await admin.update_room_metadata(room, "topic: recording")
        await bob.local_participant.send_text("a text stream, recorded", topic="notes")
        await dave.disconnect()

        def webhook_events() -> set[str]:
            with Recording(out) as rec:
                return set(rec.webhooks_frame()["event"])

        async def settled() -> bool:
            server = comparable(await admin.list_participants(room))
            with Recording(out) as rec:
                return comparable(tuple(rec.state_at(time.time()).participants.values())) == server

        # The recorder has caught up with the server's view (the hidden inspector hears of a data-only peer at
        # the server's 3 s tick); then, in this quiet moment, what the server lists at t is the reference.
        await eventually(settled, timeout=20, what="the recording catches up with list_participants")
        before = time.time()
        reference = comparable(await admin.list_participants(room))
        t_reference = (before + time.time()) / 2
        assert set(reference) == {"ann", "bob", "casey"} and reference["ann"][2] == {"role": "host"}
        await eventually(
            lambda: "participant_left" in webhook_events(),
            timeout=20,
            what="dave's participant_left webhook recorded",
        )

        # -- traffic, then SIGKILL mid-way ---------------------------------------------------------------------
        sent: list[tuple[float, str]] = []

        async def chatter() -> None:
            for n in range(10_000):
                text = f"m{n:05d}"
                await ann.local_participant.publish_data(text, reliable=True, topic="chat")
                sent.append((time.time(), text))
                await asyncio.sleep(0.02)

        traffic = asyncio.create_task(chatter())
        await asyncio.sleep(3.0)  # traffic for a while: the kill lands mid-stream, not at a quiet moment
        proc.send_signal(signal.SIGKILL)
        killed_at = time.time()
        await proc.wait()
        traffic.cancel()
        await asyncio.gather(traffic, return_exceptions=True)

    with Recording(out) as rec:
        assert rec.room == room
        assert comparable(tuple(rec.state_at(t_reference).participants.values())) == reference
        texts = set(rec.messages_frame()["text"])
        due = [text for at, text in sent if at < killed_at - 1.0]
        assert len(due) > 50, "the traffic ran"
        assert [t for t in due if t not in texts] == []
        hooks = rec.webhooks_frame()
        joined = set(hooks[hooks["event"] == "participant_joined"]["participant"])
        assert {"ann", "bob", "casey", "dave"} <= joined
        assert "dave" in set(hooks[hooks["event"] == "participant_left"]["participant"])
        assert hooks["server_at"].notna().all()
        streams = rec.streams_frame()
        assert "a text stream, recorded" in set(streams["text"])
        assert rec.history_frame().query("kind == 'room_metadata'")["new"].eq("topic: recording").any()
        assert len(rec.server_participants_frame()) > 0
    for f in (out, out.with_name(out.name + "-wal")):
        data = f.read_bytes() if f.exists() else b""
        assert creds.api_secret.encode() not in data and not JWT.search(data), f.name


@pytest.mark.parametrize("stop", ["duration", "SIGTERM", "SIGINT"])
async def test_record_command_stops_cleanly(stop: str, tmp_path: Path, credentials: Credentials) -> None:
    room, out = f"clean-stop-{secrets.token_hex(3)}", tmp_path / "room.lkrec"
    args = ["--out", str(out), "--poll", "0.5", *(["--duration", "1.5"] if stop == "duration" else [])]
    async with contextlib.AsyncExitStack() as stack:
        proc, first = await record_command(stack, credentials, room, *args)
        assert first == {"recording": str(out), "room": room}
        if stop != "duration":
            proc.send_signal(signal.SIGTERM if stop == "SIGTERM" else signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert b"recorded" in stderr and b"Traceback" not in stderr
    # Closed, not crashed: the WAL was checkpointed into the one file.
    assert not out.with_name(out.name + "-wal").exists()
    with Recording(out) as rec:
        kinds = rec.kinds()
    assert kinds["snapshot"] == 1  # the state at the start, written before anything else
    if stop == "duration":  # 1.5 s at --poll 0.5: the server's view was polled (a signal may come before that)
        assert kinds["server_participants"] >= 1


async def test_a_full_disk_stops_the_record_command_with_a_clear_error(
    tmp_path: Path, credentials: Credentials
) -> None:
    room, out = f"full-disk-{secrets.token_hex(3)}", tmp_path / "room.lkrec"
    async with contextlib.AsyncExitStack() as stack:
        # --max-bytes: SQLite refuses to grow the file past it exactly as it does on a full disk (SQLITE_FULL).
        proc, first = await record_command(stack, credentials, room, "--out", str(out), "--max-bytes", "131072")
        assert isinstance(first, dict) and first["room"] == room
        ann = await connect(stack, credentials, room, "ann")
        payload = secrets.token_bytes(8_000)  # random: SQLite cannot compress it below the cap
        deadline = time.monotonic() + 60
        while proc.returncode is None and time.monotonic() < deadline:
            await ann.local_participant.publish_data(payload, reliable=True, topic="fill")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(proc.wait(), 0.02)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    message = stderr.decode()
    assert proc.returncode == 1, message
    assert "is full" in message and str(out) in message and "Traceback" not in message
    with Recording(out) as rec:  # everything committed before stays readable
        assert rec.kinds()["packet"] >= 1
