"""The relay layout's loopback address: where a machine cannot bind it (macOS without the alias), the lab says so
up front, with the one-line fix, instead of failing later with every port "in use". Pure unit tests: an address no
interface holds stands in for 127.0.0.2 on macOS (the same EADDRNOTAVAIL), and no server is started."""

from __future__ import annotations

import errno
import socket

import pytest

from lk_notebook import relay_host
from lk_notebook.errors import LabError
from lk_notebook.lab import ImpairmentRelay
from lk_notebook.server import LocalServer, RelayLayout

UNASSIGNED = "192.0.2.1"
"""TEST-NET-1 (RFC 5737): no interface holds it, so binding it fails as 127.0.0.2 does on macOS."""


def test_the_probe_tells_an_unusable_address_from_a_usable_one() -> None:
    why = relay_host.relay_host_error(UNASSIGNED)
    assert isinstance(why, OSError)
    assert why.errno == errno.EADDRNOTAVAIL
    assert relay_host.relay_host_error("127.0.0.1") is None


def test_an_unusable_address_names_the_one_line_fix_and_the_alternative() -> None:
    with pytest.raises(LabError) as caught:
        relay_host.check_relay_host(UNASSIGNED)
    message = str(caught.value)
    assert f"sudo ifconfig lo0 alias {UNASSIGNED} up" in message
    assert "macOS" in message
    assert "LocalServer()" in message  # what works without the alias: unimpaired, no relay
    assert "address" in message and "in use" not in message
    assert isinstance(caught.value.__cause__, OSError)


def _unusable(host: str = relay_host.RELAY_HOST) -> OSError:
    return OSError(errno.EADDRNOTAVAIL, "Can't assign requested address")


def test_a_relay_layout_server_refuses_before_starting_anything(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_host, "relay_host_error", _unusable)
    server = LocalServer(relay=True, binary="/nonexistent/livekit-server", install=False)
    with pytest.raises(LabError, match=r"sudo ifconfig lo0 alias 127\.0\.0\.2 up"):
        server.start()
    assert not server.running and server.port == 0  # refused before any port was probed or process spawned


def test_a_server_without_the_relay_does_not_need_the_address(monkeypatch: pytest.MonkeyPatch) -> None:
    def must_not_probe(host: str = relay_host.RELAY_HOST) -> OSError:
        raise AssertionError("a server without the relay layout probed the relay's address")

    monkeypatch.setattr(relay_host, "relay_host_error", must_not_probe)
    server = LocalServer(relay=False, binary="/nonexistent/livekit-server", install=False)
    with pytest.raises(Exception) as caught:  # any failure to spawn a nonexistent binary will do
        server.start(attempts=1)
    assert not isinstance(caught.value, AssertionError | LabError)


def test_the_relay_refuses_an_unusable_address_with_the_fix() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as upstream:
        upstream.bind(("127.0.0.1", 0))
        relay = ImpairmentRelay(RelayLayout(advertised=(UNASSIGNED, 40_000), upstream=upstream.getsockname()))
        with pytest.raises(LabError, match=rf"sudo ifconfig lo0 alias {UNASSIGNED} up"):
            relay.start()
        assert not relay.running
