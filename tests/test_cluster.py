"""LocalCluster against real Redis and real livekit-server nodes: layout, placement, relayed joins, the server API
through a node that does not host the room, lifecycle, two clusters at once, a missing Redis, a node killed."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from livekit import rtc

import lk_notebook as lk
from lk_notebook.cluster import LocalCluster, placement
from lk_notebook.lab import Impairment, Lab
from lk_notebook.lab.cluster_lab import measure_node_failure
from lk_notebook.lab.rig import ClusterTopology
from lk_notebook.lab.state_lab import measure_state
from lk_notebook.widgets import RoomPanel

from .cli_server import start_cli_server
from .conftest import ARTIFACTS, env_without_livekit, eventually

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(nodes=2, log_dir=ARTIFACTS / "cluster-logs") as c:
        yield c


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status not in ("Z", "X")


def test_nodes_have_their_own_ports_and_two_distinct_nodes_are_registered(cluster: LocalCluster) -> None:
    assert len(set(cluster.urls)) == 2 and len(set(cluster.node_ids)) == 2
    assert all(n.startswith("ND_") for n in cluster.node_ids)
    # What `livekit-server list-nodes` reads: the `nodes` hash in Redis.
    assert cluster.registered_nodes() == sorted(cluster.node_ids)
    ports: list[int] = []
    for node in cluster.nodes:
        cfg = node.config_dict()
        ports += [node.port, cfg["rtc"]["tcp_port"], cfg["prometheus"]["port"], cfg["debug_handler"]["port"]]
        assert cfg["rtc"]["node_ip"] == "127.0.0.1" and cfg["rtc"]["enable_loopback_candidate"] is True
        assert cfg["rtc"]["stun_servers"][0].startswith("127.0.0.1:")
        # Each node's prometheus port answers with its own metrics.
        with urllib.request.urlopen(f"http://127.0.0.1:{cfg['prometheus']['port']}/metrics", timeout=5) as resp:
            assert resp.status == 200 and b"livekit" in resp.read()
    udp = [n.udp_port for n in cluster.nodes]
    assert len(set(ports)) == len(ports) and len(set(udp)) == 2


def test_livekit_list_nodes_shows_both(cluster: LocalCluster) -> None:
    assert cluster.redis is not None and cluster.nodes[0].binary_path is not None
    conf = json.dumps({"redis": cluster.redis.config(), "keys": {cluster.api_key: cluster.api_secret}})
    env = {**env_without_livekit(), "LIVEKIT_CONFIG": conf}
    out = subprocess.run(
        [str(cluster.nodes[0].binary_path), "list-nodes"], env=env, capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0, out.stderr[-2000:]
    for node_id in cluster.node_ids:
        assert node_id in out.stdout, out.stdout


def test_secrets_are_not_on_command_lines_in_logs_or_readable_by_others(cluster: LocalCluster) -> None:
    assert cluster.redis is not None
    secrets_ = (cluster.api_secret, cluster.redis.password)
    pids = [n.pid() for n in cluster.nodes] + [cluster.redis.pid()]
    for pid in pids:
        assert pid is not None
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        assert not any(s in cmdline for s in secrets_), "a secret is on a command line (visible in ps)"
        # The node configuration travels in the environment, which only the owner can read.
        mode = Path(f"/proc/{pid}/environ").stat().st_mode
        assert not mode & (stat.S_IRGRP | stat.S_IROTH)
    logs = [n.log_path for n in cluster.nodes] + [cluster.redis.log_path]
    for log in logs:
        assert log is not None
        text = log.read_text(errors="replace")
        assert text and not any(s in text for s in secrets_), f"a secret is in {log}"
    assert "***" in repr(cluster) and cluster.api_secret not in repr(cluster)
    assert cluster.redis.password not in repr(cluster.redis)


async def test_room_pinned_to_a_node_is_reported_there(cluster: LocalCluster, room_name: str) -> None:
    async with lk.ServerAPI(cluster.credentials_for(0)) as admin:
        await admin.create_room(room_name + "-2", node_id=cluster.node_ids[1])
        await admin.create_room(room_name + "-1", node_id=cluster.node_ids[0])
        try:
            assert cluster.room_node(room_name + "-2") == cluster.node_ids[1]
            assert cluster.room_node(room_name + "-1") == cluster.node_ids[0]
            assert cluster.room_node(room_name + "-none") is None
            # A session joining the room on node 2 through node 1: its signal is relayed, the room stays put.
            s = await lk.join(
                room_name + "-2", identity="ann", url=cluster.urls[0], api_key=cluster.api_key,
                api_secret=cluster.api_secret,
            )  # fmt: skip
            try:
                assert cluster.room_node(room_name + "-2") == cluster.node_ids[1]
                placed = placement(s.url, s.room_name)
                assert placed is not None and (placed.via_node, placed.room_node) == (1, 2)
                panel = RoomPanel(s)
                try:
                    shown = json.loads(panel.describe())
                    assert (shown["via_node"], shown["room_node"]) == (cluster.node_ids[0], cluster.node_ids[1])
                    panel._render()
                    assert "via node 1" in panel.status.value and "room on node 2" in panel.status.value
                finally:
                    panel.close()
            finally:
                await s.leave()
        finally:
            await admin.delete_room(room_name + "-2")
            await admin.delete_room(room_name + "-1")


async def test_raw_sdk_client_on_node_2_and_session_on_node_1_see_each_other(
    cluster: LocalCluster, room_name: str
) -> None:
    async with lk.ServerAPI(cluster.credentials_for(1)) as admin:
        await admin.create_room(room_name, node_id=cluster.node_ids[1])
    session = await lk.join(
        room_name, identity="ann", url=cluster.urls[0], api_key=cluster.api_key, api_secret=cluster.api_secret
    )
    raw = rtc.Room()
    received: list[tuple[bytes, str]] = []
    raw.on("data_received", lambda p: received.append((p.data, p.participant.identity if p.participant else "")))
    await raw.connect(cluster.urls[1], cluster.credentials.token(room_name, "bob"))
    try:
        assert cluster.room_node(room_name) == cluster.node_ids[1]
        await eventually(lambda: (p := session.state.get("bob")) is not None and p.active, what="session sees bob")
        # session -> raw client
        await session.set_attributes({"mood": "curious"})
        await session.set_metadata('{"ann": 1}')
        await session.publish("hello bob", topic="chat")

        def ann() -> rtc.RemoteParticipant | None:
            return raw.remote_participants.get("ann")

        await eventually(lambda: (p := ann()) is not None and p.attributes.get("mood") == "curious", what="attr")
        await eventually(lambda: (p := ann()) is not None and p.metadata == '{"ann": 1}', what="metadata")
        await eventually(lambda: (b"hello bob", "ann") in received, what="message to the raw client")
        # raw client -> session
        await raw.local_participant.set_attributes({"seat": "7"})
        await raw.local_participant.set_metadata("bob-meta")
        await raw.local_participant.publish_data(b"hello ann", reliable=True, topic="chat")
        assert await session.wait_for(lambda s: (p := s.get("bob")) is not None and p.attributes.get("seat") == "7")
        assert await session.wait_for(lambda s: (p := s.get("bob")) is not None and p.metadata == "bob-meta")
        await eventually(lambda: any(m.text == "hello ann" and m.sender == "bob" for m in session.inbox), what="msg")
    finally:
        await raw.disconnect()
        await session.leave()


async def test_server_api_through_the_node_that_does_not_host_the_room(cluster: LocalCluster, room_name: str) -> None:
    async with lk.ServerAPI(cluster.credentials_for(0)) as host, lk.ServerAPI(cluster.credentials_for(1)) as other:
        await host.create_room(room_name, node_id=cluster.node_ids[0])
        s = await lk.join(
            room_name, identity="ann", url=cluster.urls[0], api_key=cluster.api_key, api_secret=cluster.api_secret
        )
        try:
            assert cluster.room_node(room_name) == cluster.node_ids[0]
            assert [p.identity for p in await other.list_participants(room_name)] == ["ann"]
            assert room_name in {r.name for r in await other.list_rooms()}
            await other.update_room_metadata(room_name, "set via node 2")
            await other.update_participant(room_name, "ann", attributes={"by": "node2"})
            await other.send_data(room_name, "via node 2", topic="sys")
            assert await s.wait_for(lambda st: st.room_metadata == "set via node 2")
            assert await s.wait_for(lambda st: (p := st.local) is not None and p.attributes.get("by") == "node2")
            await eventually(lambda: any(m.text == "via node 2" for m in s.inbox), what="server data via node 2")
            await other.remove_participant(room_name, "ann")
            await eventually(lambda: s.status is lk.ConnectionStatus.DISCONNECTED, what="removed through node 2")
        finally:
            await s.leave()
            await host.delete_room(room_name)


def test_placing_a_room_on_an_unknown_node_is_refused_by_node_index(cluster: LocalCluster) -> None:
    with pytest.raises(ValueError, match="not a node of this cluster"):
        cluster.node_index("ND_nope")
    assert cluster.node_index(cluster.node_ids[1]) == 1


async def test_two_clusters_and_a_single_server_at_once(
    cluster: LocalCluster, server: lk.LocalServer, room_name: str
) -> None:
    with LocalCluster(nodes=2) as second:
        assert not set(second.urls) & set(cluster.urls) and server.url not in second.urls
        assert not set(second.node_ids) & set(cluster.node_ids)
        assert second.redis is not None and cluster.redis is not None and second.redis.port != cluster.redis.port
        assert second.api_secret != cluster.api_secret
        # Each cluster is its own deployment: a room in one is unknown to the other (separate Redis).
        sessions = [
            await lk.join(room_name, identity="x", url=c.urls[1], api_key=c.api_key, api_secret=c.api_secret)
            for c in (cluster, second)
        ]
        try:
            assert second.registered_nodes() == sorted(second.node_ids)
            assert cluster.registered_nodes() == sorted(cluster.node_ids)
            assert cluster.room_node(room_name) in cluster.node_ids
            assert second.room_node(room_name) in second.node_ids
            await sessions[0].set_attributes({"cluster": "first"})
            async with lk.ServerAPI(second.credentials) as admin:
                (p,) = await admin.list_participants(room_name)
                assert p.identity == "x" and "cluster" not in p.attributes
        finally:
            for s in sessions:
                await s.leave()
        pids = [n.pid() for n in second.nodes] + [second.redis.pid()]
    assert all(pid is not None and not _alive(pid) for pid in pids)
    assert cluster.running


def test_redis_missing_gives_a_clear_error_naming_the_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: no redis-server on PATH
    with pytest.raises(lk.RedisMissingError, match=r"redis-server.*package") as err:
        LocalCluster(nodes=2).start()
    assert "apt-get install redis-server" in str(err.value)
    assert isinstance(err.value, lk.LkNotebookError)


_OWNER = """
import json, os, sys, time
from lk_notebook.cluster import LocalCluster
c = LocalCluster(nodes=2).start()
print(json.dumps([n.pid() for n in c.nodes] + [c.redis.pid()]), flush=True)
sys.stdin.readline()  # until the test has seen the children alive (exiting at once raced its check)
if sys.argv[1] == "exit":
    sys.exit(0)      # atexit stops the cluster
time.sleep(600)      # killed by the test: Linux kills the children (PR_SET_PDEATHSIG)
"""


@pytest.mark.parametrize("how", ["exit", "killed"])
def test_cluster_stops_at_interpreter_exit_and_when_its_owner_dies(how: str) -> None:
    env = {**env_without_livekit(), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", _OWNER, how], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        pids = json.loads(proc.stdout.readline())
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        if how == "killed":
            proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 10  # SIGKILL / SIGTERM of an idle process: gone in milliseconds
        while time.monotonic() < deadline and any(_alive(p) for p in pids):
            time.sleep(0.05)
        assert not any(_alive(p) for p in pids), f"left running after the owner's {how}"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_cli_server_nodes_json_prints_one_line_then_stops_everything_on_sigterm() -> None:
    proc = start_cli_server("--nodes", "2", "--json")
    assert proc.stdout is not None
    try:
        line = json.loads(proc.stdout.readline())
        assert sorted(line) == ["api_key", "api_secret", "url", "urls"]
        assert line["url"] == line["urls"][0] and len(set(line["urls"])) == 2 and len(line["api_secret"]) >= 32
        for url in line["urls"]:
            host, port = url.removeprefix("ws://").split(":")
            with socket.create_connection((host, int(port)), timeout=5):
                pass
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        for url in line["urls"]:
            host, port = url.removeprefix("ws://").split(":")
            with pytest.raises(OSError):
                socket.create_connection((host, int(port)), timeout=2).close()
    finally:
        if proc.poll() is None:
            proc.kill()


async def test_node_killed_mid_session() -> None:
    """Kill the room's node: participants that came in through the other node are moved to a new room on it."""
    with LocalCluster(nodes=2, log_dir=ARTIFACTS / "cluster-failure-logs") as c:
        # `wait` bounds the whole recovery: LiveKit took 7.5-12 s to notice here (3 runs), so 40 s is > 3x that.
        failure = await measure_node_failure(c, victim=1, wait=40.0)
        print(failure)
        assert failure.detected_s is not None, "the survivors' session never noticed the room's node died"
        assert failure.reconnected_s is not None and failure.usable_s is not None, failure
        assert failure.detected_s <= failure.reconnected_s <= failure.usable_s
        assert failure.new_room_node == c.node_ids[0], "the room should now live on the surviving node"
        assert failure.peer_on_dead_node_gone
        assert failure.room_metadata_kept and failure.attributes_kept, failure
        assert c.nodes[0].running and not c.nodes[1].running
        await asyncio.sleep(0)


async def test_lab_rig_takes_a_cluster_topology_with_a_relay_per_node() -> None:
    """Sender through node 1, receiver through node 2, room on node 2: the data path is node 2's relay only."""
    delay = 100.0
    with LocalCluster(nodes=2, relay=True, log_dir=ARTIFACTS / "cluster-relay-logs") as c:
        lab = await Lab(cluster=c, topology=ClusterTopology(sender_node=0, receiver_node=1, room_node=1)).start()
        try:
            assert c.room_node(lab.room_name) == c.node_ids[1]
            assert [r.address for r in lab.relays] == [layout.advertised for layout in c.relay_layouts]
            assert lab.relay is lab.relays[1] and lab.path.startswith(f"relay {lab.relays[1].address[0]}")
            assert lab.sender is not None and lab.receiver is not None
            assert (lab.sender.url, lab.receiver.url) == (c.urls[0], c.urls[1])
            frame = (await measure_state(lab, repeats=3, impairment=Impairment(delay_ms=delay))).set_index("channel")
            assert (frame["timeouts"] == 0).all()
            # Data crosses node 2's relay twice (sender up, receiver down), each leg delayed `delay`: >= 2x delay.
            assert frame.loc["data", "latency_p50_ms"] >= 2 * delay
            # Attributes travel over the signal connections (WebSocket, not the UDP relay): no added delay. Their
            # unimpaired p99 here is 20-40 ms on a loaded machine, well under one `delay`.
            assert frame.loc["attributes", "latency_p50_ms"] < delay
            # The delivery lab's runs work on the topology too: every reliable message arrives, through node 2.
            row = (await lab.run(mode="reliable", size=200, rate=50, duration=1.0)).row
            assert row["sent"] > 0 and row["received"] == row["sent"] and row["path"] == lab.path
            assert lab.relays[0].stats().received == [0, 0], "node 1's relay carried traffic for a room on node 2"
        finally:
            await lab.aclose()


async def test_redis_dying_under_a_cluster_gives_clear_errors(room_name: str) -> None:
    with LocalCluster(nodes=2, log_dir=ARTIFACTS / "cluster-redis-down-logs") as c:
        s = await lk.join(room_name, identity="a", url=c.urls[0], api_key=c.api_key, api_secret=c.api_secret)
        try:
            assert c.redis is not None
            pid = c.redis.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            await eventually(lambda: c.redis is not None and not c.redis.running, what="Redis gone")
            with pytest.raises(lk.ServerExitedError, match=r"Redis .* has exited"):
                c.room_node(room_name)
            assert placement(s.url, room_name) is None  # views keep working, without placement
            # LiveKit answers a new join with HTTP 500 (it cannot place the room): a JoinError, not a hang.
            with pytest.raises(lk.JoinError):
                await lk.join(
                    room_name + "-new", identity="b", url=c.urls[1], api_key=c.api_key, api_secret=c.api_secret,
                    timeout=15,
                )  # fmt: skip
        finally:
            await asyncio.wait_for(s.leave(), 10)
