"""Task 5: RPC with a mistyped identity and a handler that fails; dict answers; the timeout given is kept.

Run: python task_5_rpc.py ROOM (with LIVEKIT_URL, LIVEKIT_API_KEY, LIVEKIT_API_SECRET exported)
"""

import asyncio
import json
import sys
import time

import lk_notebook as lk

ORDERS = {"7": {"item": "book", "paid": True}}


def lookup(call):
    return ORDERS[json.loads(call.payload)["id"]]  # a dict: sent as JSON; an unknown id raises KeyError


async def slow(call):
    await asyncio.sleep(30)
    return "late"


async def main(room: str) -> None:
    async with await lk.join(room, identity="alice") as alice, await lk.join(room, identity="bob") as bob:
        await alice.wait_for_participant("bob")
        bob.register_rpc_method("lookup", lookup)
        bob.register_rpc_method("slow", slow)

        start = time.monotonic()
        try:
            await alice.perform_rpc("Bob", "lookup", '{"id": "7"}', timeout=5)
        except lk.RpcError as exc:
            took = time.monotonic() - start
            assert exc.code == 1401 and "Did you mean 'bob'" in str(exc) and "in the room: 'bob'" in str(exc), exc
            assert took < 1.0, took  # at once, not after the SDK's 7 s
            print(f"mistyped identity, after {took * 1000:.0f} ms: {exc}")
        else:
            raise AssertionError("an RPC to an absent identity succeeded")

        answer = await alice.perform_rpc("bob", "lookup", '{"id": "7"}')
        assert json.loads(answer.response) == {"item": "book", "paid": True}, answer.response

        try:
            await alice.perform_rpc("bob", "lookup", '{"id": "8"}')
        except lk.RpcError as exc:
            assert exc.code == 1500 and "KeyError" in str(exc) and "'8'" in str(exc), exc
            print("handler error, as the caller sees it:", exc)
        else:
            raise AssertionError("a failing handler answered")

        start = time.monotonic()
        try:
            await alice.perform_rpc("bob", "slow", "", timeout=1.5)
        except lk.RpcError as exc:
            took = time.monotonic() - start
            assert exc.code == 1502 and 1.4 <= took < 2.5, (exc, took)
            print(f"timeout=1.5 kept: raised after {took:.2f} s")
        else:
            raise AssertionError("the slow handler answered")
        assert any("lookup" in where and isinstance(e, KeyError) for _, where, e in bob.errors)
        # bob's side records the call it stopped at the deadline (LiveKit's 1502 too) before anyone leaves.
        for _ in range(100):
            if any(r.method == "slow" and not r.pending for r in bob.rpc_calls):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError(f"bob never ended the slow call: {bob.rpc_calls}")
    print("OK task 5")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
