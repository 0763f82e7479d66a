"""The Dashboard at 1400 px wide, in a real JupyterLab: the participants table, the composer, the message log and
its streams and RPC tables show every column on one line, none wrapped and none cut off.

A peer fills every table (attributes and metadata, a long message, a long text stream, a file); the page
then measures each table's rows in the browser: a wrapped cell makes its row taller than one line, a cut column
makes the table wider than the box that shows it. The screenshot is artifacts/screenshots/dashboard-1400.png.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import lk_notebook as lk

from ._jupyter import SCREENSHOTS, LabSetup, RunningLab

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LAB = LabSetup("layout", ("dashboard.ipynb",), log_name="jupyterlab-layout.log")

# For each table: the tallest row (px) against one text line, and how far its table sticks out of the box that
# shows it (scrollWidth - clientWidth of the nearest box that clips or scrolls).
MEASURE = """
(selector) => [...document.querySelectorAll(selector)].map((table) => {
  const rows = [...table.querySelectorAll("tbody tr")];
  const line = parseFloat(getComputedStyle(table).lineHeight) || 16;
  let box = table.parentElement;
  while (box && !["auto", "hidden", "scroll"].includes(getComputedStyle(box).overflowX)) box = box.parentElement;
  const visible = box ? box.getBoundingClientRect().right : window.innerWidth;
  return {
    rows: rows.length,
    tallest: Math.max(0, ...rows.map((r) => r.getBoundingClientRect().height)),
    line,
    overflow: Math.round(table.getBoundingClientRect().right - Math.min(visible, window.innerWidth)),
  };
})
"""


async def test_dashboard_uses_the_width_at_1400_px(jupyterlab: RunningLab, page: Any) -> None:
    from playwright.async_api import expect

    # Tall enough for the whole Dashboard: JupyterLab scrolls the notebook itself, so a full-page screenshot only
    # shows what fits in the viewport.
    await page.set_viewport_size({"width": 1400, "height": 3400})
    page = await jupyterlab.run(page, "dashboard.ipynb", ready=".lk-room-panel")
    await expect(page.locator('.lk-table tr[data-identity="notebook-user"]')).to_be_visible(timeout=60_000)

    peer = await lk.join(
        jupyterlab.room,
        identity="layout-peer",
        name="A peer with a long name",
        attributes={"color": "red", "status": "typing", "lk.agent.state": "listening"},
        metadata=json.dumps({"team": "blue", "bio": "x" * 80}),
    )
    try:
        await peer.wait_for_participant("notebook-user", timeout=20)
        await peer.publish("hello from the peer, a message long enough to need its preview clipped " * 3, topic="chat")
        await peer.send_text("word " * 400, topic="lk.transcription")  # the text column wrapped over four lines
        await peer.send_bytes(b"\x00" * 50_000, topic="files", name="a-file-with-a-rather-long-name.bin")
        await expect(page.locator('.lk-table tr[data-identity="layout-peer"]')).to_be_visible(timeout=20_000)
        log = page.locator(".lk-message-log")
        await expect(log.locator(".lk-streams tbody tr")).to_have_count(2, timeout=20_000)
        await expect(log.locator(".lk-messages tbody tr")).not_to_have_count(0, timeout=20_000)
        await expect(page.locator(".lk-composer")).to_be_visible()

        await page.screenshot(path=str(SCREENSHOTS / "dashboard-1400.png"), full_page=True)
        for selector in (".lk-table table", ".lk-messages", ".lk-streams"):
            measured = await page.evaluate(MEASURE, selector)
            assert measured, f"no {selector} on the page"
            for m in measured:
                assert m["rows"] > 0, (selector, m)
                assert m["tallest"] < 2 * m["line"] + 8, f"{selector}: a row wraps ({m})"
                assert m["overflow"] <= 1, f"{selector}: columns cut off ({m})"
        # The composer sits beside the state forms, not above them: the Dashboard uses the width.
        composer = await page.locator(".lk-composer").bounding_box()
        editor = await page.locator(".lk-state-editor").first.bounding_box()
        assert composer and editor and abs(composer["y"] - editor["y"]) < 40 and editor["x"] > composer["x"] + 300
    finally:
        await peer.leave()
