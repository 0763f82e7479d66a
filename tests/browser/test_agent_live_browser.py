"""The AgentPanel with a REAL agent, in a real JupyterLab driven by Playwright with Debian's Chromium.

The kernel (tests/browser/agent_live.ipynb) joins the test's room as `user` and shows `AgentPanel.for_session`. The
test dispatches the real test agent (tests/agent/: livekit-agents in its own environment) into the room, then does
what a person does: types the weather question into the panel's chat box and presses Send. The page must show the
agent thinking then speaking on the state strip, the reply in the transcript, the get_weather call with its
arguments and output, and a latency bar for the turn. Screenshots during the turn and after it, at 1400 px wide,
with no wrapped or cut rows.

Missing Chromium, JupyterLab or the agent's environment fails the test: nothing here is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lk_notebook.config import Credentials

from ..agent.script import WEATHER_QUESTION, weather_report
from ..agentenv import AgentProcess, dispatch, logged_agent
from ._agent_page import LAYOUT_PROBLEMS
from ._jupyter import SCREENSHOTS, LabSetup, RunningLab

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LAB = LabSetup("agent-live", ("agent_live.ipynb",), log_name="jupyterlab-agent-live.log")


@pytest.fixture(scope="module")
def agent(credentials: Credentials) -> Iterator[AgentProcess]:
    with logged_agent(credentials, "lk-notebook-panel") as process:
        yield process


async def test_agent_panel_with_a_live_agent(
    jupyterlab: RunningLab, page: object, agent: AgentProcess, credentials: Credentials
) -> None:
    from playwright.async_api import Page, expect

    page = await jupyterlab.run(page, "agent_live.ipynb", ready=".jp-OutputArea-output")
    assert isinstance(page, Page)
    await page.locator(".lk-agent-panels").wait_for(state="attached", timeout=60_000)  # hidden while no agent
    # The user joined alone; the agent joins after it and links to it: the chat box opens once the agent is seen.
    await dispatch(credentials, agent.agent_name, jupyterlab.room)
    panel = page.locator(".lk-agent-panel")
    await expect(panel).to_have_count(1, timeout=60_000)
    chat = panel.locator(".lk-agent-chat input")
    await expect(chat).to_be_enabled(timeout=60_000)

    await chat.fill(WEATHER_QUESTION)
    await panel.locator(".lk-agent-send button, button.lk-agent-send").first.click()
    # During the turn: the agent thinking or speaking on the strip (the reply streams in as it speaks).
    busy = panel.locator('.lk-agent-seg[data-state="thinking"], .lk-agent-seg[data-state="speaking"]')
    await expect(busy.first).to_be_visible(timeout=30_000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / "agent-live-turn.png"), full_page=True)

    reply = panel.locator('.lk-agent-line[data-role="assistant"][data-final="true"]')
    await expect(reply.first).to_contain_text(weather_report("Paris"), timeout=30_000)
    user_line = panel.locator('.lk-agent-line[data-role="user"]')
    await expect(user_line.first).to_contain_text(WEATHER_QUESTION)
    tool = panel.locator('tr.lk-agent-tool[data-name="get_weather"]')
    await expect(tool).to_have_count(1)
    await expect(tool).to_contain_text("Paris")
    await expect(panel.locator(".lk-agent-turn")).to_have_count(1, timeout=10_000)
    for phase in ("thinking", "speaking"):
        await expect(panel.locator(f'.lk-agent-seg[data-state="{phase}"]').first).to_be_attached()
    await page.screenshot(path=str(SCREENSHOTS / "agent-live-done.png"), full_page=True)
    assert await page.evaluate(LAYOUT_PROBLEMS) == []
