"""Streams and RPC between a Session and LiveKit's JS SDK (`livekit-client` in Chromium), both ways."""

from __future__ import annotations

import base64
import hashlib
import os

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials

from .conftest import eventually
from .jsclient import JsPeerFactory, session_and_js_peer

pytestmark = pytest.mark.server

# In the JS page: record every text and byte stream on two topics, and answer RPC "echo". The page is about:blank,
# not a secure context, so Chromium withholds crypto.randomUUID, which the SDK uses for stream ids: supply one from
# crypto.getRandomValues (available everywhere), as an https page would have it.
JS_RECEIVE = """
async () => {
  if (!crypto.randomUUID) {
    crypto.randomUUID = () => ([1e7] + -1e3 + -4e3 + -8e3 + -1e11).replace(/[018]/g, (c) =>
      (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
  }
  const room = window.room;
  window.got = [];
  room.registerTextStreamHandler("lk.chat", async (reader, who) => {
    window.got.push({ kind: "text", from: who.identity, text: await reader.readAll(), topic: reader.info.topic });
  });
  room.registerByteStreamHandler("files", async (reader, who) => {
    const chunks = await reader.readAll();
    let n = 0; for (const c of chunks) n += c.length;
    const all = new Uint8Array(n); let o = 0; for (const c of chunks) { all.set(c, o); o += c.length; }
    let bin = ""; for (let i = 0; i < all.length; i += 8192) bin += String.fromCharCode(...all.subarray(i, i + 8192));
    window.got.push({ kind: "bytes", from: who.identity, name: reader.info.name, b64: btoa(bin) });
  });
  room.localParticipant.registerRpcMethod("echo", async (data) => `${data.callerIdentity} said ${data.payload}`);
}
"""

JS_SEND = """
async (blobB64) => {
  const lp = window.room.localParticipant;
  const writer = await lp.streamText({ topic: "lk.transcription", attributes: { "lk.segment_id": "js1" } });
  for (const w of ["partial ", "words ", "from ", "js"]) await writer.write(w);
  await writer.close();
  const bytes = Uint8Array.from(atob(blobB64), (c) => c.charCodeAt(0));
  const bw = await lp.streamBytes({ name: "js.bin", topic: "uploads", totalSize: bytes.length });
  for (let i = 0; i < bytes.length; i += 16000) await bw.write(bytes.subarray(i, i + 16000));
  await bw.close();
  return await lp.performRpc({ destinationIdentity: "nb", method: "shout", payload: "hey from js" });
}
"""


async def test_streams_and_rpc_with_livekit_client_both_ways(
    credentials: Credentials, room_name: str, js_peer: JsPeerFactory
) -> None:
    async with session_and_js_peer(credentials, room_name, js_peer, identity="nb") as (session, peer):
        session.register_rpc_method("shout", lambda call: f"{call.caller_identity}: {call.payload.upper()}")
        await peer.evaluate(JS_RECEIVE)
        await eventually(lambda: peer.identities(), what="the notebook in the JS peer")

        # JS -> notebook: a text stream on a topic the notebook never registered, a byte stream, an RPC.
        blob = os.urandom(200_000)
        answer = await peer.evaluate(JS_SEND, base64.b64encode(blob).decode())
        assert answer == "js: HEY FROM JS"
        await eventually(
            lambda: sum(r.state is lk.StreamState.FINISHED for r in session.streams if r.sender == "js") == 2,
            timeout=15,
            what="both JS streams finish in the notebook",
        )
        text = next(r for r in session.streams if r.topic == "lk.transcription")
        assert text.text == "partial words from js" and text.attributes["lk.segment_id"] == "js1"
        upload = next(r for r in session.streams if r.topic == "uploads")
        assert upload.name == "js.bin" and upload.received == len(blob)
        assert upload.sha256 == hashlib.sha256(blob).hexdigest()
        shout = next(r for r in session.rpc_calls if r.method == "shout")
        assert shout.caller == "js" and shout.response == "js: HEY FROM JS"

        # Notebook -> JS: a text stream, a byte stream, an RPC.
        await session.send_text("hello js", topic="lk.chat")
        sent_blob = os.urandom(100_000)
        await session.send_bytes(sent_blob, topic="files", name="nb.bin")
        result = await session.perform_rpc("js", "echo", "hi")
        assert result.response == "nb said hi" and result.latency is not None

        async def js_got_both() -> bool:
            return len(await peer.evaluate("() => window.got")) == 2

        await eventually(js_got_both, timeout=15, what="the JS peer reads both streams")
        got = {g["kind"]: g for g in await peer.evaluate("() => window.got")}
        assert got["text"]["from"] == "nb" and got["text"]["text"] == "hello js"
        assert got["bytes"]["name"] == "nb.bin" and base64.b64decode(got["bytes"]["b64"]) == sent_blob
