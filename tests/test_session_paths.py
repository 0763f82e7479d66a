"""Session members no other test reaches, against the real server with a second real session: `stream_bytes`,
`StreamError` (a write after close, the room deleted mid-stream), the `unregister_*` methods, `on_rpc` and the
`rpc_payload_limit` setter."""

from __future__ import annotations

import hashlib

import pytest

import lk_notebook as lk

from .conftest import Sessions, eventually

pytestmark = pytest.mark.server


async def test_stream_bytes_in_chunks_arrives_whole_and_a_write_after_close_is_a_stream_error(
    sessions: Sessions, room_name: str
) -> None:
    a, b = await sessions.two(room_name)
    chunks = [bytes([i]) * 10_000 for i in range(7)]  # 70 kB: several of the SDK's 15,000-byte stream chunks
    whole = b"".join(chunks)
    async with await b.stream_bytes("data.bin", total_size=len(whole), topic="files", destinations=["alice"]) as w:
        for chunk in chunks:
            await w.write(chunk)
        assert w.record.received == len(whole) and w.record.state is lk.StreamState.STARTED
    sent = w.record  # the record as the block's end left it
    assert sent.state is lk.StreamState.FINISHED and sent.sha256 == hashlib.sha256(whole).hexdigest()
    assert any(r.sent and r.stream_id == w.stream_id for r in b.streams)
    await eventually(
        lambda: any(r.stream_id == w.stream_id and r.state is lk.StreamState.FINISHED for r in a.streams),
        what="alice has the whole stream",
    )
    got = next(r for r in a.streams if r.stream_id == w.stream_id)
    assert got.sender == "bob" and got.name == "data.bin" and got.size == len(whole) and got.received == len(whole)
    assert got.sha256 == hashlib.sha256(whole).hexdigest() and not got.is_text

    with pytest.raises(lk.StreamError, match="this stream is closed") as err:
        await w.write(b"late")
    assert err.value.topic == "files"
    with pytest.raises(lk.InvalidInputError, match="non-empty name"):
        await b.stream_bytes("")


async def test_a_stream_whose_room_is_deleted_mid_write_is_a_stream_error(
    credentials: lk.Credentials, sessions: Sessions, room_name: str
) -> None:
    _, b = await sessions.two(room_name)
    writer = await b.stream_text(topic="live")
    await writer.write("before ")
    async with lk.ServerAPI(credentials) as admin:
        await admin.delete_room(room_name)
    await eventually(lambda: b.closed, timeout=10, what="the session hears its room is gone")
    # The SDK has disposed of the writer with the room (its own error would be a bare AssertionError).
    with pytest.raises(lk.StreamError, match=r"ended with its session.*ROOM_DELETED") as err:
        await writer.write("after")
    assert err.value.topic == "live" and err.value.stream_id == writer.stream_id
    assert isinstance(err.value.__cause__, lk.SessionClosedError)
    assert writer.record.state is lk.StreamState.ABORTED and writer.record.text == "before "
    await writer.aclose()  # nothing left to close: no error
    with pytest.raises(lk.StreamError, match="this stream is closed"):
        await writer.write("again")


async def test_unregistered_stream_handlers_are_not_called_and_streams_are_still_recorded(
    sessions: Sessions, room_name: str
) -> None:
    a, b = await sessions.two(room_name)
    texts: list[str] = []
    blobs: list[bytes] = []

    async def on_text(reader: lk.streams.TeeReader, sender: str) -> None:
        texts.append(await reader.read_all())

    async def on_bytes(reader: lk.streams.TeeReader, sender: str) -> None:
        blobs.append(await reader.read_all())

    a.register_text_stream_handler("t", on_text)
    a.register_byte_stream_handler("b", on_bytes)
    await b.send_text("one", topic="t")
    await b.send_bytes(b"one", topic="b", name="one.bin")
    await eventually(lambda: texts == ["one"] and blobs == [b"one"], what="both handlers called")

    a.unregister_text_stream_handler("t")
    a.unregister_byte_stream_handler("b")
    await b.send_text("two", topic="t")
    await b.send_bytes(b"two", topic="b", name="two.bin")
    # Absence by sentinel: bob's streams reach alice in order on one reliable channel, so once a later stream is
    # recorded, the two before it have been handed to whatever handler was registered.
    await b.send_text("sentinel", topic="sentinel")
    await eventually(
        lambda: any(r.topic == "sentinel" and r.state is lk.StreamState.FINISHED for r in a.streams),
        what="the sentinel stream",
    )
    assert texts == ["one"] and blobs == [b"one"]
    recorded = [(r.topic, r.text) for r in a.streams if not r.sent and r.topic in ("t", "b")]
    assert ("t", "two") in recorded and sum(topic == "b" for topic, _ in recorded) == 2
    # A topic is free again once unregistered.
    a.register_text_stream_handler("t", on_text)


async def test_on_rpc_sees_each_call_start_and_end_and_unregister_answers_1400(
    sessions: Sessions, room_name: str
) -> None:
    a, b = await sessions.two(room_name)
    seen: list[lk.RpcRecord] = []
    stop = a.on_rpc(seen.append)
    a.register_rpc_method("echo", lambda call: call.payload)
    assert (await b.perform_rpc("alice", "echo", "hi")).response == "hi"
    await eventually(lambda: any(r.finished_at is not None for r in seen), what="on_rpc hears the answered call")
    answered = [r for r in seen if not r.outgoing and r.method == "echo"]
    assert answered[0].finished_at is None and answered[-1].response == "hi" and answered[-1].caller == "bob"

    with pytest.raises(lk.RpcError):
        await a.perform_rpc("bob", "nothing", "x")
    await eventually(lambda: any(r.outgoing and r.error_code == 1400 for r in seen), what="on_rpc hears outgoing")
    assert any(r.outgoing and r.method == "nothing" and r.error_code == 1400 for r in seen)

    a.unregister_rpc_method("echo")
    a.unregister_rpc_method("echo")  # idempotent
    with pytest.raises(lk.RpcError) as err:
        await b.perform_rpc("alice", "echo", "again")
    assert err.value.code == 1400
    a.register_rpc_method("echo", lambda call: "back")  # the name is free again
    assert (await b.perform_rpc("alice", "echo", "x")).response == "back"

    stop()
    count = len(seen)
    assert (await b.perform_rpc("alice", "echo", "x")).response == "back"
    assert len(seen) == count, "on_rpc's remover did not stop it"


async def test_rpc_payload_limit_setter_moves_the_check(sessions: Sessions, room_name: str) -> None:
    a, b = await sessions.two(room_name)
    a.register_rpc_method("size", lambda call: str(len(call.payload)))
    assert b.rpc_payload_limit == lk.limits.RPC_MAX_PAYLOAD_BYTES
    b.rpc_payload_limit = 100
    assert b.rpc_payload_limit == 100
    assert (await b.perform_rpc("alice", "size", "x" * 100)).response == "100"
    with pytest.raises(lk.TooLargeError) as err:
        await b.perform_rpc("alice", "size", "x" * 101)
    assert err.value.limit == 100
    # Raised past LiveKit's documented 15 KiB: the SDK (livekit 1.2.x) sends it, and the peer answers.
    b.rpc_payload_limit = 20_000
    big = "x" * (lk.limits.RPC_MAX_PAYLOAD_BYTES + 1000)
    assert (await b.perform_rpc("alice", "size", big)).response == str(len(big))
