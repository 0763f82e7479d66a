"""Shared pieces of the browser tests: a JupyterLab server started by the test, Debian's Chromium, notebook helpers.

Missing Chromium or JupyterLab fails the test (assertions here): nothing is skipped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lk_notebook.quiet_lab import QUIET_LAB_ARGS, quiet_lab_env

from ..conftest import ARTIFACTS, eventually

HERE = Path(__file__).resolve().parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ARTIFACTS / "screenshots"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


LAB_QUIET = QUIET_LAB_ARGS  # as `lk-notebook lab` runs it (with quiet_lab_env: no news prompt in any screenshot)

#: The front ends the browser tests drive: JupyterLab, and Jupyter Notebook 7 (same widget manager, other shell).
APPS = {"lab": ("jupyterlab", "JupyterLab"), "notebook": ("notebook", "Jupyter Notebook 7 (pip install notebook)")}


def check_prerequisites(app: str = "lab") -> None:
    """Fail (not skip) when Debian's Chromium or the front end is missing."""
    assert os.path.exists(CHROMIUM), f"{CHROMIUM} is missing: install Debian's chromium package"
    module, what = APPS[app]
    probe = subprocess.run([sys.executable, "-m", module, "--version"], capture_output=True, text=True)
    assert probe.returncode == 0, f"{what} is not installed: {probe.stderr[-500:]}"


@contextmanager
def jupyterlab_server(
    root: Path, notebooks: list[str], *, env: Mapping[str, str], log_name: str = "jupyterlab.log", app: str = "lab"
) -> Iterator[str]:
    """A JupyterLab (or, with app="notebook", Notebook 7) server (no token, loopback) serving copies of `notebooks`
    (from tests/browser) in `root`.

    `env` is the server's (and so its kernels') whole environment. Widget state is saved with the notebook, so a
    test can check what ends up in the file. Yields the server's base URL; stops the server on exit.
    """
    check_prerequisites(app)
    for name in notebooks:
        shutil.copy(HERE / name, root / name)
    settings = root / ".settings"
    widget_settings = settings / "@jupyter-widgets" / "jupyterlab-manager"
    widget_settings.mkdir(parents=True)
    (widget_settings / "plugin.jupyterlab-settings").write_text(json.dumps({"saveState": True}))
    port = free_port()
    full_env = {
        **env,
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(root / ".workspaces"),
    }
    if app == "lab":
        full_env = quiet_lab_env(root / ".jupyter-config", full_env)
    log_path = ARTIFACTS / log_name
    log = log_path.open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            APPS[app][0],
            "--no-browser",
            "--allow-root",
            f"--port={port}",
            "--ip=127.0.0.1",
            f"--ServerApp.root_dir={root}",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            "--ServerApp.disable_check_xsrf=True",
            *(LAB_QUIET if app == "lab" else ()),
        ],
        env=full_env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"{APPS[app][1]} exited: see {log_path}"
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, f"{APPS[app][1]} did not start within 60 s"
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


async def open_notebook(page: Any, url: str, name: str, *, app: str = "lab") -> None:
    """Open `name` in JupyterLab (or Notebook 7) and wait for the notebook and an idle kernel."""
    path = f"/lab/tree/{name}" if app == "lab" else f"/notebooks/{name}"
    await page.goto(url + path, wait_until="domcontentloaded", timeout=90_000)
    await page.locator(".jp-Notebook").first.wait_for(timeout=90_000)
    if app == "lab":
        await page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=90_000)
    else:
        # Notebook 7 has no status bar. Its execution indicator says "idle" before a kernel is attached, so wait
        # for the kernel's name in the toolbar first (a Run All before that ran nothing under load).
        kernel = page.locator(".jp-KernelName", has_text="Python 3 (ipykernel)")
        await kernel.first.wait_for(timeout=90_000)
        await page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').wait_for(timeout=90_000)


#: Where the browser tests record a start-up race that needed the one allowed second "Run All" click (a count per
#: line, kept across runs so that a rising rate is visible in CI artifacts).
RETRY_LOG = ARTIFACTS / "browser-run-all-retries.log"

_EXECUTING = r"\[(\*|\d+)\]"  # an input prompt that says the cell was queued, is running or has run


async def run_all_cells(page: Any, ready: str, *, ready_timeout: float = 60_000) -> None:
    """Run > Run All Cells, then wait for `ready` (a selector).

    Known JupyterLab start-up race: the menu click can land before the notebook panel has taken focus, and then
    nothing runs. That, and only that, is retried once: if no cell shows an execution prompt ([*] or [n]) within
    15 s of the click, the miss is logged to RETRY_LOG and printed, and the click repeated; a second miss fails the
    test. Once cells run, a missing `ready` is a real failure and is never retried (cells are not run twice).
    """
    import re

    from playwright.async_api import TimeoutError as PlaywrightTimeout

    prompts = page.locator(".jp-InputArea-prompt", has_text=re.compile(_EXECUTING))
    for attempt in (1, 2):
        try:
            await page.get_by_role("menuitem", name="Run", exact=True).click()
            await page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
        except Exception:
            # What blocked the click (a dialog, a menu left open) is in the picture.
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"failed-run-all-{int(time.time())}.png"), full_page=True)
            raise
        try:
            await prompts.first.wait_for(timeout=15_000)
            break
        except PlaywrightTimeout:
            if attempt == 2:
                raise AssertionError("Run All Cells ran no cell twice in a row (not the start-up race)") from None
            line = f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {page.url}: Run All Cells ran no cell; clicking once more"
            print(f"browser test: {line}")
            with RETRY_LOG.open("a") as f:
                f.write(line + "\n")
    await page.locator(ready).first.wait_for(timeout=ready_timeout)


@dataclass(frozen=True)
class LabSetup:
    """What a browser test module serves: `LAB = LabSetup(...)` at its top, read by the `jupyterlab` fixture."""

    name: str
    """Names the scratch folder and starts the room name the kernels get in LK_BROWSER_ROOM."""
    notebooks: tuple[str, ...]
    log_name: str = "jupyterlab.log"
    app: str = "lab"
    """"lab" (JupyterLab) or "notebook" (Notebook 7)."""


@dataclass(frozen=True)
class RunningLab:
    """A started server of a LabSetup (the `jupyterlab` fixture)."""

    url: str
    root: Path
    """Where the notebooks are: a test reads a saved notebook here."""
    room: str
    """The room the notebooks join (LK_BROWSER_ROOM in their kernels)."""
    app: str

    async def run(self, page: object, notebook: str, *, ready: str) -> Any:
        """Open `notebook` in `page`, run every cell, and wait for `ready` (a selector); returns the Page."""
        from playwright.async_api import Page

        assert isinstance(page, Page)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await open_notebook(page, self.url, notebook, app=self.app)
        await run_all_cells(page, ready)
        return page


async def save_with_widget_state(page: Any, notebook: Path) -> str:
    """Save the open notebook (Ctrl+S: JupyterLab saves widget state with it) and return the saved text."""
    await page.keyboard.press("Control+s")
    await eventually(
        lambda: "application/vnd.jupyter.widget-state+json" in notebook.read_text(), timeout=20, what="saved state"
    )
    return await asyncio.to_thread(notebook.read_text)
