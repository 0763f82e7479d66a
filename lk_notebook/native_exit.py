"""Leaving the process with the native SDK quiet, so that interpreter exit cannot abort it.

livekit-ffi (Rust) calls into Python from its own threads: every log record of its runtime (it captures them all,
down to trace level, and forwards each one at once) and every event goes through one C callback. After interpreter
finalisation has begun, a thread that enters Python is ended with pthread_exit; that unwinds through the Rust
`extern "C"` frame and aborts the process: "panic in a function that cannot unwind", exit -6, after the program's
output (seen in CI after a refused join; reproduced 1 in 120 runs of tests/newuser/wrong_secret.py, 8 at a time under
three CPU burners).

livekit's own atexit hook disposes the native server, which stops forwarding (it unsets the callback), but a callback
already on its way waits for the GIL that the main thread takes back right away, and gets it only once finalisation
has begun. The hook registered here runs before livekit's (atexit runs hooks last-in, first-out): it disposes the
native server itself, then releases the GIL for a moment, so that a callback already on its way returns while Python
is still whole. livekit's hook then finds the server disposed and does nothing.
"""

from __future__ import annotations

import atexit
import threading
import time

from livekit.rtc._ffi_client import FfiClient

__all__ = ["quiet_native_exit"]

SETTLE_S = 0.05
"""How long the main thread leaves the GIL to callbacks already inside the native callback when the process ends."""

_lock = threading.Lock()
_registered = False


def quiet_native_exit() -> None:
    """Make this process dispose of the native SDK before livekit's own exit hook, then let late callbacks finish.

    Idempotent; call it before the first native request of a session (it creates livekit's FFI client, whose exit
    hook must be registered before this one so that this one runs first).
    """
    global _registered
    with _lock:
        if _registered:
            return
        FfiClient.instance  # noqa: B018 (creates the client and registers livekit's exit hook, which runs after ours)
        atexit.register(_dispose_then_settle)
        _registered = True


def _dispose_then_settle() -> None:
    client = FfiClient._instance
    if client is None:
        return
    client._dispose()  # no new callback starts from here on (the native server unsets it)
    time.sleep(SETTLE_S)  # the GIL is free: a callback already past the native server's check runs to its end now
