"""The loopback address the lab's relay layout needs (127.0.0.2), and a check that this machine can use it.

Linux routes all of 127.0.0.0/8 to the loopback interface; macOS routes only 127.0.0.1 until an alias is added, so
binding 127.0.0.2 there fails with EADDRNOTAVAIL. Without the check, the relay layout would fail later and
misleadingly (every UDP port "in use" on 127.0.0.2), so `LocalServer(relay=True)` and the relay check first.
"""

from __future__ import annotations

import socket

from .errors import LabError

__all__ = ["RELAY_HOST", "check_relay_host", "relay_host_error", "unusable_message"]

RELAY_HOST = "127.0.0.2"
"""Address the server advertises in relay layout; the lab's UDP relay listens here."""


def relay_host_error(host: str = RELAY_HOST) -> OSError | None:
    """Why a UDP socket cannot bind `host` (any port), or None when it can."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, 0))
        except OSError as exc:
            return exc
    return None


def unusable_message(host: str, why: OSError) -> str:
    """What to do when `host` cannot be bound: the one-line fix, and what works without it."""
    return (
        f"the lab's impairment relay needs the loopback address {host}, which this machine cannot use "
        f"({why.strerror or why}). macOS routes only 127.0.0.1 by default; add the alias once (it lasts until "
        f"reboot) with:\n    sudo ifconfig lo0 alias {host} up\n"
        f"Without it, the lab still measures unimpaired (no loss or delay injection) through a server without the "
        f"relay: pass server=lk_notebook.LocalServer() to the lab (or set LIVEKIT_URL)."
    )


def check_relay_host(host: str = RELAY_HOST) -> None:
    """LabError naming the one-line fix unless a UDP socket can bind `host`."""
    why = relay_host_error(host)
    if why is not None:
        raise LabError(unusable_message(host, why)) from why
