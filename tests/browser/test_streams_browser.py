"""Streams and RPC in the Dashboard, in a real JupyterLab driven by Playwright with Debian's Chromium.

The Composer sends a text stream and makes an RPC call to a second real client; the MessageLog shows a stream from
that client while it is still open (the client holds it open until the page shows it, so nothing depends on a
short window), then finished, and the RPC request/response pair. Screenshots go to artifacts/screenshots/.
"""

from __future__ import annotations

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials

from ..conftest import eventually
from ._jupyter import SCREENSHOTS, LabSetup, RunningLab, save_with_widget_state

pytestmark = [pytest.mark.browser, pytest.mark.server, pytest.mark.slow]

LAB = LabSetup("browser-streams", ("streams.ipynb",), log_name="jupyterlab-streams.log")


async def test_streams_and_rpc_in_the_dashboard(jupyterlab: RunningLab, page: object, credentials: Credentials) -> None:
    from playwright.async_api import expect

    streams_room, root = jupyterlab.room, jupyterlab.root
    page = await jupyterlab.run(page, "streams.ipynb", ready=".lk-room-panel")
    await expect(page.locator('.lk-table tr[data-identity="notebook-user"]')).to_be_visible(timeout=60_000)

    peer = await lk.join(streams_room, identity="browser-peer")
    peer.register_rpc_method("echo", lambda call: f"echo: {call.payload}")
    try:
        await expect(page.locator('.lk-table tr[data-identity="browser-peer"]')).to_be_visible(timeout=20_000)
        log = page.locator(".lk-message-log")

        # A stream from the peer, held open until the MessageLog shows it in progress.
        writer = await peer.stream_text(topic="lk.transcription", total_size=len("the agent is speaking"))
        await writer.write("the agent ")
        in_progress = log.locator("tr.lk-stream-started", has_text="browser-peer")
        await expect(in_progress).to_be_visible(timeout=15_000)
        await expect(in_progress).to_contain_text("lk.transcription")
        await page.screenshot(path=str(SCREENSHOTS / "streams-in-progress.png"), full_page=True)
        await writer.write("is speaking")
        await writer.aclose()
        await expect(log.locator("tr.lk-stream-finished", has_text="the agent is speaking")).to_be_visible(
            timeout=15_000
        )

        # The Composer sends a text stream; the peer records it whole.
        streams = page.locator(".lk-stream-composer")
        await streams.locator(".lk-stream-text textarea").fill("hello from the browser")
        await streams.locator("button.lk-send-text").click()
        await eventually(
            lambda: any(r.text == "hello from the browser" and r.sender == "notebook-user" for r in peer.streams),
            timeout=15,
            what="the peer gets the Composer's text stream",
        )
        await expect(streams.locator(".lk-stream-sent-line")).to_contain_text("sent text stream", timeout=10_000)

        # The Composer makes an RPC call; the answer and its latency show, and the log shows the pair.
        await streams.get_by_role("tab", name="RPC call").click()
        await streams.locator("select").select_option("browser-peer")
        await streams.locator(".lk-rpc-method input").fill("echo")
        await streams.locator(".lk-rpc-payload textarea").fill("ping")
        await streams.locator("button.lk-rpc-call").click()
        await expect(streams.locator(".lk-rpc-result")).to_contain_text("answered in", timeout=15_000)
        await expect(streams.locator(".lk-rpc-result")).to_contain_text("echo: ping")
        pair = log.locator("tr.lk-rpc-out", has_text="echo")
        await expect(pair).to_contain_text("ping")
        await expect(pair).to_contain_text("echo: ping")
        await expect(pair).to_contain_text(" ms")
        assert any(r.method == "echo" and r.caller == "notebook-user" for r in peer.rpc_calls)
        await page.screenshot(path=str(SCREENSHOTS / "streams-rpc-pair.png"), full_page=True)

        # Saved with widget state, the notebook holds no secret or token.
        text = await save_with_widget_state(page, root / "streams.ipynb")
        assert credentials.api_secret not in text, "the API secret is in the saved notebook"
        assert "eyJ" not in text, "something token-shaped is in the saved notebook"
    finally:
        await peer.leave()
