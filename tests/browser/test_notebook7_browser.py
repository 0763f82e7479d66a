"""The Dashboard and the LabWidget in Jupyter Notebook 7 (the `notebook` package), beside the JupyterLab tests.

Notebook 7 shares JupyterLab's widget manager but not its shell (its own URL scheme, menus and kernel indicator),
so a widget can render in one and not the other. The test starts a Notebook 7 server with the LIVEKIT_* variables
conftest exported, runs the same notebooks as the JupyterLab tests, and checks in the page, with a real peer:
- the Dashboard shows the peer's row and attributes, updates a changed cell (and counts its highlight), and shows
  a message the peer sent;
- the LabWidget runs a short measurement: the live chart redraws with data, the results table gets a row.
Screenshots go to artifacts/screenshots/notebook7-*.png. Missing Chromium or Notebook 7 fails: nothing is skipped.
"""

from __future__ import annotations

import re

import pytest

import lk_notebook as lk

from ._jupyter import SCREENSHOTS, LabSetup, RunningLab

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LAB = LabSetup("nb7", ("dashboard.ipynb", "lab_widget.ipynb"), log_name="notebook7.log", app="notebook")
"""A Notebook 7 server (no token, loopback) with copies of both test notebooks."""


async def test_dashboard_in_notebook7(jupyterlab: RunningLab, page: object) -> None:
    from playwright.async_api import expect

    room = jupyterlab.room
    page = await jupyterlab.run(page, "dashboard.ipynb", ready=".lk-room-panel")
    table = page.locator(".lk-table")
    await expect(table.locator('tr[data-identity="notebook-user"]')).to_be_visible(timeout=60_000)

    peer = await lk.join(room, identity="nb7-peer", name="Peer", attributes={"color": "red"})
    try:
        row = table.locator('tr[data-identity="nb7-peer"]')
        await expect(row).to_be_visible(timeout=20_000)
        cell = row.locator('td[data-col="a:color"]')
        await expect(cell).to_have_text("red", timeout=10_000)
        await expect(row.locator('td[data-col="name"]')).to_have_text("Peer")
        await peer.publish("hello notebook 7", topic="greetings")
        await expect(page.locator(".lk-message-log")).to_contain_text("hello notebook 7", timeout=15_000)
        await page.screenshot(path=str(SCREENSHOTS / "notebook7-dashboard.png"), full_page=True)

        # An update reaches the same cell, and it was highlighted (a lasting count, not the 1.2 s highlight).
        before = int(await cell.get_attribute("data-flashes") or "0")
        await peer.set_attributes({"color": "blue"})
        await expect(cell).to_have_text("blue", timeout=10_000)
        await expect(cell).to_have_attribute("data-flashes", str(before + 1))
        await expect(page.locator(".lk-room-panel")).to_contain_text("connected")
        await page.screenshot(path=str(SCREENSHOTS / "notebook7-dashboard-updated.png"), full_page=True)
    finally:
        await peer.leave()


async def test_lab_widget_in_notebook7(jupyterlab: RunningLab, page: object) -> None:
    from playwright.async_api import expect

    page = await jupyterlab.run(page, "lab_widget.ipynb", ready="canvas.lk-live-chart")
    chart = page.locator("canvas.lk-live-chart")
    run = page.locator("button.jupyter-button", has_text=re.compile(r"^\W*Run$"))
    await expect(run).to_be_enabled()
    await expect(chart).to_have_attribute("data-points", "0")

    # One mode, one size, a short run (the form is the same widget as in JupyterLab).
    modes = page.locator('.widget-inline-hbox:has(> label.widget-label:text-is("modes")) select')
    await modes.select_option(["lossy"])
    for label, value in (("sizes (B)", "200"), ("duration (s)", "1.5")):
        box = page.locator(f'.widget-inline-hbox:has(> label.widget-label:text-is("{label}")) input')
        await box.fill(value)
        await box.press("Enter")
        await box.blur()
    # Run reads the values in the kernel: wait until the kernel echoes them (the notebook's test hook).
    await expect(page.locator(".lk-test-synced")).to_have_text("lossy|200|1.5", timeout=30_000)
    draws_before = int(await chart.get_attribute("data-draws") or "0")
    await run.click()
    await expect(run).to_be_disabled(timeout=30_000)
    await expect(run).to_be_enabled(timeout=90_000)
    draws = int(await chart.get_attribute("data-draws") or "0")
    points = int(await chart.get_attribute("data-points") or "0")
    assert draws > draws_before and points > 0, f"live chart: draws {draws_before} -> {draws}, points {points}"
    rows = page.locator(".lk-lab-summary table tbody tr")
    await expect(rows).to_have_count(1, timeout=30_000)
    await expect(page.locator(".lk-lab-error")).to_have_text("")
    await expect(rows.first).to_contain_text("lossy")
    await page.screenshot(path=str(SCREENSHOTS / "notebook7-lab-widget.png"), full_page=True)
