"""A wrong (and short) secret: only the clear AuthenticationError, no PyJWT warning, no native SDK log lines."""

import asyncio
import os
import sys

import lk_notebook as lk


async def main() -> None:
    try:
        key = os.environ["LIVEKIT_API_KEY"]
        await lk.join(sys.argv[1], identity="x", url=os.environ["LIVEKIT_URL"], api_key=key, api_secret="wrong")
    except lk.AuthenticationError as exc:
        print("AuthenticationError:", exc)
    else:
        raise AssertionError("a wrong secret was accepted")


asyncio.run(main())
