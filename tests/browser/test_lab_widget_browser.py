"""The lab's LabWidget in a real JupyterLab, driven by Playwright with Debian's Chromium.

JupyterLab is started by the test and opens tests/browser/lab_widget.ipynb (copied to a scratch directory), which
displays a LabWidget. The test fills the form (lossy + reliable, one size, a short duration), clicks Run and checks
in the page that the browser-drawn live chart (livechart.py's ES module) redraws with data during the run, that the
results table has a row per mode with sent/received counts afterwards, and that no error line is shown.

Missing Chromium or JupyterLab fails the test: nothing here is skipped.
"""

from __future__ import annotations

import re
import time

import pytest

from ._jupyter import SCREENSHOTS, LabSetup, RunningLab

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

DURATION = 1.5  # seconds per run; two runs (one per mode)
SIZE = 200
RATE = 500  # the form's default rate (messages/s)


# The kernel inherits LIVEKIT_* from tests/conftest.py, so the lab runs against the test's livekit-server
# (unimpaired, which is all this test needs) instead of starting its own LocalServer + relay in the kernel: the test
# server is already up and proven, and a second server in the kernel would cost seconds, ports and processes to clean
# up when JupyterLab stops the kernel. The relay path is covered by tests/test_lab_relay.py.
LAB = LabSetup("lab-widget", ("lab_widget.ipynb",), log_name="jupyterlab-lab-widget.log")


# Pixels of the canvas within a small distance of each [r, g, b] in the argument (antialiasing blends the edges).
_COUNT_COLOURED_PIXELS = """(canvas, colours) => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  return colours.map(([r, g, b]) => {
    let n = 0;
    for (let i = 0; i < data.length; i += 4) {
      if (data[i + 3] > 200 && Math.abs(data[i] - r) + Math.abs(data[i + 1] - g) + Math.abs(data[i + 2] - b) < 40) n++;
    }
    return n;
  });
}"""


def _labelled(page: object, label: str) -> object:
    """The ipywidget (label + control) whose description is `label`."""
    from playwright.async_api import Page

    assert isinstance(page, Page)
    return page.locator(f'.widget-inline-hbox:has(> label.widget-label:text-is("{label}"))')


async def test_lab_widget_runs_in_jupyterlab(jupyterlab: RunningLab, page: object) -> None:
    from playwright.async_api import Locator, Page, expect

    assert isinstance(page, Page)
    await jupyterlab.run(page, "lab_widget.ipynb", ready="canvas.lk-live-chart")

    chart = page.locator("canvas.lk-live-chart")
    error = page.locator(".lk-lab-error")
    summary = page.locator(".lk-lab-summary")
    run = page.locator("button.jupyter-button", has_text=re.compile(r"^\W*Run$"))  # an icon comes before "Run"
    await expect(chart).to_have_count(1)
    await expect(run).to_be_enabled()
    await expect(chart).to_have_attribute("data-points", "0")  # nothing measured yet

    # The form: both modes, one size, a short run.
    modes = _labelled(page, "modes")
    assert isinstance(modes, Locator)
    await modes.locator("select").select_option(["lossy", "reliable"])
    for label, value in (("sizes (B)", str(SIZE)), ("duration (s)", str(DURATION))):
        field = _labelled(page, label)
        assert isinstance(field, Locator)
        box = field.locator("input")
        await box.fill(value)
        await box.press("Enter")  # BoundedFloatText syncs on Enter/blur
        await box.blur()
    # Run reads the values in the kernel: wait until the kernel echoes them (the notebook's test hook).
    await expect(page.locator(".lk-test-synced")).to_have_text(f"lossy,reliable|{SIZE}|{DURATION:g}", timeout=30_000)

    draws_before = int(await chart.get_attribute("data-draws") or "0")
    started = time.monotonic()
    await run.click()
    await expect(run).to_be_disabled(timeout=30_000)

    # During the run the chart must redraw with data at least twice (LivePlot pushes at 4 Hz).
    seen: list[tuple[int, int]] = []
    shot_running = False
    while time.monotonic() - started < 60:
        draws = int(await chart.get_attribute("data-draws") or "0")
        points = int(await chart.get_attribute("data-points") or "0")
        if not seen or seen[-1] != (draws, points):
            seen.append((draws, points))
        with_data = [d for d, p in seen if d > draws_before and p > 0]
        if len(set(with_data)) >= 2 and not shot_running:
            await page.screenshot(path=str(SCREENSHOTS / "lab-widget-running.png"), full_page=True)
            shot_running = True
        if await run.is_enabled():
            break
        await page.wait_for_timeout(100)
    updates = sorted({d for d, p in seen if d > draws_before and p > 0})
    assert len(updates) >= 2, f"the live chart did not redraw with data at least twice during the run: {seen}"
    assert shot_running, f"no screenshot while running: {seen}"

    # The lines are drawn in each mode's colour (matplotlib's tab:orange / tab:blue as CSS hex): a canvas ignores
    # colour names it does not know, which once left every line grey.
    counts = await chart.evaluate(_COUNT_COLOURED_PIXELS, [[255, 127, 14], [31, 119, 180]])
    assert all(n >= 10 for n in counts), f"lossy/reliable colours in the live chart: {counts} pixels"

    # After the run: Run enabled again, no error, a results row per mode with sent/received numbers.
    await expect(run).to_be_enabled(timeout=60_000)
    await expect(error).to_have_text("")
    table = summary.locator("table")
    await expect(table.locator("tbody tr")).to_have_count(2, timeout=30_000)
    headers = [h.strip() for h in await table.locator("thead th").all_inner_texts()]
    for col in ("mode", "size", "sent", "received"):
        assert col in headers, f"no {col!r} column in the results: {headers}"
    rows: dict[str, dict[str, str]] = {}
    for cells in [await r.locator("td").all_inner_texts() for r in await table.locator("tbody tr").all()]:
        row = dict(zip(headers, (c.strip() for c in cells), strict=True))
        rows[row["mode"]] = row
    assert set(rows) == {"lossy", "reliable"}, rows
    print(f"lab widget results: {rows}")
    for mode, row in rows.items():
        assert int(row["size"]) == SIZE, row
        sent, received = int(row["sent"]), int(row["received"])
        assert sent > 0, f"{mode}: nothing sent: {row}"
        # 500/s for 1.5 s, not the form's default 2 s: the duration typed in the page reached the kernel.
        assert sent <= RATE * DURATION * 1.2, f"{mode}: {sent} sent in a {DURATION} s run at {RATE}/s: {row}"
        # A clean loopback path (no impairment): issue 12's clean-path bar is >= 98 % delivered. The measured
        # baseline here is 100 % in both modes (750 of 750); 2 % is 15 messages at this n, far above what a clean
        # path loses and far below a run that delivers only part of its messages.
        assert received <= sent, f"{mode}: received {received} of {sent}: {row}"
        assert received >= 0.98 * sent, f"{mode}: only {received} of {sent} delivered on a clean path: {row}"
    # The result plots (loss vs size, latency CDF) were rendered too: two loaded PNGs.
    images = page.locator(".jp-OutputArea img.widget-image")
    await expect(images).to_have_count(2)
    widths = await images.evaluate_all("imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
    assert all(wd > 0 for wd in widths), f"empty result plots: natural widths {widths}"
    assert await page.locator(".jp-OutputArea [data-mime-type='application/vnd.jupyter.error']").count() == 0
    await page.screenshot(path=str(SCREENSHOTS / "lab-widget-done.png"), full_page=True)
