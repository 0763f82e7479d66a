"""LiveKit's JS SDK (`livekit-client` from npm) in Debian's Chromium: an independent peer with its own WebRTC stack.

Each `JsPeer` is one Chromium page with the SDK's UMD bundle loaded (it defines `window.LivekitClient`) and one
connected `window.room`. The page records what the peer sees in `window.peerEvents`, so a test can assert on what an
independent client received without racing its event handlers. Anything else is one `evaluate` away:

    peer = await js_peer(room_name, "js-peer")
    await peer.evaluate("async (text) => { await window.room.localParticipant.sendText(text, {topic: 'chat'}) }", "hi")
    assert "py" in await peer.identities()

Missing Chromium or the npm package fails the test with what to install: nothing is skipped.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import lk_notebook as lk
from lk_notebook.config import Credentials, Grants

NODE_MODULES = Path(__file__).resolve().parent / "peers" / "node" / "node_modules"
UMD_BUNDLE = NODE_MODULES / "livekit-client" / "dist" / "livekit-client.umd.js"
CHROMIUM = "/usr/bin/chromium"
# A blank page is a "public" context to Chromium's Local Network Access checks, which then refuse the SDK's fetch
# of the loopback server ("could not establish signal connection: Failed to fetch"); the test server is on loopback
# by design, so turn the checks off for this browser only.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--disable-features=LocalNetworkAccessChecks,BlockInsecurePrivateNetworkRequests,"
    "PrivateNetworkAccessSendPreflights,PrivateNetworkAccessRespectPreflightResults",
]

# Events are recorded as plain JSON so that Python can read them; payloads as UTF-8 text (tests send text).
_SETUP = """
async ([url, token]) => {
  const L = window.LivekitClient;
  const E = L.RoomEvent;
  const events = (window.peerEvents = []);
  const push = (e) => events.push({ ...e, at: performance.timeOrigin + performance.now() });
  const room = (window.room = new L.Room());
  room.on(E.ParticipantConnected, (p) => push({ type: "participant_connected", identity: p.identity }));
  room.on(E.ParticipantDisconnected, (p) => push({ type: "participant_disconnected", identity: p.identity }));
  room.on(E.ParticipantAttributesChanged, (changed, p) =>
    push({ type: "attributes_changed", identity: p.identity, changed }));
  room.on(E.ParticipantMetadataChanged, (_old, p) =>
    push({ type: "metadata_changed", identity: p.identity, metadata: p.metadata }));
  room.on(E.RoomMetadataChanged, (metadata) => push({ type: "room_metadata_changed", metadata }));
  room.on(E.DataReceived, (payload, p, kind, topic) =>
    push({ type: "data", identity: p ? p.identity : null, kind, topic: topic ?? "",
           text: new TextDecoder().decode(payload) }));
  await room.connect(url, token);
  return room.localParticipant.identity;
}
"""


class JsPeer:
    """One `livekit-client` Room in its own Chromium page."""

    def __init__(self, page: Any, identity: str) -> None:
        self.page = page
        """The Playwright page: `window.room`, `window.LivekitClient` and `window.peerEvents` live there."""
        self.identity = identity

    async def evaluate(self, script: str, arg: Any = None) -> Any:
        """Run `script` (a JS function expression taking one argument) in the peer's page; return its JSON result."""
        return await self.page.evaluate(script, arg)

    async def identities(self) -> list[str]:
        """The remote participants this peer's SDK knows of, sorted."""
        found = await self.evaluate("() => [...window.room.remoteParticipants.values()].map((p) => p.identity)")
        return sorted(found)

    async def events(self, type_: str | None = None) -> list[dict[str, Any]]:
        """What the peer has seen so far (optionally one event type), oldest first."""
        found: list[dict[str, Any]] = await self.evaluate("() => window.peerEvents")
        return [e for e in found if type_ is None or e["type"] == type_]

    async def disconnect(self) -> None:
        await self.evaluate("async () => { await window.room.disconnect() }")


JsPeerFactory = Callable[..., Awaitable[JsPeer]]


def check_prerequisites() -> None:
    assert os.path.exists(CHROMIUM), (
        f"{CHROMIUM} is missing: install Debian's chromium package (apt-get install chromium)"
    )
    assert UMD_BUNDLE.exists(), (
        f"{UMD_BUNDLE} is missing: run `npm ci` in tests/peers/node (tests/conftest.py does this when npm is installed)"
    )


async def js_peers(credentials: Credentials) -> AsyncIterator[JsPeerFactory]:
    """Yield a factory `await make(room, identity, *, grants=None, attributes=None) -> JsPeer` (connected).

    One Chromium for the whole test; each peer gets its own page. Everything closes when the test ends.
    """
    from playwright.async_api import async_playwright

    check_prerequisites()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:

            async def make(
                room: str,
                identity: str,
                *,
                grants: Grants | None = None,
                attributes: dict[str, str] | None = None,
                metadata: str | None = None,
            ) -> JsPeer:
                page = await browser.new_page()
                await page.goto("about:blank")
                await page.add_script_tag(path=str(UMD_BUNDLE))
                token = credentials.token(room, identity, grants=grants, attributes=attributes, metadata=metadata)
                await page.evaluate(_SETUP, [credentials.url, token])
                return JsPeer(page, identity)

            yield make
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def session_and_js_peer(
    credentials: Credentials,
    room: str,
    js_peer: JsPeerFactory,
    *,
    identity: str,
    peer_identity: str = "js",
    peer_attributes: dict[str, str] | None = None,
) -> AsyncIterator[tuple[lk.Session, JsPeer]]:
    """A Session joined as `identity` and a JS peer in `room`, yielded once the peer is in the session's state.
    The session leaves however the block ends (the JS peer closes with the `js_peer` fixture)."""
    session = await lk.join(
        room, identity=identity, url=credentials.url, api_key=credentials.api_key, api_secret=credentials.api_secret
    )
    try:
        peer = await js_peer(room, peer_identity, attributes=peer_attributes)
        seen = await session.state.wait_until(lambda state: peer_identity in state, timeout=10)
        assert seen, f"the JS peer {peer_identity!r} not in the session's state within 10 s"
        yield session, peer
    finally:
        await session.leave()
