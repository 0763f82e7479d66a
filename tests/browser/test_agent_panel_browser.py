"""The AgentPanel in a real JupyterLab, driven by Playwright with Debian's Chromium.

The kernel (tests/browser/agent_panel.ipynb) replays the session a real livekit-agents worker sent
(tests/agent_replay.py: the recorded `lk.agent.session` events through the real AgentModel, replies streamed word by
word as on `lk.transcription`), at 8x the recorded gaps so that a turn can be watched. The page must show the reply
growing before it is final, the agent's and the user's states on the strip, the get_weather call with its arguments
and output, a latency bar per turn, and the chat box disabled with its reason (the replay cannot hear us). Screenshots
are taken during a turn and after the last one, at 1400 px wide; the layout must not wrap or cut the panel's rows.

Missing Chromium or JupyterLab fails the test: nothing here is skipped.
"""

from __future__ import annotations

import pytest

from ._agent_page import LAYOUT_PROBLEMS
from ._jupyter import SCREENSHOTS, LabSetup, RunningLab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LAB = LabSetup("agent", ("agent_panel.ipynb",), log_name="jupyterlab-agent.log")

# Records every text a streaming line shows (the transcript's mutations), from before the replay starts.
WATCH_STREAMING = """() => {
  window.lkStreamed = [];
  const box = document.querySelector(".lk-agent-transcript");
  new MutationObserver(() => {
    for (const line of box.querySelectorAll('.lk-agent-line[data-final="false"] .lk-agent-text')) {
      const seen = window.lkStreamed;
      if (seen[seen.length - 1] !== line.textContent) seen.push(line.textContent);
    }
  }).observe(box, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


async def test_agent_panel_shows_a_replayed_session_live(jupyterlab: RunningLab, page: object) -> None:
    from playwright.async_api import expect

    page = await jupyterlab.run(page, "agent_panel.ipynb", ready=".lk-agent-transcript")
    await page.evaluate(WATCH_STREAMING)
    panel = page.locator(".lk-agent-panel")

    # The chat box is disabled, and says why.
    await expect(panel.locator(".lk-agent-chat input")).to_be_disabled()
    await expect(panel.locator(".lk-agent-chat-reason")).to_contain_text("cannot hear this session")

    # During the first turn: the reply streams (not final), the tool call is on its row, the agent speaks.
    streaming = panel.locator('.lk-agent-line[data-final="false"]')
    await expect(streaming).to_contain_text("sunny", timeout=30_000)
    await expect(panel.locator(".lk-agent-state")).to_have_text("agent: speaking")
    tool = panel.locator('tr.lk-agent-tool[data-name="get_weather"]')
    await expect(tool.locator('td[data-col="arguments"]')).to_have_text('{"city": "Paris"}')
    await expect(tool.locator('td[data-col="output"]')).to_have_text("It is sunny and 21 degrees in Paris.")
    await page.screenshot(path=str(SCREENSHOTS / "agent-panel-streaming.png"), full_page=True)
    await panel.screenshot(path=str(SCREENSHOTS / "agent-panel-streaming-panel.png"))
    assert await page.evaluate(LAYOUT_PROBLEMS) == []

    # The reply became final and gave way to its conversation item; then the two other turns.
    assistant = panel.locator('.lk-agent-line[data-role="assistant"][data-final="true"]')
    await expect(assistant.first).to_contain_text("It is sunny and 21 degrees in Paris.", timeout=30_000)
    turns = panel.locator(".lk-agent-turn")
    await expect(turns).to_have_count(3, timeout=60_000)
    await expect(assistant).to_have_count(3, timeout=30_000)
    await expect(streaming).to_have_count(0, timeout=30_000)
    streamed = await page.evaluate("window.lkStreamed")
    growing = [t for t in streamed if "It is sunny and 21 degrees in Paris.".startswith(t) and t]
    assert len(growing) >= 3, f"the reply did not grow on the page: {streamed}"
    assert growing == sorted(growing, key=len), streamed

    # The state strip: both lanes, every state of a turn.
    for who, state in [("agent", "thinking"), ("agent", "speaking"), ("agent", "listening"), ("user", "speaking")]:
        segment = panel.locator(f'.lk-agent-lane[data-who="{who}"] .lk-agent-seg[data-state="{state}"]')
        assert await segment.count() >= 1, f"no {state} on the {who} lane"
    # A latency bar per turn, each reaching the final reply; tokens and the tool on the first.
    for n in (1, 2, 3):
        turn = panel.locator(f'.lk-agent-turn[data-turn="{n}"]')
        await expect(turn.locator('.lk-agent-phase[data-phase="to_final"]')).to_have_count(1, timeout=30_000)
        await expect(turn.locator('.lk-agent-phase[data-phase="to_thinking"]')).to_have_count(1)
    await expect(panel.locator('.lk-agent-turn[data-turn="1"] .lk-agent-tokens')).to_contain_text(
        "22→14 tok · get_weather"
    )
    await page.screenshot(path=str(SCREENSHOTS / "agent-panel-done.png"), full_page=True)
    await panel.screenshot(path=str(SCREENSHOTS / "agent-panel-done-panel.png"))
    assert await page.evaluate(LAYOUT_PROBLEMS) == []
