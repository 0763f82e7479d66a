"""Pure parts of lk_notebook.process: the port-collision retry and the exit-time registry (the real processes are
tested in test_server.py and test_cluster.py)."""

from __future__ import annotations

import gc

import pytest

from lk_notebook.errors import PortInUseError
from lk_notebook.process import StopAtExit, retry_port_collisions


def test_retry_calls_the_factory_afresh_and_raises_the_last_collision() -> None:
    made: list[int] = []

    def start() -> int:
        made.append(len(made))
        if len(made) < 3:
            raise PortInUseError("taken", port=20_000 + len(made))
        return made[-1]

    assert retry_port_collisions(start, attempts=3) == 2 and made == [0, 1, 2]
    made.clear()
    with pytest.raises(PortInUseError) as err:
        retry_port_collisions(start, attempts=2)
    assert err.value.port == 20_002 and made == [0, 1]


def test_retry_leaves_other_errors_alone() -> None:
    calls: list[None] = []

    def start() -> None:
        calls.append(None)
        raise ValueError("not a port")

    with pytest.raises(ValueError):
        retry_port_collisions(start, attempts=3)
    assert len(calls) == 1


class _Owner:
    def __init__(self, log: list[str], name: str) -> None:
        self.log, self.name = log, name

    def stop(self) -> None:
        self.log.append(self.name)
        if self.name == "broken":
            raise RuntimeError("a failing stop must not keep the others running")


def test_stop_at_exit_stops_what_is_still_registered_and_holds_it_weakly() -> None:
    log: list[str] = []
    running = StopAtExit[_Owner]()
    kept, broken, stopped = _Owner(log, "kept"), _Owner(log, "broken"), _Owner(log, "stopped")
    for owner in (broken, kept, stopped):
        running.add(owner)
    running.discard(stopped)
    gone = _Owner(log, "gone")
    running.add(gone)
    del gone
    gc.collect()
    running.stop_all()
    assert sorted(log) == ["broken", "kept"]
