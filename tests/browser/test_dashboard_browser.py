"""The Dashboard in a real JupyterLab, driven by Playwright with Debian's Chromium, against a real server.

JupyterLab is started by the test with the LIVEKIT_* variables conftest exported (so its kernel joins the test
server) and opens tests/browser/dashboard.ipynb (copied to a scratch directory). A second real client joins with
attributes and sends a message; the page must show the row, the values and the message; an attribute change must
update its cell; a message sent from the Composer must reach the second client. A token pasted into the join
form's masked field and the API secret must not be in the notebook saved with widget state.

Missing Chromium or JupyterLab fails the test: nothing here is skipped.
"""

from __future__ import annotations

import json

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials

from ..conftest import eventually
from ._jupyter import SCREENSHOTS, LabSetup, RunningLab, save_with_widget_state

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LAB = LabSetup("browser", ("dashboard.ipynb",))


async def test_dashboard_in_jupyterlab(jupyterlab: RunningLab, page: object, credentials: Credentials) -> None:
    from playwright.async_api import expect

    browser_room, root = jupyterlab.room, jupyterlab.root
    # Wait for the notebook and an idle kernel, then run every cell.
    page = await jupyterlab.run(page, "dashboard.ipynb", ready=".lk-room-panel")

    table = page.locator(".lk-table")
    await expect(table.locator('tr[data-identity="notebook-user"]')).to_be_visible(timeout=60_000)

    # A second real client joins with attributes, and sends a message.
    long_metadata = json.dumps({"team": "blue", "bio": "x" * 80, "tags": ["a", "b"]})
    peer = await lk.join(
        browser_room,
        identity="browser-peer",
        name="Peer",
        attributes={"color": "red", "n": "1"},
        metadata=long_metadata,
    )
    received: list[lk.Message] = []
    peer.on_message(received.append)
    try:
        row = table.locator('tr[data-identity="browser-peer"]')
        await expect(row).to_be_visible(timeout=20_000)
        await expect(row.locator('td[data-col="a:color"]')).to_have_text("red", timeout=10_000)
        await expect(row.locator('td[data-col="a:n"]')).to_have_text("1")
        await expect(row.locator('td[data-col="name"]')).to_have_text("Peer")
        await expect(table.locator('tr[data-identity="notebook-user"] .lk-local')).to_be_visible()

        # Metadata: JSON, truncated, expandable to pretty JSON.
        meta = row.locator('td[data-col="metadata"]')
        await expect(meta).to_contain_text('{"team":"blue"')
        await meta.locator("button.lk-expand").click()
        await expect(page.locator(".lk-table-detail pre")).to_contain_text('"team": "blue"')
        # Filter (key=value and text) and sort.
        rows = table.locator("tbody tr[data-identity]")
        await expect(rows).to_have_count(2)
        await table.locator("input.lk-table-filter").fill("color=red")
        await expect(rows).to_have_count(1)
        await table.locator("input.lk-table-filter").fill("")
        await expect(rows).to_have_count(2)
        await table.locator('th[data-col="name"]').click()
        await expect(table.locator('th[data-col="name"]')).to_contain_text("▲")

        await peer.publish("hello from the peer", topic="greetings")
        log = page.locator(".lk-message-log")
        await expect(log).to_contain_text("hello from the peer", timeout=15_000)
        await expect(log).to_contain_text("greetings")
        await page.screenshot(path=str(SCREENSHOTS / "dashboard.png"), full_page=True)

        # The peer changes an attribute: that cell updates (and is highlighted for a moment).
        # The highlight lasts flash_ms (1.2 s): assert the lasting highlight count went up, not that the highlight
        # is still on when the assertion runs (on a loaded machine it is not).
        cell = row.locator('td[data-col="a:color"]')
        flashes_before = int(await cell.get_attribute("data-flashes") or "0")
        await peer.set_attributes({"color": "blue"})
        await expect(cell).to_have_text("blue", timeout=10_000)
        await expect(cell).to_have_attribute("data-flashes", str(flashes_before + 1))
        await page.screenshot(path=str(SCREENSHOTS / "dashboard-attribute-changed.png"), full_page=True)

        # Send from the Composer; the peer gets it.
        composer = page.locator(".lk-composer")
        await composer.locator("textarea").first.fill("hi from the browser")
        await composer.locator("button.lk-send").click()
        await eventually(lambda: any(m.text == "hi from the browser" for m in received), timeout=15, what="peer got it")
        msg = next(m for m in received if m.text == "hi from the browser")
        assert msg.sender == "notebook-user"
        await expect(composer.locator(".lk-sent-line")).to_contain_text("sent 19 B reliable", timeout=10_000)
        await page.screenshot(path=str(SCREENSHOTS / "composer-sent.png"), full_page=True)

        # A token pasted into the join form, then the notebook saved with widget state.
        token = credentials.token(browser_room, "pasted-token-user")
        secret_input = page.locator(".lk-room-panel input.lk-secret")
        await page.locator(".lk-room-panel").get_by_text("join form").first.click()
        await secret_input.fill(token)
        text = await save_with_widget_state(page, root / "dashboard.ipynb")
        assert credentials.api_secret not in text, "the API secret is in the saved notebook"
        assert token not in text, "the pasted token is in the saved notebook"
        assert "eyJ" not in text, "something token-shaped is in the saved notebook"
        await page.screenshot(path=str(SCREENSHOTS / "dashboard-saved.png"), full_page=True)
    finally:
        await peer.leave()
