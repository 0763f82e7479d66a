"""The router alone (pure: no server): bounded records, one frame for packets, streams and RPC, handler registry."""

from __future__ import annotations

import pytest

import lk_notebook as lk
from lk_notebook.events import DataKind, RpcRecord, StreamRecord, StreamState, frozen_map
from lk_notebook.routing import FRAME_COLUMNS, PACKET_COLUMNS, STREAM_COLUMNS, Router


def stream(i: int, state: StreamState = StreamState.FINISHED, *, at: float = 0.0) -> StreamRecord:
    return StreamRecord(
        stream_id=f"s{i}", sender="bob", topic="t", is_text=True, name="", mime_type="text/plain", size=None,
        attributes=frozen_map(), received=3, state=state, started_at=at, updated_at=at, text="abc",
    )  # fmt: skip


def test_records_are_bounded_and_an_open_stream_outlives_finished_ones() -> None:
    errors: list[str] = []
    router = Router("me", inbox_limit=3, report=lambda where, exc: errors.append(where))
    router.update_stream(stream(0, StreamState.STARTED))
    for i in range(1, 6):
        router.update_stream(stream(i))
    ids = [r.stream_id for r in router.streams]
    assert len(ids) == 3 and "s0" in ids and ids[-1] == "s5"
    router.on_stream(lambda r: 1 / 0)
    router.update_stream(stream(9))
    assert errors == ["stream callback"]


def test_one_frame_tells_packets_streams_and_rpc_apart() -> None:
    router = Router("me", inbox_limit=10, report=lambda where, exc: None)
    router.on_packet(b"hi", sender="bob", topic="chat", kind=DataKind.LOSSY, at=1.0)
    router.update_stream(stream(1, at=2.0))
    rpc = RpcRecord(call_id=router.next_call_id(), outgoing=False, method="echo", caller="bob", callee="me",
                    payload="x", started_at=3.0, response="x", finished_at=3.5)  # fmt: skip
    router.update_rpc(rpc)
    frame = router.messages_frame()
    assert list(frame.type) == ["packet", "text_stream", "rpc"]
    assert list(frame.kind) == ["lossy", "reliable", "reliable"]  # as Message.kind
    assert frame.iloc[2].latency == 0.5 and frame.iloc[2].method == "echo" and frame.iloc[1].payload == "abc"
    assert list(frame.columns) == list(FRAME_COLUMNS)


def test_a_frame_of_packets_has_only_the_packet_columns_unless_all_are_asked_for() -> None:
    router = Router("me", inbox_limit=10, report=lambda where, exc: None)
    router.on_packet(b"hi", sender="bob", topic="chat", kind=DataKind.RELIABLE, at=1.0)
    frame = router.messages_frame()
    assert list(frame.columns) == list(PACKET_COLUMNS)
    assert frame.iloc[0].kind == "reliable" and frame.iloc[0].type == "packet" and frame.iloc[0].payload == "hi"
    assert list(router.messages_frame(all_columns=True).columns) == list(FRAME_COLUMNS)
    router.update_stream(stream(1, at=2.0))
    assert list(router.messages_frame().columns) == list(PACKET_COLUMNS + STREAM_COLUMNS)
    assert list(Router("x", inbox_limit=1, report=lambda w, e: None).messages_frame().columns) == list(PACKET_COLUMNS)


def test_one_stream_handler_per_topic() -> None:
    router = Router("me", inbox_limit=10, report=lambda where, exc: None)
    remove = router.register_stream_handler("lk.chat", lambda reader, who: None, text=True)
    with pytest.raises(lk.AlreadyRegisteredError):
        router.register_stream_handler("lk.chat", lambda reader, who: None, text=True)
    router.register_stream_handler("lk.chat", lambda reader, who: None, text=False)  # bytes: another table
    remove()
    router.register_stream_handler("lk.chat", lambda reader, who: None, text=True)


async def test_topics_filter_callbacks_and_subscriptions() -> None:
    # Mutation testing (bench/mutation.py) found the topic filters unchecked by any unit test.
    router = Router("me", inbox_limit=10, report=lambda where, exc: None)
    chat: list[bytes] = []
    every: list[str] = []
    router.on_message(lambda m: chat.append(m.payload), topic="chat")
    router.on_message(lambda m: every.append(m.topic))
    chat_only = router.messages(topic="chat", maxsize=100, count=2, timeout=5)
    anything = router.messages(topic=None, maxsize=100, count=3, timeout=5)
    for topic, payload in (("news", b"n1"), ("chat", b"c1"), ("news", b"n2"), ("chat", b"c2")):
        router.on_packet(payload, sender="bob", topic=topic, kind=DataKind.RELIABLE, at=1.0)
    assert chat == [b"c1", b"c2"] and every == ["news", "chat", "news", "chat"]
    assert [m.payload async for m in chat_only] == [b"c1", b"c2"]
    assert [m.payload async for m in anything] == [b"n1", b"c1", b"n2"]
    with pytest.raises(lk.WaitTimeoutError, match=r"fewer than 1 messages on topic 'chat' arrived within 0\.05 s"):
        async for _ in router.messages(topic="chat", maxsize=100, count=1, timeout=0.05):
            pass
