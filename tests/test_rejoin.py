"""Rejoin: a session joined with rejoin=True survives a server killed with SIGKILL and restarted on the same port.

The test starts its OWN livekit-server on fixed free ports (the shared one from conftest must not be killed), joins
a watcher (rejoin=True) and a peer (rejoin=False), kills the server with SIGKILL, waits until the SDK has given up
(the watcher's rejoin loop is running: this is the path under test, not the SDK's own reconnect), restarts the
server on the same ports with the same keys, and lets another peer join. Without any call from the test, the
watcher must be connected again, and its RoomState must equal what the server's list_participants says. The gap
is in the history and in the RoomPanel's status line; leave() stops a rejoin in progress.
"""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

import lk_notebook as lk
from lk_notebook.events import ConnectionStatus, ParticipantInfo
from lk_notebook.rejoin import MAX_DELAY, backoff, should_rejoin
from lk_notebook.server import LocalServer
from lk_notebook.state import RoomState

from .conftest import ARTIFACTS, eventually

pytestmark = [pytest.mark.server, pytest.mark.slow]

# The SDK gives up after its retry schedule (10 attempts): measured 16-31 s after SIGKILL per session; x2 the max.
SDK_GIVE_UP_S = 62.0
# After the restart the next attempt comes within one back-off step (MAX_DELAY) plus a join (~1 s measured here;
# 10 s covers a loaded 2-core machine); x2 for margin.
REJOIN_S = 2 * (MAX_DELAY + 10.0)


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _view(participants: list[ParticipantInfo] | RoomState) -> dict[str, tuple[str, str, dict[str, str]]]:
    return {p.identity: (p.name, p.metadata, dict(p.attributes)) for p in participants}


def _kill(server: LocalServer) -> None:
    pid = server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    server.stop()  # reaps the process and closes the log; the ports stay as requested for the restart


def test_rejoin_policy_and_backoff() -> None:
    assert should_rejoin("SIGNAL_CLOSE") and should_rejoin("SERVER_SHUTDOWN") and should_rejoin("UNKNOWN_REASON")
    for sent_away in ("CLIENT_INITIATED", "DUPLICATE_IDENTITY", "PARTICIPANT_REMOVED", "ROOM_DELETED"):
        assert not should_rejoin(sent_away), sent_away
    delays = [backoff(i) for i in range(8)]
    assert delays[:5] == [0.5, 1.0, 2.0, 4.0, 8.0] and max(delays) == MAX_DELAY


async def test_rejoin_after_sigkill_and_restart_on_the_same_port(room_name: str) -> None:
    server = LocalServer(
        port=_free(socket.SOCK_STREAM), udp_port=_free(socket.SOCK_DGRAM), log_dir=ARTIFACTS / "server-logs"
    ).start()
    creds = {"url": server.url, "api_key": server.api_key, "api_secret": server.api_secret}
    sessions: list[lk.Session] = []
    try:
        watcher = await lk.join(room_name, identity="watcher", attributes={"role": "watch"}, rejoin=True, **creds)
        sessions.append(watcher)
        watcher.register_rpc_method("ping", lambda call: f"pong to {call.caller_identity}")
        quitter = await lk.join(room_name, identity="quitter", rejoin=True, **creds)
        sessions.append(quitter)
        before = await lk.join(room_name, identity="peer-before", attributes={"x": "1"}, **creds)
        sessions.append(before)
        await eventually(lambda: "peer-before" in watcher.state, timeout=10, what="peer seen before the kill")

        killed = time.monotonic()
        _kill(server)
        given_up = await eventually(lambda: watcher.rejoin.active, timeout=SDK_GIVE_UP_S, what="the SDK gave up")
        print(f"SDK gave up {given_up:.1f} s after SIGKILL; status {watcher.status.value}")
        assert watcher.status is ConnectionStatus.RECONNECTING  # not closed: the session is bridging the gap
        # leave() during a rejoin stops it: no task left, disconnected, and it does not come back below.
        await eventually(lambda: quitter.rejoin.active, timeout=SDK_GIVE_UP_S, what="the quitter SDK gave up too")
        await quitter.leave()
        assert not quitter.rejoin.active and len(quitter.tasks) == 0
        assert quitter.status is ConnectionStatus.DISCONNECTED
        # peer-before (rejoin=False) must have given up too, or its own SDK reconnect could bring it back.
        await eventually(lambda: before.closed, timeout=SDK_GIVE_UP_S, what="peer-before's SDK gave up")
        server.start()
        after = await lk.join(room_name, identity="peer-after", name="Late", attributes={"y": "2"}, **creds)
        sessions.append(after)

        # No call on the watcher: it comes back on its own.
        back = await eventually(
            lambda: watcher.status is ConnectionStatus.CONNECTED and watcher.rejoin.rejoins == 1,
            timeout=REJOIN_S,
            what="watcher connected again",
        )
        print(f"rejoined {back:.1f} s after the restart, {time.monotonic() - killed:.1f} s after SIGKILL")
        async with lk.ServerAPI(**creds) as api:

            async def same_as_server() -> bool:
                return _view(watcher.state) == _view(await api.list_participants(room_name))

            await eventually(same_as_server, timeout=10, what="watcher's state == list_participants")
            final = _view(await api.list_participants(room_name))
        # peer-before (rejoin=False) and quitter (left during its rejoin) stayed gone.
        assert set(final) == {"watcher", "peer-after"}, final
        assert final["watcher"][2] == {"role": "watch"}  # own attributes carried into the rejoin's token
        assert final["peer-after"] == ("Late", "", {"y": "2"})

        # The new rtc.Room has the same handlers: data, streams (recorded on any topic) and registered RPC methods.
        await eventually(lambda: "watcher" in after.state, timeout=10, what="the late peer sees the watcher")
        got: list[lk.Message] = []
        watcher.on_message(got.append)
        await after.publish("data after the gap", topic="t")
        await after.send_text("stream after the gap", topic="s", destinations=["watcher"])
        answer = await after.perform_rpc("watcher", "ping", timeout=10)
        assert answer.response == "pong to peer-after"
        await eventually(lambda: any(m.text == "data after the gap" for m in got), timeout=10, what="data")
        await eventually(
            lambda: any(r.topic == "s" and r.sender == "peer-after" for r in watcher.streams), timeout=10, what="stream"
        )

        # The gap is in the history (with what the resync found) and in the dashboard's status line.
        history = watcher.state.history
        gaps = [c for c in history if c.kind == "gap"]
        assert len(gaps) == 1 and gaps[0].new is not None and "offline" in gaps[0].new, gaps
        assert any(c.kind == "left" and c.identity == "peer-before" for c in history)
        assert any(c.kind == "joined" and c.identity == "peer-after" for c in history)
        from lk_notebook.widgets import RoomPanel

        panel = RoomPanel(watcher)
        try:
            panel._render()
            assert "rejoined after" in panel.status.value and "connected" in panel.status.value, panel.status.value
        finally:
            panel.close()

    finally:
        for s in sessions:
            await s.leave()
        server.stop()


async def test_no_rejoin_when_replaced_by_the_same_identity(credentials: lk.Credentials, room_name: str) -> None:
    first = await lk.join(room_name, identity="twin", rejoin=True)
    second = await lk.join(room_name, identity="twin")
    try:
        await eventually(lambda: first.status is ConnectionStatus.DISCONNECTED, timeout=10, what="first kicked")
        assert first.state.disconnect_reason == "DUPLICATE_IDENTITY"
        assert first.rejoin.attempts == 0 and not first.rejoin.active and len(first.tasks) == 0
        assert second.status is ConnectionStatus.CONNECTED
    finally:
        await first.leave()
        await second.leave()
