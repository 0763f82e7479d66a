"""Credentials: resolve_credentials' precedence and errors, and the zero-config path (no LIVEKIT_* at all)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

import lk_notebook as lk
from lk_notebook.config import resolve_credentials

from .conftest import env_without_livekit

URL, KEY, SECRET = "ws://example.invalid:7880", "env-key", "e" * 40


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for var in ("LIVEKIT_URL", "LIVEKIT_API_KEY", "LIVEKIT_API_SECRET"):
        monkeypatch.delenv(var, raising=False)
    return monkeypatch


def test_explicit_arguments_win_over_the_environment(env: pytest.MonkeyPatch) -> None:
    env.setenv("LIVEKIT_URL", URL)
    env.setenv("LIVEKIT_API_KEY", KEY)
    env.setenv("LIVEKIT_API_SECRET", SECRET)
    c = resolve_credentials("ws://mine:1", "my-key", "m" * 40)
    assert (c.url, c.api_key, c.api_secret, c.source) == ("ws://mine:1", "my-key", "m" * 40, "explicit")
    # Partly explicit: the gaps are filled from the environment only.
    c = resolve_credentials(url="ws://mine:1")
    assert (c.url, c.api_key, c.api_secret, c.source) == ("ws://mine:1", KEY, SECRET, "explicit")
    c = resolve_credentials()
    assert (c.url, c.api_key, c.api_secret, c.source) == (URL, KEY, SECRET, "environment")


def test_partly_explicit_without_the_rest_in_the_environment_names_what_is_missing(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(lk.CredentialsError, match=r"missing api_key, api_secret") as err:
        resolve_credentials(url="ws://mine:1")
    assert "local server" in str(err.value)
    env.setenv("LIVEKIT_API_KEY", KEY)
    with pytest.raises(lk.CredentialsError, match=r"missing api_secret"):
        resolve_credentials(url="ws://mine:1")


@pytest.mark.parametrize(
    ("present", "missing"),
    [
        ({"LIVEKIT_URL": URL}, "LIVEKIT_API_KEY, LIVEKIT_API_SECRET not set"),
        ({"LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}, "LIVEKIT_URL not set"),
        ({"LIVEKIT_URL": URL, "LIVEKIT_API_KEY": KEY}, "LIVEKIT_API_SECRET not set"),
    ],
)
def test_a_partial_environment_is_an_error_not_a_local_server(
    env: pytest.MonkeyPatch, present: dict[str, str], missing: str
) -> None:
    for var, value in present.items():
        env.setenv(var, value)
    with pytest.raises(lk.CredentialsError, match=missing) as err:
        resolve_credentials()  # start_local=True: still no silent fallback to a local server
    assert SECRET not in str(err.value)


def test_nothing_set_and_no_local_server_allowed(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(lk.CredentialsError, match="no credentials"):
        resolve_credentials(start_local=False)


@pytest.mark.server
def test_zero_config_join_starts_a_local_server_that_stops_at_exit(tmp_path: Path) -> None:
    # What a user with nothing configured runs: no LIVEKIT_* at all, so join() starts the default local server.
    script = """
import asyncio, lk_notebook as lk
async def main():
    s = await lk.join("zero-config", identity="me", attributes={"k": "v"})
    srv = lk.default_server()
    print(s.credentials.source, s.credentials.url == srv.url, srv.pid(), srv.log_path, flush=True)
    assert s.state.local is not None and dict(s.state.local.attributes) == {"k": "v"}
    await s.leave()
asyncio.run(main())
"""
    proc = subprocess.run(
        [sys.executable, "-c", script], env=env_without_livekit(), capture_output=True, text=True, timeout=120
    )
    fields = proc.stdout.split()
    assert len(fields) == 5, proc.stdout + proc.stderr
    source1, source2, same_url, pid, log_path = fields
    assert (source1, source2, same_url) == ("local", "server", "True")
    # Stopped by the interpreter's exit handler (a graceful stop: the server logs its shutdown), not only by the
    # parent-death signal (SIGKILL, which leaves no such line).
    deadline = time.monotonic() + 10  # the server drains for at most LocalServer.stop's 10 s
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), f"the default server {pid} outlived its interpreter"
    assert "exit requested, shutting down" in Path(log_path).read_text(), Path(log_path).read_text()[-2000:]
