"""Task 4: send a stream and wait for it to finish on the other side.

Run: python task_4_stream.py ROOM (with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET exported)
"""

import asyncio
import hashlib
import sys

import lk_notebook as lk


async def main(room: str) -> None:
    data = bytes(range(256)) * 800  # 200 KiB: chunked by the stream, too large for one packet
    async with await lk.join(room, identity="alice") as alice, await lk.join(room, identity="bob") as bob:
        await alice.wait_for_participant("bob")
        await bob.wait_for_participant("alice")

        done = bob.next_stream(topic="files", timeout=30)
        await alice.send_bytes(data, topic="files", name="blob.bin")
        record = await done
        assert record.state is lk.StreamState.FINISHED and record.sender == "alice", record
        assert record.received == len(data) and record.sha256 == hashlib.sha256(data).hexdigest()

        text = bob.next_stream(topic="notes", timeout=10)
        await alice.send_text("hello in a stream", topic="notes")
        assert (await text).text == "hello in a stream"
        print(f"received {record.received} bytes, goodput {record.goodput:.0f} B/s")
    print("OK task 4")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
