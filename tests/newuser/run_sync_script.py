"""The friction of issue 22 point 2: run_sync twice in a script. The second call must say what is wrong (the loop
the session joined on has stopped) and what to do, at once, instead of blaming permissions after 5 s."""

import sys
import time

import lk_notebook as lk

session = lk.run_sync(lk.join(sys.argv[1], identity="script-user"))
start = time.monotonic()
try:
    lk.run_sync(session.set_attributes({"status": "away"}))
except lk.EventLoopError as exc:
    assert "asyncio.run" in str(exc) and "await" in str(exc), exc
    assert time.monotonic() - start < 1.0
    print("EventLoopError:", exc)
else:
    raise AssertionError("run_sync on a stopped loop did not raise")
