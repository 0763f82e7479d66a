"""Every tutorial in notebooks/ runs top to bottom ("Run All") in a fresh real kernel, in sorted order, in time.

The kernels inherit the LIVEKIT_* variables tests/conftest.py exports, so they use the test run's livekit-server.
New notebooks are picked up by name: anything matching notebooks/*.ipynb is a tutorial and is executed.
Wall times go to artifacts/notebook-times.json (and are printed: run with -s to see them); each run is held to
SLACK x the time notebooks/run-times.json records (`python3 bench/notebook_times.py --write` updates it and README.md
from the measurement). Each executed notebook, outputs included, is saved under artifacts/executed/ (once its
outputs are checked for secrets), where tests/test_site.py builds the rendered site from them.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

import lk_notebook as lk
from lk_notebook.teaching import STRICT_ENV
from tests import run_times

pytestmark = pytest.mark.server

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
EXECUTED = REPO / "artifacts" / "executed"
RECORDED = run_times.load()
"""Each notebook's recorded wall time (s): notebooks/run-times.json, one entry per notebook (see tests/run_times.py)."""
SLACK = 3.0
"""A notebook may take 3x its recorded time (a loaded CI machine); beyond that it has regressed."""
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+")
# Signs of a failure that did not stop the cell: an exception printed by a background task or a callback.
HIDDEN_FAILURES = ("Traceback (most recent call last)", "exception was never retrieved", "Task was destroyed")

TUTORIALS = sorted(NOTEBOOKS.glob("*.ipynb"))


def test_there_are_tutorials() -> None:
    assert TUTORIALS, f"no notebooks in {NOTEBOOKS}"


def _secrets_in(text: str, server: lk.LocalServer) -> list[str]:
    found = []
    if JWT.search(text):
        found.append("an access token (JWT)")
    if server.api_secret in text:
        found.append("the server's API secret")
    return found


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
def test_saved_tutorial_has_no_outputs_or_secrets(path: Path, server: lk.LocalServer) -> None:
    text = path.read_text(encoding="utf-8")
    nb = nbformat.reads(text, as_version=4)
    nbformat.validate(nb)
    assert nb.nbformat == 4
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{path.name}: save it without outputs (cells {with_outputs}); clear them first"
    assert "widgets" not in nb.metadata, f"{path.name}: saved widget state; save without it"
    assert not _secrets_in(text, server)


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.name for p in TUTORIALS])
async def test_tutorial_runs_all_in_a_fresh_kernel(
    path: Path, server: lk.LocalServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A learner's failed `lk.check` prints "differs on this machine"; here every claim must hold (the kernel
    # inherits this environment).
    monkeypatch.setenv(STRICT_ENV, "1")
    assert path.name in RECORDED, f"add {path.name} to {run_times.RUN_TIMES.name} (see tests/run_times.py)"
    recorded = RECORDED[path.name]["seconds"]
    limit = SLACK * recorded
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=math.ceil(limit),  # per cell (nbclient takes whole seconds); the notebook is held to `limit` below
        resources={"metadata": {"path": str(NOTEBOOKS)}},  # the kernel's working directory
        record_timing=True,
    )
    start = time.monotonic()
    try:
        await client.async_execute()
    except CellExecutionError as exc:
        pytest.fail(f"{path.name} failed:\n{exc}")
    finally:
        elapsed = time.monotonic() - start
        run_times.record_measurement(path.name, elapsed)
    print(f"{path.name}: {elapsed:.1f} s")

    executed = nbformat.writes(nb)
    leaked = _secrets_in(executed, server)
    assert not leaked, f"{path.name}: the outputs contain {' and '.join(leaked)}"
    EXECUTED.mkdir(parents=True, exist_ok=True)
    (EXECUTED / path.name).write_text(executed, encoding="utf-8")
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            text = out.get("text", "") if out.get("output_type") == "stream" else ""
            hidden = [s for s in HIDDEN_FAILURES if s in text]
            assert not hidden, f"{path.name} cell {i} printed a failure:\n{text[-2000:]}"
    assert elapsed < limit, f"{path.name} took {elapsed:.0f} s (limit {SLACK:g} x {recorded:g} s)"
