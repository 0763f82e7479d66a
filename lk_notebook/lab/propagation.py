"""How long a change takes to reach another participant: one measurement, shared by the state and cluster labs.

Channels, sender -> receiver in a rig's room:

- `attributes`: the sender's participant attributes (`set_attributes`), seen in the receiver's RoomState;
- `metadata`: the sender's participant metadata (`set_metadata`);
- `room_metadata`: the room's metadata through the server API (`UpdateRoomMetadata`);
- `data`: a reliable data message.

`by_api`: every change is a server API call instead (update_participant, update_room_metadata, send_data), as a
backend would make it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable

from ..admin import ServerAPI
from ..errors import LabError
from ..events import DataKind
from .rig import Rig

__all__ = ["CHANNELS", "PROPAGATION_TOPIC", "STATE_KEY", "change_latency", "check_channels", "wait_sender_seen"]

CHANNELS = ("attributes", "metadata", "room_metadata", "data")
PROPAGATION_TOPIC = "lk_notebook.lab.state"
"""Topic of the data channel's changes."""
STATE_KEY = "lk_lab_seq"
"""Attribute the attributes channel changes."""


def check_channels(channels: Iterable[str]) -> list[str]:
    """`channels` as a list; LabError naming the known ones when one is not."""
    chans = list(channels)
    unknown = [c for c in chans if c not in CHANNELS]
    if unknown:
        raise LabError(f"unknown state channel(s) {unknown}: use some of {', '.join(CHANNELS)}")
    return chans


async def wait_sender_seen(rig: Rig, timeout: float = 10.0) -> None:
    """Until the rig's receiver sees its sender active: a change from someone not yet seen would time out."""
    sender, receiver = rig.sender, rig.receiver
    assert sender is not None and receiver is not None
    ident = sender.identity
    if not await receiver.wait_for(lambda s: (p := s.get(ident)) is not None and p.active, timeout=timeout):
        raise LabError(f"{rig.room_name}: the receiver never saw the sender become active")


async def change_latency(
    rig: Rig, api: ServerAPI, channel: str, value: str, *, by_api: bool = False, timeout: float = 10.0
) -> int | None:
    """Nanoseconds from the call changing `channel` to `value` to the rig's receiver seeing it; None on timeout.
    Room metadata (and every change when `by_api`) goes through `api`."""
    sender, receiver, room = rig.sender, rig.receiver, rig.room_name
    assert sender is not None and receiver is not None
    loop = asyncio.get_running_loop()
    seen: asyncio.Future[int] = loop.create_future()
    ident = sender.identity
    encoded = value.encode()

    def arrived(ok: bool) -> None:
        if ok and not seen.done():
            seen.set_result(time.monotonic_ns())

    remove: Callable[[], None]
    if channel == "data":

        def on_data(payload: bytes, who: str | None, kind: DataKind, at: float) -> None:
            # a server API message has no participant sender
            arrived(payload == encoded and (by_api or who == ident))

        remove = receiver.add_raw_handler(PROPAGATION_TOPIC, on_data)
    else:

        def on_change(_: object) -> None:
            state = receiver.state
            p = state.get(ident)
            if channel == "attributes":
                arrived(p is not None and p.attributes.get(STATE_KEY) == value)
            elif channel == "metadata":
                arrived(p is not None and p.metadata == value)
            else:
                arrived(state.room_metadata == value)

        remove = receiver.state.subscribe(on_change)
    try:
        t0 = time.monotonic_ns()
        if channel == "room_metadata":
            await api.update_room_metadata(room, value)
        elif by_api and channel == "attributes":
            await api.update_participant(room, ident, attributes={STATE_KEY: value})
        elif by_api and channel == "metadata":
            await api.update_participant(room, ident, metadata=value)
        elif by_api:
            await api.send_data(room, value, topic=PROPAGATION_TOPIC)
        elif channel == "attributes":
            await sender.set_attributes({STATE_KEY: value}, confirm=False)
        elif channel == "metadata":
            await sender.set_metadata(value, confirm=False)
        else:
            await sender.room.local_participant.publish_data(encoded, reliable=True, topic=PROPAGATION_TOPIC)
        try:
            t1 = await asyncio.wait_for(seen, timeout)
        except asyncio.TimeoutError:
            return None
        return t1 - t0
    finally:
        remove()
