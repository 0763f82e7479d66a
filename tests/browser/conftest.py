"""Fixtures shared by the browser tests: a headless Debian Chromium page driven by Playwright, and the JupyterLab
(or Notebook 7) server each test module describes in its `LAB = LabSetup(...)`."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator

import pytest

from ._jupyter import CHROMIUM, CHROMIUM_ARGS, LabSetup, RunningLab, jupyterlab_server


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[RunningLab]:
    """A server (no token, loopback) with scratch copies of the module's notebooks, whose kernels join the test
    server (conftest exported LIVEKIT_*) and get a room of their own in LK_BROWSER_ROOM."""
    setup = request.module.LAB
    assert isinstance(setup, LabSetup), f"{request.module.__name__} needs LAB = LabSetup(...)"
    assert "LIVEKIT_URL" in os.environ, "conftest did not export LIVEKIT_* (no test server?)"
    room = f"{setup.name}-{os.getpid()}-{int(time.time())}"
    root = tmp_path_factory.mktemp(setup.name)
    env = {**os.environ, "LK_BROWSER_ROOM": room}
    with jupyterlab_server(root, list(setup.notebooks), env=env, log_name=setup.log_name, app=setup.app) as url:
        yield RunningLab(url, root, room, setup.app)


@pytest.fixture
async def page() -> AsyncIterator[object]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context(viewport={"width": 1400, "height": 1800})
        pg = await context.new_page()
        try:
            yield pg
        finally:
            await context.close()
            await browser.close()
