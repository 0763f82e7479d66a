"""Task 1: join a room and watch it. A peer that publishes nothing shows up on the server's ~3 s tick, so wait for
it by name; its starting attributes and metadata (and a change it made before it was announced) are in the history.

Run: LIVEKIT_URL=... LIVEKIT_API_KEY=... LIVEKIT_API_SECRET=... python task_1_watch_a_room.py ROOM
"""

import asyncio
import json
import sys

import lk_notebook as lk


async def main(room: str) -> None:
    async with await lk.join(room, identity="alice") as alice:
        bob = await lk.join(room, identity="bob", attributes={"role": "guest"}, metadata="v1")
        async with bob:
            await bob.set_metadata("v2")  # before alice was told of bob (data-only peers wait for the tick)
            seen = await alice.wait_for_participant("bob", timeout=10)
            assert seen.metadata == "v2" and seen.attributes["role"] == "guest", seen

            history = alice.state.history_frame()
            joined = history[(history.identity == "bob") & (history.kind == "joined")].iloc[0]
            start = json.loads(joined.new)
            assert start == {"name": "", "metadata": "v2", "attributes": {"role": "guest"}}, start
            assert joined.old is None, joined.old  # not NaN, not ''
            print(history.tail(3).to_string())

            try:
                await alice.wait_for_participant("carol", timeout=0.5)
            except lk.WaitTimeoutError as exc:
                assert "'bob'" in str(exc) and "carol" in str(exc), exc  # it says who IS there
                print("as expected:", exc)
            else:
                raise AssertionError("no timeout for a participant who never came")
    print("OK task 1")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
