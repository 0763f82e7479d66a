"""Task 3: publish messages and receive them, waiting with timeouts instead of hand-written loops.

Run: python task_3_messages.py ROOM (with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET exported)
"""

import asyncio
import sys

import lk_notebook as lk


async def main(room: str) -> None:
    async with await lk.join(room, identity="alice") as alice, await lk.join(room, identity="bob") as bob:
        await alice.wait_for_participant("bob")
        await bob.wait_for_participant("alice")

        reply = bob.next_message(topic="chat", timeout=5)  # listening starts now: nothing sent after is missed
        await alice.publish({"hello": "room"}, topic="chat")
        msg = await reply
        assert msg.sender == "alice" and msg.text == '{"hello":"room"}' and msg.kind is lk.DataKind.RELIABLE

        batch = bob.messages(topic="chat", count=2, timeout=5)
        await alice.publish("one", topic="chat")
        await alice.publish("two", topic="chat", destinations=["bob"])
        assert [m.text async for m in batch] == ["one", "two"]

        try:
            await bob.next_message(topic="silence", timeout=0.3)
        except lk.WaitTimeoutError as exc:
            assert "silence" in str(exc)
        else:
            raise AssertionError("a message nobody sent arrived")

        frame = bob.messages_frame()
        assert list(frame.columns) == [
            "type",
            "sender",
            "sender_candidates",
            "topic",
            "kind",
            "size",
            "payload",
            "received_at",
            "sent",
            "destinations",
        ], list(frame.columns)
        assert set(frame.type) == {"packet"} and set(frame.kind) == {"reliable"}
        assert frame.sender_candidates.isna().all()  # every sender was known: nothing to look up
        print(frame[["sender", "topic", "kind", "payload"]].to_string())
    print("OK task 3")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
