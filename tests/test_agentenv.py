"""The test agent's environment builder fails with what to install, never silently (tests/agentenv.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lk_notebook.config import Credentials
from tests import agentenv


def test_environment_path_follows_the_pinned_requirements(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LK_NOTEBOOK_CACHE", str(tmp_path))
    pinned = agentenv.venv_dir()
    assert pinned.parent == tmp_path and pinned.name.startswith("agent-venv-")
    changed = tmp_path / "requirements.txt"
    changed.write_text(agentenv.REQUIREMENTS.read_text() + "extra==1.0\n")
    monkeypatch.setattr(agentenv, "REQUIREMENTS", changed)
    assert agentenv.venv_dir() != pinned


def test_no_venv_module_names_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LK_NOTEBOOK_CACHE", str(tmp_path))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-such-python"))
    with pytest.raises(agentenv.AgentEnvError, match=r"creating the agent's virtual environment failed .*python3-venv"):
        agentenv.agent_python(progress=False)
    assert not (agentenv.venv_dir() / ".complete").exists()  # a failed build is never reused


def test_a_failing_install_says_what_to_run() -> None:
    with pytest.raises(agentenv.AgentEnvError, match=r"installing x failed \(exit 3\)\. run pip yourself\n.*boom"):
        agentenv.run_step(
            [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"], "installing x", "run pip yourself"
        )


def fake_agent(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, program: str) -> None:
    script = tmp_path / "agent.py"
    script.write_text(program)
    monkeypatch.setattr(agentenv, "AGENT_PROGRAM", script)
    monkeypatch.setattr(agentenv, "agent_python", lambda progress=True: (Path(sys.executable), 0.0))


CREDENTIALS = Credentials("ws://127.0.0.1:1", "key", "secret", "test")


def test_the_worker_is_killed_when_the_test_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # the fake worker ignores SIGTERM, as a stuck one would: the fixture must still end it
    program = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('READY w1', flush=True)\n"
    fake_agent(monkeypatch, tmp_path, program + "while True: time.sleep(1)\n")
    monkeypatch.setattr(agentenv, "TERM_GRACE", 0.5)
    with pytest.raises(RuntimeError, match="the test failed"), agentenv.agent_worker(CREDENTIALS, "a") as worker:
        assert worker.ready_seconds > 0 and worker.process.poll() is None
        raise RuntimeError("the test failed")
    assert worker.process.poll() is not None


def test_a_worker_that_exits_before_ready_fails_with_its_output(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake_agent(monkeypatch, tmp_path, "print('no credentials'); raise SystemExit(2)\n")
    failure = pytest.raises(agentenv.AgentEnvError, match=r"did not register .*exit 2.*\n.*no credentials")
    with failure, agentenv.agent_worker(CREDENTIALS, "a"):
        pass
