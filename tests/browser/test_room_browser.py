"""The RoomBrowser in a real JupyterLab, driven by Playwright with Debian's Chromium, against a real server.

A room created through the server API must appear in the list within 2 s (the browser polls every second by
default); an agent-kind peer joining marks it (its agents counted); clicking it must open the hidden inspector,
which shows an agent-kind peer with its state and filters by kind. The notebook saved with widget state must hold
no API secret and no token.

Missing Chromium or JupyterLab fails the test: nothing here is skipped.
"""

from __future__ import annotations

import os
import re
import time

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials, Grants

from ._jupyter import SCREENSHOTS, LabSetup, RunningLab, save_with_widget_state

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LAB = LabSetup("rooms", ("room_browser.ipynb",), log_name="jupyterlab-rooms.log")


async def test_room_browser_lists_a_new_room_and_opens_the_inspector(
    jupyterlab: RunningLab, page: object, credentials: Credentials
) -> None:
    from playwright.async_api import expect

    root = jupyterlab.root
    page = await jupyterlab.run(page, "room_browser.ipynb", ready=".lk-rooms")
    rooms = page.locator(".lk-rooms")
    await expect(rooms.locator(".lk-rooms-status")).to_contain_text("room(s)", timeout=30_000)

    room = f"browser-rooms-{os.getpid()}-{int(time.time())}"
    admin = lk.ServerAPI(credentials)
    agent: lk.Session | None = None
    visitor: lk.Session | None = None
    try:
        await admin.create_room(room, metadata='{"ticket": 42, "team": "support"}')
        created = time.monotonic()
        row = rooms.locator(f'tr[data-room="{room}"]')
        await row.wait_for(timeout=10_000)
        listed_after = time.monotonic() - created
        # The acceptance bound: one polling interval (1 s) plus the list call and the front end's render.
        assert listed_after < 2.0, f"the new room was listed after {listed_after:.2f} s"
        print(f"the new room appeared in the browser {listed_after:.2f} s after create_room returned")
        await expect(row.locator('td[data-col="metadata"]')).to_have_text('{"ticket": 42, "team": "support"}')
        await page.screenshot(path=str(SCREENSHOTS / "room-browser.png"), full_page=True)

        # An agent-kind peer in the room, then a click on the row: the inspector joins hidden.
        agent = await lk.join(
            room,
            identity="helper-agent",
            attributes={"lk.agent.state": "listening"},
            grants=Grants(kind="agent"),
            url=credentials.url,
            api_key=credentials.api_key,
            api_secret=credentials.api_secret,
        )
        # The list marks the room: its agents are counted every 5 s (list_rooms gives no participant kinds).
        await expect(row.locator('td[data-col="agents"]')).to_have_text("1", timeout=15_000)
        await expect(row).to_have_class(re.compile(r"\blk-has-agents\b"))
        # A standard peer beside it, so that the kind filter has something on each side.
        visitor = await lk.join(room, identity="visitor", url=credentials.url, api_key=credentials.api_key,
                                api_secret=credentials.api_secret)  # fmt: skip
        await row.click()
        panel = page.locator(".lk-room-panel")
        await expect(panel.locator(".lk-hidden-mode")).to_have_text("inspecting (hidden)", timeout=30_000)
        table = page.locator(".lk-table")
        agent_row = table.locator('tr[data-identity="helper-agent"]')
        await expect(agent_row).to_be_visible(timeout=20_000)
        await expect(agent_row.locator('td[data-col="kind"]')).to_have_text("agent · listening")
        await expect(page.locator(".lk-data-tracks")).to_contain_text("data tracks")
        assert not await page.locator(".lk-composer").count()  # an inspector publishes nothing
        # The agent's state changes: the kind cell follows. Then filter by kind.
        await agent.set_attributes({"lk.agent.state": "speaking"})
        await expect(agent_row.locator('td[data-col="kind"]')).to_have_text("agent · speaking", timeout=10_000)
        rows = table.locator("tbody tr[data-identity]")
        # The agent and the visitor: the hidden inspector leaves itself out of its own view (no one else lists it).
        await expect(rows).to_have_count(2, timeout=10_000)
        assert not await table.locator("tbody tr[data-identity] .lk-local").count()
        await table.locator("select.lk-table-kind").select_option("agent")
        await expect(rows).to_have_count(1)
        await table.locator("select.lk-table-kind").select_option("standard")
        await expect(rows).to_have_count(1)
        await expect(table.locator('tr[data-identity="visitor"]')).to_be_visible()
        await table.locator("select.lk-table-kind").select_option("agent")
        await page.screenshot(path=str(SCREENSHOTS / "room-browser-inspector.png"), full_page=True)
        # Neither peer sees the inspector (each waits to be told of the other: data-only peers on the 3 s tick).
        await agent.wait_for_participant("visitor", timeout=10)
        await visitor.wait_for_participant("helper-agent", timeout=10)
        assert sorted(p.identity for p in agent.state) == ["helper-agent", "visitor"]
        assert sorted(p.identity for p in visitor.state) == ["helper-agent", "visitor"]

        # Saved with widget state: no secret, no token.
        text = await save_with_widget_state(page, root / "room_browser.ipynb")
        assert room in text  # the state was saved (room names are not secret)
        assert credentials.api_secret not in text, "the API secret is in the saved notebook"
        assert "eyJ" not in text, "something token-shaped is in the saved notebook"
    finally:
        for peer in (agent, visitor):
            if peer is not None:
                await peer.leave()
        await admin.delete_room(room)
        await admin.aclose()
