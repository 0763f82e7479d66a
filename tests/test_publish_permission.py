"""A token without `canPublishData`: `publish` and the streams say so, instead of the silent drop the SDK gives."""

from __future__ import annotations

import pytest

import lk_notebook as lk

from .conftest import Sessions

pytestmark = pytest.mark.server


async def test_publish_without_can_publish_data_is_refused_by_name(sessions: Sessions, room_name: str) -> None:
    peer = await sessions.join(room_name, "peer")
    mute = await sessions.join(room_name, "mute", grants=lk.Grants(can_publish_data=False))
    assert not mute.room.local_participant.permissions.can_publish_data  # the server's join response says so
    # The SDK itself reports success for a packet the server will drop: why lk_notebook checks first.
    await mute.room.local_participant.publish_data(b"dropped", topic="t")
    with pytest.raises(lk.PublishError, match="lacks canPublishData"):
        await mute.publish("hello", topic="t")
    with pytest.raises(lk.PublishError, match="cannot send text: 'mute'"):
        await mute.send_text("hello", topic="t")
    with pytest.raises(lk.PublishError, match="cannot send bytes"):
        await mute.send_bytes(b"hello", topic="t")
    assert not [m for m in mute.inbox if m.sent]  # nothing recorded as sent
    # The control: the same call from a participant with the default grants goes through.
    arrived = mute.next_message(topic="t")
    await peer.publish("hello", topic="t")
    msg = await arrived
    assert (msg.sender, msg.text) == ("peer", "hello")
