"""`lk-notebook server ...` as a child process, the way the tests and the cluster benchmark start it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import env_without_livekit

REPO = Path(__file__).resolve().parent.parent


def start_cli_server(*args: str, stderr: int | None = None) -> subprocess.Popen[str]:
    """`python -m lk_notebook.cli server ARGS`, its stdout piped as text; with no LIVEKIT_* in its environment (so
    it starts its own server) and this checkout first on its path."""
    return subprocess.Popen(
        [sys.executable, "-m", "lk_notebook.cli", "server", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**env_without_livekit(), "PYTHONPATH": str(REPO)},
    )
