"""The test agent's virtual environment and worker process (tests/agent/).

livekit-agents 1.8.9 pins livekit==1.1.21 while lk_notebook uses a newer livekit, so the agent cannot share this
interpreter: like the JS peer's npm install, it gets its own environment, built once from the pinned
tests/agent/requirements.txt into the project cache (agent-venv-<hash of requirements and Python version>) and
reused. When it cannot be built, the test fails with what to install; it is never skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from livekit import api

from lk_notebook.config import Credentials
from lk_notebook.install import cache_dir

AGENT_DIR = Path(__file__).resolve().parent / "agent"
REQUIREMENTS = AGENT_DIR / "requirements.txt"
AGENT_PROGRAM = AGENT_DIR / "agent.py"
TERM_GRACE = 10.0
"""Seconds the worker gets to leave after SIGTERM before SIGKILL."""
_COMPLETE = ".complete"
"""Written last: a venv without it is a half-built one (interrupted install) and is rebuilt."""


class AgentEnvError(RuntimeError):
    pass


def venv_dir() -> Path:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes() + sys.version.encode()).hexdigest()[:12]
    return cache_dir() / f"agent-venv-{digest}"


def run_step(command: list[str], what: str, remedy: str) -> None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AgentEnvError(f"{what} failed ({exc}). {remedy}") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        raise AgentEnvError(f"{what} failed (exit {done.returncode}). {remedy}\n{tail}")


def agent_python(progress: bool = True) -> tuple[Path, float]:
    """The agent environment's interpreter, building the environment when missing; and the seconds the build took
    (0.0 when reused)."""
    venv = venv_dir()
    python = venv / "bin" / "python"
    venv.parent.mkdir(parents=True, exist_ok=True)
    # A lock, not a check-then-build: two pytest processes (xdist) may want it at once.
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (venv / _COMPLETE).exists():
            return python, 0.0
        if progress:
            print(f"building the test agent's environment in {venv} (about a minute, once)", flush=True)
        start = time.monotonic()
        run_step(
            [sys.executable, "-m", "venv", "--clear", str(venv)],
            "creating the agent's virtual environment",
            "Install Python's venv module with pip (Debian: `apt-get install python3-venv`).",
        )
        run_step(
            [str(python), "-m", "pip", "install", "--disable-pip-version-check", "-q", "-r", str(REQUIREMENTS)],
            f"installing {REQUIREMENTS.name} into {venv}",
            f"The test agent needs livekit-agents==1.8.9 from PyPI: make PyPI reachable, or run "
            f"`{python} -m pip install -r {REQUIREMENTS}` yourself.",
        )
        seconds = time.monotonic() - start
        (venv / _COMPLETE).write_text(f"{seconds:.1f}\n")
        return python, seconds


@dataclass
class AgentProcess:
    """A running agent worker; `ready_seconds` is launch to registered."""

    process: subprocess.Popen[str]
    agent_name: str
    ready_seconds: float
    output: list[str] = field(default_factory=list)
    """Its stdout and stderr lines, for failure messages."""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.output[-lines:])


def _pump(stream: object, sink: list[str], ready: threading.Event) -> None:
    for line in stream:  # type: ignore[attr-defined]
        sink.append(line.rstrip("\n"))
        if line.startswith("READY "):
            ready.set()


@contextlib.contextmanager
def agent_worker(
    credentials: Credentials, agent_name: str, *, ready_timeout: float = 60.0, session_host: bool = True
) -> Iterator[AgentProcess]:
    """Launch tests/agent/agent.py registered as `agent_name` on the server of `credentials`; kill it (and its job
    threads) on exit, whatever happened. `session_host=False`: an agent without the lk.agent.session channel."""
    python, _ = agent_python()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEKIT_") and k != "PYTHONPATH"}
    env.update(
        LIVEKIT_URL=credentials.url, LIVEKIT_API_KEY=credentials.api_key, LIVEKIT_API_SECRET=credentials.api_secret
    )
    start = time.monotonic()
    process = subprocess.Popen(
        [str(python), str(AGENT_PROGRAM), agent_name, *([] if session_host else ["--no-session-host"])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: the kill below reaches any child it forked
    )
    output: list[str] = []
    ready = threading.Event()
    pump = threading.Thread(target=_pump, args=(process.stdout, output, ready), daemon=True)
    pump.start()
    try:
        while not ready.wait(0.05):
            if process.poll() is not None or time.monotonic() - start > ready_timeout:
                tail = "\n".join(output[-40:])
                raise AgentEnvError(
                    f"the test agent did not register within {ready_timeout} s (exit {process.poll()}):\n{tail}"
                )
        yield AgentProcess(process, agent_name, time.monotonic() - start, output)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 15)
        try:
            process.wait(timeout=TERM_GRACE)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, 9)
            process.wait(timeout=10)
        pump.join(timeout=5)


@contextlib.contextmanager
def logged_agent(
    credentials: Credentials, prefix: str, *, session_host: bool = True, tail: int = 40
) -> Iterator[AgentProcess]:
    """A module fixture's agent: `agent_worker` registered as `prefix-<random>`, and its last `tail` log lines
    printed when it stops (pytest shows them beside a failed test: what the agent said about it)."""
    with agent_worker(credentials, f"{prefix}-{uuid.uuid4().hex[:6]}", session_host=session_host) as process:
        try:
            yield process
        finally:
            print(f"agent {process.agent_name} log (last lines):\n" + process.log_tail(tail))


async def dispatch(credentials: Credentials, agent_name: str, room: str, *, participant: str | None = None) -> None:
    """Ask the server to dispatch `agent_name` into `room` (created if needed). `participant`: the identity the test
    agent links to (reads lk.chat from), passed in the dispatch's metadata."""
    metadata = json.dumps({"participant_identity": participant}) if participant else ""
    async with api.LiveKitAPI(credentials.url, credentials.api_key, credentials.api_secret) as lkapi:
        await lkapi.agent_dispatch.create_dispatch(
            api.CreateAgentDispatchRequest(agent_name=agent_name, room=room, metadata=metadata)
        )


@contextlib.contextmanager
def demo_agent(credentials: Credentials | None = None, *, session_host: bool = True) -> Iterator[AgentProcess]:
    """The scripted test agent as a demo (notebook 10): a worker registered under a fresh name on the server of
    `credentials` (default: LIVEKIT_* or the local server); `await dispatch(creds, worker.agent_name, room)` sends
    it into a room. Stopped on exit."""
    import uuid

    from lk_notebook.config import resolve_credentials

    creds = credentials or resolve_credentials()
    with agent_worker(creds, f"demo-agent-{uuid.uuid4().hex[:6]}", session_host=session_host) as worker:
        yield worker
