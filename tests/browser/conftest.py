"""Fixtures shared by the browser tests: a headless Debian Chromium page driven by Playwright."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ._jupyter import CHROMIUM, CHROMIUM_ARGS


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
