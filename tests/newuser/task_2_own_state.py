"""Task 2: set my attributes and metadata; see a peer's change, waiting with a deadline that raises.

Run: python task_2_own_state.py ROOM (with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET exported)
"""

import asyncio
import sys

import lk_notebook as lk


async def main(room: str) -> None:
    async with await lk.join(room, identity="alice") as alice, await lk.join(room, identity="bob") as bob:
        await alice.set_attributes({"status": "away"})  # returns once the server has applied it
        await alice.set_metadata('{"hand": "raised"}')
        assert alice.state.local is not None and alice.state.local.attributes["status"] == "away"

        await bob.wait_for_participant("alice")
        await bob.wait_for(
            lambda s: "alice" in s and s.participants["alice"].metadata == '{"hand": "raised"}',
            timeout=5,
            raise_on_timeout=True,
            what="alice's raised hand",
        )
        assert bob.state.participants["alice"].attributes["status"] == "away"

        await bob.set_attributes({"mood": "calm"})
        await alice.wait_for(
            lambda s: "bob" in s and s.participants["bob"].attributes.get("mood") == "calm",
            timeout=5,
            raise_on_timeout=True,
        )
        assert not await alice.wait_for(lambda s: "nobody" in s, timeout=0.2)  # the old answer: False
        try:
            await alice.wait_for(lambda s: "nobody" in s, timeout=0.2, raise_on_timeout=True, what="nobody")
        except lk.WaitTimeoutError as exc:
            assert "nobody" in str(exc)
        else:
            raise AssertionError("raise_on_timeout did not raise")
        print(alice.state.to_frame()[["name", "metadata"]].to_string())
    assert alice.disconnect_reason == "left", alice.disconnect_reason  # as its docstring says, after leave()
    print("OK task 2")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
