"""The participants table at 10,000 participants x 20 attributes, in a real JupyterLab shown by Debian's Chromium.

tests/browser/table_scale.ipynb builds a synthetic RoomState of 10,000 participants in the kernel (no LiveKit: the
rows are fed as events) and shows the real `ParticipantsTable`; a kernel task then applies 10,000 attribute
changes/s (row i's values read `i.n`, n counting the changes). While it runs, the test scrolls the table with the
mouse wheel and asserts on the page: the DOM holds only about the visible rows, the scrolled-to rows show the right
identities and live values, the count says 10,000, and the page stays responsive (frame times and long tasks
measured in the page during the scroll, printed). After the run, the rows on screen equal the kernel's values, and
the kernel sent at most one message per render (Jupyter Server drops output beyond 1,000 messages/s).
"""

from __future__ import annotations

import asyncio
import json
import re
import statistics
from typing import Any

import pytest

from ..conftest import ARTIFACTS
from ._jupyter import SCREENSHOTS, LabSetup, RunningLab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAB = LabSetup("table-scale", ("table_scale.ipynb",), log_name="jupyterlab-table-scale.log")
ROW_HEIGHT = 22  # table.css's td height: where the test scrolls to
TARGET = 5000  # the row the test scrolls to (the notebook reports rows 4980..5099)

MEASURE = """() => {
  const table = document.querySelector(".lk-table");
  for (const key of ["workMs", "workCount", "workTotalMs"]) table.dataset[key] = "0";  // the load is not measured
  window.__frames = [];
  window.__longTasks = [];
  window.__measuring = true;
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) window.__longTasks.push(e.duration);
  }).observe({ entryTypes: ["longtask"] });
  let last = performance.now();
  const frame = (now) => {
    window.__frames.push(now - last);
    last = now;
    if (window.__measuring) requestAnimationFrame(frame);
  };
  requestAnimationFrame(frame);
}"""

VISIBLE = """(scroller) => {
  const box = scroller.getBoundingClientRect();
  const rows = [];
  for (const tr of scroller.querySelectorAll("tbody tr[data-identity]")) {
    const r = tr.getBoundingClientRect();
    if (r.bottom <= box.top + 30 || r.top >= box.bottom) continue; // under the sticky header, or below
    const cells = {};
    for (const td of tr.querySelectorAll("td[data-col]")) cells[td.dataset.col] = td.textContent;
    const flashes = Array.from(tr.querySelectorAll("td[data-flashes]")).length;
    rows.push({ identity: tr.dataset.identity, cells, flashes });
  }
  return { rows, inDom: scroller.querySelectorAll("tbody tr").length };
}"""


async def report(page: Any) -> dict[str, Any]:
    text = await page.locator(".lk-scale-report pre").inner_text()
    result: dict[str, Any] = json.loads(text)
    return result


def index_of(identity: str) -> int:
    return int(identity.rsplit("-", 1)[1])


async def test_table_of_10000_scrolls_while_it_updates(jupyterlab: RunningLab, page: Any) -> None:
    from playwright.async_api import expect

    page = await jupyterlab.run(page, "table_scale.ipynb", ready=".lk-table")
    table = page.locator(".lk-table").first
    count = table.locator(".lk-table-count")
    await expect(count).to_have_text(re.compile(r"^10000 participants · 20 attribute keys$"), timeout=120_000)
    await expect(page.locator(".lk-scale-report pre")).to_contain_text('"running": true', timeout=60_000)

    scroller = table.locator(".lk-table-scroll")
    await page.evaluate(MEASURE)
    box = await scroller.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    for _ in range(40):  # a user scrolling down, 40 wheel notches
        await page.mouse.wheel(0, 600)
        await asyncio.sleep(0.05)  # pacing the notches, not a proof
    frames: list[float] = await page.evaluate("() => { window.__measuring = false; return window.__frames; }")
    work_ms = float(await table.get_attribute("data-work-ms") or "nan")
    work_count = int(await table.get_attribute("data-work-count") or "0")
    work_total = float(await table.get_attribute("data-work-total-ms") or "nan")
    long_tasks: list[float] = await page.evaluate("() => window.__longTasks")
    assert await scroller.evaluate("s => s.scrollTop") > 40 * 300, "the wheel did not scroll the table"

    # Jump to row TARGET and check what the page shows there.
    await scroller.evaluate(f"s => {{ s.scrollTop = {TARGET * ROW_HEIGHT}; }}")
    applied_at_scroll = (await report(page))["applied"]
    await page.wait_for_function(
        "([s, id]) => !!s.querySelector(`tr[data-identity='${id}']`)",
        arg=[await scroller.element_handle(), f"participant-{TARGET:05d}"],
        timeout=10_000,
    )
    seen = await scroller.evaluate(VISIBLE)
    assert seen["inDom"] < 200, f"{seen['inDom']} rows in the DOM: the table is not virtualised"
    identities = [r["identity"] for r in seen["rows"]]
    indexes = [index_of(i) for i in identities]
    assert indexes[0] == TARGET and indexes == list(range(TARGET, TARGET + len(indexes))), identities
    assert len(indexes) >= 10, "fewer than 10 rows visible"
    for row in seen["rows"]:
        i = index_of(row["identity"])
        assert row["cells"]["name"] == f"Participant {i}"
        values = [row["cells"][f"a:key{k:02d}"] for k in range(20)]
        assert all(re.fullmatch(rf"{i}\.\d+", v) for v in values), (row["identity"], values)
    await table.screenshot(path=str(SCREENSHOTS / "table-10000-scrolled.png"))

    # Live: cells on screen take values applied after the scroll, and are highlighted.
    await page.wait_for_function(  # the kernel is starved on a loaded machine: rendering may take a while
        """([s, since]) => Array.from(s.querySelectorAll("td[data-col^='a:']"))
             .some((td) => Number(td.textContent.split(".")[1]) > since && Number(td.dataset.flashes) > 0)""",
        arg=[await scroller.element_handle(), applied_at_scroll],
        timeout=30_000,
    )
    await table.screenshot(path=str(SCREENSHOTS / "table-10000-live.png"))

    # After the run: what the page shows equals the kernel's values, and the kernel kept the output rate low.
    await page.locator(".lk-scale-stop").click()
    await expect(page.locator(".lk-scale-report pre")).to_contain_text('"running": false', timeout=90_000)
    final = await report(page)
    expected = {identity: final["watched"][identity] for identity in identities if identity in final["watched"]}
    assert len(expected) == len(identities)
    await page.wait_for_function(
        """([s, expected]) => Object.entries(expected).every(([id, attrs]) => {
             const tr = s.querySelector(`tr[data-identity='${id}']`);
             return tr && Object.entries(attrs).every(
               ([k, v]) => tr.querySelector(`td[data-col='a:${k}']`).textContent === v);
           })""",
        arg=[await scroller.element_handle(), expected],
        timeout=10_000,
    )
    await table.screenshot(path=str(SCREENSHOTS / "table-10000-final.png"))

    rate = final["applied"] / final["elapsed"]
    renders_per_s = final["renders"] / final["elapsed"]
    frames_ms = sorted(frames)
    print(
        f"table 10,000 x 20 in Chromium: {rate:.0f} changes/s applied in the kernel, {renders_per_s:.1f} renders/s, "
        f"{final['messages']} messages, {final['bytes_per_message']:,.0f} B per message, "
        f"{final['render_ms']:.1f} ms kernel time per render; while scrolling: {len(frames)} frames, "
        f"frame time p50 {statistics.median(frames_ms):.1f} ms, p95 {frames_ms[int(0.95 * (len(frames_ms) - 1))]:.1f} "
        f"ms, max {frames_ms[-1]:.1f} ms; {len(long_tasks)} long tasks (> 50 ms), longest "
        f"{max(long_tasks, default=0):.0f} ms; the table's own work: {work_count} messages/window renders, "
        f"{work_total / max(work_count, 1):.1f} ms mean, longest {work_ms:.0f} ms"
    )
    assert final["messages"] <= final["renders"], "more than one message per render"
    assert final["messages"] / final["elapsed"] <= 7, "more messages than the render rate (6/s) allows"
    assert rate > 0.5 * 10_000, f"the kernel applied only {rate:.0f} changes/s"
    log = (ARTIFACTS / LAB.log_name).read_text()
    assert "rate exceeded" not in log, "Jupyter Server dropped output (IOPub rate limit)"
    # Responsive while scrolling an updating table. The bounds catch a table that is not virtualised (10,000 rows
    # x 25 cells in the DOM make every frame and every message take seconds), not this machine's load: on the
    # shared 2-core machine, at a load average of 5-18, the same run gave median frames of 17-50 ms and the table's
    # own mean work 13-39 ms, so the measured values are printed above rather than held to a 60 Hz budget.
    assert statistics.median(frames_ms) < 250, f"median frame {statistics.median(frames_ms):.0f} ms while scrolling"
    assert work_total / max(work_count, 1) < 100, f"the table's mean work took {work_total / work_count:.0f} ms"
    assert work_ms < 2000, f"the table's longest work took {work_ms:.0f} ms"
