"""`lk-notebook lab` in Chromium: no "Would you like to get notified about official Jupyter news?" prompt.

The lab is started exactly as a user starts it (`python -m lk_notebook.cli lab`), not by the shared fixture, because
what is tested is how the command configures JupyterLab. A control run of plain `jupyter lab` with the same server
flags (`--LabApp.news_url=None`, the old fix) shows the prompt, so the absence is the command's doing, not a
JupyterLab that stopped asking.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from lk_notebook.quiet_lab import QUIET_LAB_ARGS

from ._jupyter import SCREENSHOTS, check_prerequisites, free_port

pytestmark = [pytest.mark.server, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]
PROMPT = "Would you like to get notified about official Jupyter news?"
TOKEN = "lk-news"


@contextmanager
def started(cmd: list[str], port: int, tmp: Path) -> Iterator[str]:
    """Run `cmd` (a JupyterLab on `port`, token TOKEN) until it answers; yields its /lab URL; stops it."""
    # A settings dir of its own: a choice saved by an earlier run would hide the prompt in the control.
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings")}
    log = (tmp / "lab.log").open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (tmp / "lab.log").read_text()[-2000:]
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={TOKEN}", timeout=2) as r:
                    json.load(r)
                break
            except OSError:
                assert time.monotonic() < deadline, "JupyterLab did not answer within 90 s"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/lab?token={TOKEN}"
    finally:
        proc.terminate()  # lk-notebook stops JupyterLab (and no server: LIVEKIT_URL is the test server's)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def prompt_shown_within(page: object, url: str, seconds: float, shot: str) -> bool:
    from playwright.async_api import Page
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    assert isinstance(page, Page)
    await page.goto(url, wait_until="domcontentloaded", timeout=90_000)
    await page.locator("#jp-main-dock-panel").wait_for(timeout=90_000)
    try:
        await page.get_by_text(PROMPT).first.wait_for(timeout=seconds * 1000)
        shown = True
    except PlaywrightTimeout:  # the prompt never came
        shown = False
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / shot))
    return shown


async def test_lk_notebook_lab_shows_no_news_prompt(page: object, tmp_path: Path) -> None:
    check_prerequisites("lab")
    port = free_port()
    cmd = [sys.executable, "-m", "lk_notebook.cli", "lab", "--no-browser", "--port", str(port), "--ip", "127.0.0.1"]
    cmd += ["--", f"--IdentityProvider.token={TOKEN}"]
    with started(cmd, port, tmp_path) as url:
        assert not await prompt_shown_within(page, url, 15, "lk-notebook-lab-no-news.png")


async def test_control_plain_jupyter_lab_with_news_url_none_still_asks(page: object, tmp_path: Path) -> None:
    check_prerequisites("lab")
    port = free_port()
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", f"--port={port}"]
    cmd += ["--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}", f"--ServerApp.root_dir={tmp_path}", *QUIET_LAB_ARGS]
    with started(cmd, port, tmp_path) as url:
        assert await prompt_shown_within(page, url, 30, "jupyter-lab-news-prompt-control.png")
