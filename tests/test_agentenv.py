"""The test agent's environment builder fails with what to install, never silently (tests/agentenv.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
