"""The impairment relay on its own: plain UDP through it, no LiveKit (the relay is socket plumbing)."""

from __future__ import annotations

import math
import socket
import time
from collections.abc import Iterator

import pytest

from lk_notebook.errors import LabError
from lk_notebook.lab import Impairment, ImpairmentRelay
from lk_notebook.server import RelayLayout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.2", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def echo_path() -> Iterator[tuple[ImpairmentRelay, socket.socket, socket.socket]]:
    """relay 127.0.0.2:P -> 'server' socket on 127.0.0.1; a client socket talking to the relay."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(2)
    port = _free_port()
    relay = ImpairmentRelay(RelayLayout(advertised=("127.0.0.2", port), upstream=server.getsockname()), seed=7)
    relay.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.settimeout(2)
    try:
        yield relay, client, server
    finally:
        relay.stop()
        client.close()
        server.close()


def _drain(sock: socket.socket, quiet: float = 0.3) -> list[bytes]:
    out = []
    sock.settimeout(quiet)
    while True:
        try:
            data, _ = sock.recvfrom(65535)
        except TimeoutError:
            return out
        out.append(data)


def test_forwards_both_ways_and_answers_from_the_advertised_address(echo_path: tuple) -> None:  # type: ignore[type-arg]
    relay, client, server = echo_path
    client.sendto(b"ping", relay.address)
    data, upstream_addr = server.recvfrom(100)
    assert data == b"ping" and upstream_addr[0] == "127.0.0.1"
    server.sendto(b"pong", upstream_addr)
    data, addr = client.recvfrom(100)
    assert (data, addr) == (b"pong", relay.address)
    st = relay.stats()
    assert (st.forwarded, st.clients) == ([1, 1], 1)


def test_loss_is_per_datagram_and_per_direction(echo_path: tuple) -> None:  # type: ignore[type-arg]
    relay, client, server = echo_path
    client.sendto(b"hello", relay.address)
    _, upstream_addr = server.recvfrom(100)
    p, n = 0.3, 2000
    relay.set_impairment(Impairment(loss=p))
    up: list[bytes] = []
    down: list[bytes] = []
    for start in range(0, n, 100):  # in chunks, so that our own sockets' receive buffers never overflow
        for i in range(start, start + 100):
            client.sendto(i.to_bytes(4, "big"), relay.address)
            server.sendto(i.to_bytes(4, "big"), upstream_addr)
        up += _drain(server, quiet=0.05)
        down += _drain(client, quiet=0.05)
    tol = 4 * math.sqrt(p * (1 - p) / n)  # binomial standard deviation, 4 sigma
    assert abs((1 - len(up) / n) - p) < tol
    assert abs((1 - len(down) / n) - p) < tol
    st = relay.stats()
    assert st.dropped[0] + len(up) == n and st.dropped[1] + len(down) == n


def test_drop_log_names_exactly_the_datagrams_that_did_not_arrive(echo_path: tuple) -> None:  # type: ignore[type-arg]
    # Plain UDP carries its own sequence number here, so the relay's log (ordinal within the flow) can be compared
    # with what went missing, datagram by datagram; a one-way loss setting leaves the other direction whole.
    relay, client, server = echo_path
    client.sendto(b"hello", relay.address)
    _, upstream_addr = server.recvfrom(100)
    n, size = 1000, 300
    for direction, loss_direction in ((0, "up"), (1, "down")):
        relay.set_impairment(Impairment(loss=0.2, loss_direction=loss_direction))
        log = relay.record_drops(200)
        up: list[bytes] = []
        down: list[bytes] = []
        for start in range(0, n, 100):
            for i in range(start, start + 100):
                client.sendto(i.to_bytes(4, "big").ljust(size, b"\0"), relay.address)
                server.sendto(i.to_bytes(4, "big").ljust(size, b"\0"), upstream_addr)
            server.sendto(b"small", upstream_addr)  # under the log's 200 B: neither numbered nor logged
            up += _drain(server, quiet=0.05)
            down += _drain(client, quiet=0.05)
        assert relay.stop_recording() is not None and relay.stop_recording() is None
        got = [{int.from_bytes(d[:4], "big") for d in got if len(d) == size} for got in (up, down)]
        assert len(log.flows) == 2  # one client: its flow each way
        flow, other = (f for (d, _), f in sorted(log.flows.items(), key=lambda kv: kv[0][0] != direction))
        assert flow.datagrams == n and len(flow.dropped) > 0.1 * n
        assert {ordinal for ordinal, _, _ in flow.dropped} == set(range(n)) - got[direction]
        assert got[1 - direction] == set(range(n))  # the other leg lost nothing
        assert other.datagrams == n and not other.dropped
    relay.clear()


def test_delay_without_jitter_never_reorders(echo_path: tuple) -> None:  # type: ignore[type-arg]
    relay, client, server = echo_path
    relay.set_impairment(Impairment(delay_ms=30))
    t0 = time.monotonic()
    for i in range(200):
        client.sendto(i.to_bytes(4, "big"), relay.address)
    first, _ = server.recvfrom(100)
    assert time.monotonic() - t0 >= 0.028
    rest = _drain(server)
    assert [int.from_bytes(d, "big") for d in [first, *rest]] == list(range(200))


def test_jitter_reorders_only_when_it_implies_it(echo_path: tuple) -> None:  # type: ignore[type-arg]
    relay, client, server = echo_path
    relay.set_impairment(Impairment(delay_ms=20, jitter_ms=10))
    for i in range(100):
        client.sendto(i.to_bytes(4, "big"), relay.address)  # sent back to back: jitter >> spacing
    got = [int.from_bytes(d, "big") for d in _drain(server)]
    assert sorted(got) == list(range(100)) and got != list(range(100))


def test_bandwidth_cap_paces_datagrams(echo_path: tuple) -> None:  # type: ignore[type-arg]
    relay, client, server = echo_path
    relay.set_impairment(Impairment(rate_kbps=800))  # 100 kB/s
    t0 = time.monotonic()
    for _ in range(20):
        client.sendto(b"x" * 1000, relay.address)
    got = _drain(server, quiet=0.5)
    elapsed = time.monotonic() - t0 - 0.5
    assert len(got) == 20
    assert elapsed >= 0.8 * 20 * 1000 / 100_000  # 20 kB at 100 kB/s: ~0.2 s


def test_relay_needs_a_relay_layout() -> None:
    with pytest.raises(LabError, match="relay"):
        ImpairmentRelay(None)
