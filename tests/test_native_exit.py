"""lk_notebook disposes of the native SDK at exit before livekit's own hook, then leaves late callbacks time to end.

How often a process aborts at exit without and with this: `python bench/native_exit.py` (lk_notebook/native_exit.py
has the mechanism).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import inspect
    from livekit.rtc._ffi_client import FfiClient
    from lk_notebook.native_exit import quiet_native_exit

    real = FfiClient._dispose

    def spy(self):
        print(inspect.stack()[1].function, FfiClient._ffi_disposed, flush=True)
        real(self)

    FfiClient._dispose = spy
    quiet_native_exit()
    quiet_native_exit()  # idempotent: one hook
    """
)


def test_the_native_sdk_is_disposed_by_lk_notebook_first_at_exit() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    # Ours runs first and disposes; livekit's hook then finds the server disposed (and returns at once).
    assert out.stdout.split() == ["_dispose_then_settle", "False", "_dispose_lk_ffi", "True"], out.stdout
    assert out.stderr == "", out.stderr
