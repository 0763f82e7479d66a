"""The independent JS peer (`livekit-client` in Chromium) and an lk_notebook session see each other, both ways."""

from __future__ import annotations

from lk_notebook.config import Credentials

from .conftest import eventually
from .jsclient import JsPeerFactory, session_and_js_peer


async def test_js_peer_and_session_exchange_state_and_data(
    credentials: Credentials, room_name: str, js_peer: JsPeerFactory
) -> None:
    async with session_and_js_peer(
        credentials, room_name, js_peer, identity="py", peer_attributes={"stack": "livekit-client"}
    ) as (session, peer):
        # The notebook sees the JS peer's initial attributes, then a change it makes.
        assert session.state.participants["js"].attributes["stack"] == "livekit-client"
        await peer.evaluate("async () => { await window.room.localParticipant.setAttributes({mood: 'fine'}) }")
        await eventually(
            lambda: session.state.participants["js"].attributes.get("mood") == "fine", what="the JS peer's attribute"
        )

        # The JS peer sees the notebook, its attribute change and its message.
        await eventually(lambda: peer.identities(), what="any remote participant in the JS peer")
        assert await peer.identities() == ["py"]
        await session.set_attributes({"role": "host"})

        async def js_saw_attribute() -> bool:
            return any(e["changed"].get("role") == "host" for e in await peer.events("attributes_changed"))

        await eventually(js_saw_attribute, what="the notebook's attribute in the JS peer")
        await session.publish("hello js", topic="chat")

        async def js_got_message() -> bool:
            return [(e["identity"], e["topic"], e["text"]) for e in await peer.events("data")] == [
                ("py", "chat", "hello js")
            ]

        await eventually(js_got_message, what="the notebook's message in the JS peer")

        # And a message from the JS peer reaches the notebook with its sender.
        await peer.evaluate(
            "async () => { await window.room.localParticipant.publishData("
            "new TextEncoder().encode('hello py'), {reliable: true, topic: 'chat'}) }"
        )
        await eventually(
            lambda: [(m.sender, m.topic, m.text) for m in session.inbox if not m.sent] == [("js", "chat", "hello py")],
            what="the JS peer's message in the notebook",
        )
