"""README.md's tutorial run times are the test suite's measurement (notebooks/run-times.json), not hand-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests import run_times as rt

TUTORIALS = sorted((rt.REPO / "notebooks").glob("*.ipynb"))


def test_readme_run_times_are_the_recorded_ones() -> None:
    readme = rt.README.read_text(encoding="utf-8")
    assert rt.render(readme, rt.load()) == readme, (
        f"README.md's run-time column differs from notebooks/run-times.json: run `{rt.WRITE_COMMAND}`"
    )


def test_every_tutorial_has_a_recorded_run_time() -> None:
    times = rt.load()
    missing = [p.name for p in TUTORIALS if p.name not in times]
    assert not missing, (
        f"add {missing} to notebooks/run-times.json ({{'seconds': S, 'conditions': ...}}: run "
        f"`python3 -m pytest tests/test_notebooks.py -k NAME`, then `{rt.WRITE_COMMAND}`)"
    )
    stale = sorted(set(times) - {p.name for p in TUTORIALS})
    assert not stale, f"notebooks/run-times.json lists notebooks that do not exist: {stale}"


README = f"""intro
{rt.BEGIN}
| notebook | teaches | run time here |
| --- | --- | --- |
| `01-a` | one thing | 3 s |
| `02-b` | another | 1-2 s |

Run times: old line.
{rt.END}

after
"""


def _times(**seconds: float) -> dict[str, rt.RunTime]:
    return {f"{k.replace('_', '-')}.ipynb": rt.RunTime(seconds=s, conditions="c") for k, s in seconds.items()}


def test_render_rewrites_only_the_time_column_and_the_conditions() -> None:
    out = rt.render(README, _times(**{"01_a": 12.4, "02_b": 7.25}))
    assert "| `01-a` | one thing | 12 s |" in out
    assert "| `02-b` | another | 7.2 s |" in out
    assert "Run times: one Run All each in the test suite (01, 02: c)." in out
    assert "old line" not in out
    assert out.startswith("intro\n") and out.endswith(f"{rt.END}\n\nafter\n")
    assert rt.render(out, _times(**{"01_a": 12.4, "02_b": 7.25})) == out  # stable


def test_render_refuses_a_row_without_an_entry_and_an_entry_without_a_row() -> None:
    with pytest.raises(ValueError, match=r"02-b\.ipynb, which notebooks/run-times.json does not"):
        rt.render(README, _times(**{"01_a": 1}))
    with pytest.raises(ValueError, match=r"no row for A1-lab\.ipynb"):
        rt.render(README, {**_times(**{"01_a": 1, "02_b": 2}), "A1-lab.ipynb": rt.RunTime(seconds=5)})
    with pytest.raises(ValueError, match="needs the lines"):
        rt.render("no markers", _times(**{"01_a": 1}))


def test_a_measurement_replaces_only_what_it_measured(tmp_path: Path) -> None:
    path = tmp_path / "notebook-times.json"
    rt.record_measurement("02-b.ipynb", 7.123, path)
    measured = json.loads(path.read_text())
    assert measured["02-b.ipynb"]["seconds"] == 7.12 and "load" in measured["02-b.ipynb"]
    before = {**_times(**{"01_a": 1, "02_b": 2})}
    before["02-b.ipynb"]["note"] = "why"
    merged = rt.merge_measurement(before, {**measured, "03-c.ipynb": 4.5}, cores=2)  # 03: an older file's format
    assert merged["01-a.ipynb"] == before["01-a.ipynb"]
    assert merged["02-b.ipynb"]["seconds"] == 7.12 and merged["02-b.ipynb"]["note"] == "why"
    assert "on 2 cores, load average" in merged["02-b.ipynb"]["conditions"]
    assert merged["03-c.ipynb"] == rt.RunTime(seconds=4.5, conditions="measured on 2 cores")
