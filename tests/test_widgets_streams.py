"""The stream and RPC views without a browser: Composer's text stream, file and RPC tabs, the MessageLog's stream and
RPC tables, the Dashboard's RPC methods; against a real server, with a second real client."""

from __future__ import annotations

import datetime
import html
from collections.abc import AsyncIterator
from typing import Any

import pytest

import lk_notebook as lk
from lk_notebook.config import Credentials
from lk_notebook.errors import InvalidInputError
from lk_notebook.widgets import Composer, Dashboard, MessageLog
from lk_notebook.widgets._stream_code import rpc_snippets, stream_snippets

from .conftest import eventually

pytestmark = pytest.mark.server


@pytest.fixture
async def pair(credentials: Credentials, room_name: str) -> AsyncIterator[tuple[lk.Session, lk.Session]]:
    kw: dict[str, Any] = {"url": credentials.url, "api_key": credentials.api_key, "api_secret": credentials.api_secret}
    me = await lk.join(room_name, identity="me", **kw)
    peer = await lk.join(room_name, identity="peer", **kw)
    await eventually(lambda: "peer" in me.state and "me" in peer.state, timeout=10, what="both see each other")
    try:
        yield me, peer
    finally:
        await peer.leave()
        await me.leave()


def test_snippets_name_the_same_call_in_each_language() -> None:
    text = stream_snippets(text="hi", name="", topic="lk.chat", destinations=["bob"], size=0)
    assert "send_text('hi', topic='lk.chat', destinations=['bob'])" in text["lk_notebook"]
    assert "destination_identities=['bob']" in text["Python"] and 'sendText("hi"' in text["JavaScript"]
    files = stream_snippets(text=None, name="a.pdf", topic="files", destinations=(), size=10)
    assert "send_file('a.pdf', topic='files')" in files["Python"] and "sendFile(file" in files["JavaScript"]
    rpc = rpc_snippets(destination="bob", method="echo", payload="x", timeout=2.5)
    assert "perform_rpc('bob', 'echo', 'x', timeout=2.5)" in rpc["lk_notebook"]
    assert "responseTimeout: 2500" in rpc["JavaScript"] and "response_timeout=2.5" in rpc["Python"]
    assert all("no lk CLI equivalent" in s["lk CLI"] for s in (text, files, rpc))


async def test_composer_streams_tabs_and_message_log_tables(pair: tuple[lk.Session, lk.Session]) -> None:
    me, peer = pair
    peer.register_rpc_method("echo", lambda call: call.payload[::-1])
    composer = Composer(me)
    log = MessageLog(peer, include_sent=True)
    sc = composer.streams
    try:
        sc.text.value = "one two three"
        sc.text_topic.value = "lk.transcription"
        sc.word_delay.value = 0.05
        task = sc.send_text()
        assert task is not None
        await task
        assert sc.last_stream is not None and sc.last_stream.state is lk.StreamState.FINISHED
        await eventually(
            lambda: any(r.text == "one two three" and r.state is lk.StreamState.FINISHED for r in peer.streams),
            what="the word-by-word stream arrives whole",
        )
        sc.upload.value = (
            {
                "name": "a.bin",
                "type": "",
                "size": 4,
                "content": memoryview(b"\x00\x01\x02\x03"),
                "last_modified": datetime.datetime.now(datetime.timezone.utc),
            },
        )
        task = sc.send_file()
        assert task is not None
        await task
        await eventually(lambda: any(r.name == "a.bin" and r.received == 4 for r in peer.streams), what="the file")

        await eventually(lambda: sc.rpc_destination.options == ("peer",), what="the RPC destination list")
        sc.rpc_method.value, sc.rpc_payload.value = "echo", "abc"
        task = sc.call_rpc()
        assert task is not None
        await task
        assert sc.last_rpc is not None and sc.last_rpc.response == "cba"
        assert "answered in" in sc.rpc_result.value and " ms" in sc.rpc_result.value
        assert "perform_rpc('peer', 'echo', 'abc'" in html.unescape(sc.rpc_code.value)

        log.live.dirty = True
        log.live.render_now()
        assert "lk-stream-finished" in log.streams_table.value and "a.bin" in log.streams_table.value
        assert "echo" in log.rpc_table.value and "cba" in log.rpc_table.value
    finally:
        composer.close()
        log.close()


async def test_dashboard_registers_rpc_methods_by_echo_or_notebook_function(
    pair: tuple[lk.Session, lk.Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    me, peer = pair
    dash = Dashboard(me)
    try:
        assert dash.rpc_methods is not None
        form = dash.rpc_methods
        form.method.value = "echo"
        form.register_from_form()
        assert (await peer.perform_rpc("me", "echo", "same")).response == "same"

        import __main__

        monkeypatch.setattr(__main__, "handle", lambda call: f"handled {call.payload}", raising=False)
        form.method.value, form.answer.value, form.function.value = "fn", "a notebook function", "handle"
        form.register_from_form()
        assert (await peer.perform_rpc("me", "fn", "x")).response == "handled x"
        assert "fn" in form.listing.value and "echo" in form.listing.value

        form.method.value, form.function.value = "other", "no_such_function"
        form.register_from_form()
        assert "no function 'no_such_function'" in html.unescape(form.error.value)
        form.method.value, form.answer.value = "echo", "echo"
        form.register_from_form()
        assert isinstance(form.error.last_error, InvalidInputError) and "already registered" in form.error.value
    finally:
        dash.close()
