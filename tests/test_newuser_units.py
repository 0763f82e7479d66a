"""Issue 22's fixes that need no server: waiting helpers on a Router and RoomState, RPC error text and answers, the
stopped-loop check, joined rows, the advice in errors, `--json` for the server command, the quiet-lab settings."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from livekit import rtc

import lk_notebook as lk
from lk_notebook import limits
from lk_notebook.cli import main as cli_main
from lk_notebook.events import DataKind, ParticipantJoined, StreamState
from lk_notebook.lab.placement import no_relay_advice
from lk_notebook.lifecycle import LifecycleGuard
from lk_notebook.quiet_lab import NOTIFICATION_PLUGIN, quiet_lab_env
from lk_notebook.routing import Router
from lk_notebook.rpc import HandlerFailed, absent_destination_message, encode_response, wrap_handler
from lk_notebook.state import RoomState, joined_value, participant
from lk_notebook.waiting import Waiting

from .test_routing import stream


def router() -> Router:
    return Router("me", inbox_limit=100, report=lambda where, exc: None)


async def test_messages_with_count_and_timeout() -> None:
    r = router()
    batch = r.messages(topic="chat", maxsize=100, count=2, timeout=5)  # subscribed now, before anything arrives
    for text in (b"one", b"other topic", b"two", b"three"):
        r.on_packet(text, sender="bob", topic="other" if text == b"other topic" else "chat", kind=DataKind.LOSSY, at=0)
    assert [m.text async for m in batch] == ["one", "two"]
    late = r.messages(topic="chat", maxsize=100, count=2, timeout=0.2)
    r.on_packet(b"only one", sender="bob", topic="chat", kind=DataKind.LOSSY, at=0)
    got = []
    with pytest.raises(lk.WaitTimeoutError, match=r"fewer than 2 messages on topic 'chat' arrived within 0\.2 s"):
        async for m in late:
            got.append(m.text)
    assert got == ["only one"]


async def test_wait_for_participant_and_wait_for_raise_with_what_they_waited_for() -> None:
    state = RoomState("demo")
    state.apply(ParticipantJoined(participant("me", is_local=True), at=0.0))
    state.apply(ParticipantJoined(participant("bob"), at=0.0))
    waiting = Waiting(state, router(), identity="me")
    assert (await waiting.wait_for_participant("bob", timeout=0.1)).identity == "bob"
    with pytest.raises(lk.WaitTimeoutError, match=r"'carol' did not appear .* \(in the room: 'bob'\)") as err:
        await waiting.wait_for_participant("carol", timeout=0.1)
    assert isinstance(err.value, TimeoutError) and err.value.timeout == 0.1
    arrives = asyncio.get_running_loop().call_later(0.05, state.apply, ParticipantJoined(participant("carol"), 1.0))
    assert (await waiting.wait_for_participant("carol", timeout=5)).identity == "carol"
    arrives.cancel()
    assert await waiting.wait_for(lambda s: "dave" in s, timeout=0.05) is False  # the old answer, kept
    with pytest.raises(lk.WaitTimeoutError, match=r"dave's arrival did not become true within 0\.05 s"):
        await waiting.wait_for(lambda s: "dave" in s, timeout=0.05, raise_on_timeout=True, what="dave's arrival")
    with pytest.raises(lk.InvalidInputError):
        await waiting.wait_for(lambda s: True, timeout=0)


async def test_next_stream_waits_for_the_end_of_a_matching_received_stream() -> None:
    r = router()
    waiting = Waiting(RoomState("demo"), r, identity="me")
    done = waiting.next_stream(topic="t", timeout=5)
    r.update_stream(stream(1, StreamState.STARTED))  # not ended yet
    r.update_stream(dataclasses.replace(stream(2), topic="other"))  # another topic
    r.update_stream(dataclasses.replace(stream(3), sent=True))  # one we sent
    r.update_stream(stream(1))
    record = await done
    assert record.stream_id == "s1" and record.state is StreamState.FINISHED
    with pytest.raises(lk.WaitTimeoutError, match=r"no stream on topic 'x' from 'bob' finished within 0\.05 s"):
        await waiting.next_stream(topic="x", sender="bob", timeout=0.05)


def test_rpc_absent_identity_names_who_is_there_and_a_near_match() -> None:
    text = absent_destination_message("Bob", ["bob", "carol"], room="demo")
    assert "in the room: 'bob', 'carol'" in text and "Did you mean 'bob'?" in text
    assert "Did you mean 'carol'?" in absent_destination_message("carl", ["bob", "carol"], room="demo")
    alone = absent_destination_message("zed", [], room="demo")
    assert "nobody else" in alone and "Did you mean" not in alone


async def test_rpc_answers_and_handler_failures() -> None:
    assert encode_response("m", {"a": [1, "é"]}) == '{"a":[1,"é"]}'
    assert encode_response("m", None) == "" and encode_response("m", "x") == "x"
    with pytest.raises(TypeError, match="return a str, a dict or a list"):
        encode_response("m", 42)

    def broken(call: object) -> str:
        raise ValueError("no such order")

    with pytest.raises(HandlerFailed) as failed:
        await wrap_handler("lookup", broken)(object())
    assert failed.value.code == 1500 and failed.value.message == "ValueError: no such order"
    assert isinstance(failed.value.cause, ValueError) and isinstance(failed.value, rtc.RpcError)

    def chooses(call: object) -> str:
        raise rtc.RpcError(1401, "chosen")

    with pytest.raises(rtc.RpcError) as chosen:
        await wrap_handler("m", chooses)(object())
    assert not isinstance(chosen.value, HandlerFailed) and chosen.value.code == 1401


def test_a_session_on_a_stopped_loop_says_use_asyncio_run() -> None:
    guard = LifecycleGuard("demo", "ann", RoomState("demo"))
    guard.require_open("publish")  # never connected: nothing to check
    loop = asyncio.new_event_loop()
    guard.loop = loop
    loop.close()
    with pytest.raises(lk.EventLoopError, match=r"cannot set attributes: .*asyncio.run\(main\(\)\)") as err:
        guard.require_open("set attributes")
    assert isinstance(err.value, RuntimeError)


def test_joined_rows_carry_the_starting_state_and_no_nan() -> None:
    state = RoomState("demo")
    bob = participant("bob", name="Bob", metadata="v2", attributes={"role": "guest"})
    state.apply(ParticipantJoined(bob, at=1.0))
    (change,) = state.history
    assert change.old is None and json.loads(change.new or "") == {
        "name": "Bob",
        "metadata": "v2",
        "attributes": {"role": "guest"},
    }
    assert change.new == joined_value(bob)
    row = state.history_frame().iloc[0]
    assert row.old is None and row.kind == "joined"


def test_errors_advise_the_toolkit_and_say_what_to_pass() -> None:
    error = limits.check_publish(b"x" * 70_000, reliable=True, topic=None, destinations=None, identity="a").too_large()
    assert error is not None and "session.send_bytes" in str(error) and "room.local_participant" not in str(error)
    advice = no_relay_advice("ws://127.0.0.1:7880")
    assert "on this machine" in advice and "server=lk_notebook.LocalServer(relay=True)" in advice
    assert "remote" not in advice and "bench --local" in advice


def test_server_json_goes_to_stdout_only(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "creds.json"
    assert cli_main(["server", "--json", str(target)]) == 2  # refused before any server starts
    assert "stdout only" in capsys.readouterr().err and not target.exists()


def test_quiet_lab_sets_the_setting_the_news_prompt_depends_on(tmp_path: Path) -> None:
    env = quiet_lab_env(tmp_path / "cfg", {"JUPYTER_CONFIG_PATH": "/elsewhere"})
    first, rest = env["JUPYTER_CONFIG_PATH"].split(":", 1)
    assert first == str(tmp_path / "cfg") and rest == "/elsewhere"
    saved = json.loads((tmp_path / "cfg" / "labconfig" / "default_setting_overrides.json").read_text())
    assert saved[NOTIFICATION_PLUGIN] == {"fetchNews": "false", "checkForUpdates": False}


@pytest.mark.parametrize(("count", "timeout"), [(0, None), (1.5, None), (None, 0), (None, "5")])
def test_messages_refuses_a_count_or_timeout_it_cannot_honour(count: Any, timeout: Any) -> None:
    with pytest.raises(lk.InvalidInputError, match="must be a positive"):
        router().messages(topic=None, maxsize=10, count=count, timeout=timeout)
