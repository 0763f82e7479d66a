"""Each tutorial's run time, in one committed file: notebooks/run-times.json.

tests/test_notebooks.py measures every notebook's Run All (artifacts/notebook-times.json) and holds each run to
SLACK x its recorded time; `python bench/notebook_times.py --write` copies a run's measurements into
notebooks/run-times.json and regenerates README.md's run-time column from it (between the marker comments), and
tests/test_run_times.py fails when README.md and the json disagree.

A new notebook gets one entry, by hand once or from its first measured run:
    "A1-delivery-lab.ipynb": {"seconds": 60, "conditions": "..."}
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, TypedDict

REPO = Path(__file__).resolve().parent.parent
RUN_TIMES = REPO / "notebooks" / "run-times.json"
MEASURED = REPO / "artifacts" / "notebook-times.json"
README = REPO / "README.md"
WRITE_COMMAND = "python3 bench/notebook_times.py --write"
BEGIN = f"<!-- run times: generated from notebooks/run-times.json by `{WRITE_COMMAND}` -->"
END = "<!-- end of run times -->"


class RunTime(TypedDict, total=False):
    seconds: float  # wall time of one Run All in tests/test_notebooks.py
    conditions: str  # when and how loaded the machine was
    note: str  # why it takes that long (not shown in README)


def load(path: Path = RUN_TIMES) -> dict[str, RunTime]:
    times: dict[str, RunTime] = json.loads(path.read_text(encoding="utf-8"))["notebooks"]
    return times


def save(times: dict[str, RunTime], path: Path = RUN_TIMES) -> None:
    doc = {
        "about": f"Wall time (s) of each notebook's Run All in tests/test_notebooks.py. Update: run those tests, then "
        f"`{WRITE_COMMAND}` (it regenerates README.md's column too).",
        "notebooks": dict(sorted(times.items())),
    }
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# -- the measurement of one test run --------------------------------------------------------------------------------
def record_measurement(name: str, seconds: float, path: Path = MEASURED) -> None:
    """Add one notebook's wall time (and the machine's load) to the run's artifacts/notebook-times.json."""
    path.parent.mkdir(exist_ok=True)
    try:
        measured = json.loads(path.read_text())
    except (OSError, ValueError):
        measured = {}
    measured[name] = {"seconds": round(seconds, 2), "load": round(os.getloadavg()[0], 1), "at": _today()}
    path.write_text(json.dumps(dict(sorted(measured.items())), indent=2) + "\n")


def merge_measurement(times: dict[str, RunTime], measured: dict[str, Any], *, cores: int) -> dict[str, RunTime]:
    """`times` with every notebook of `measured` replaced by its measurement (older files hold bare seconds)."""
    merged = dict(times)
    for name, m in measured.items():
        entry = m if isinstance(m, dict) else {"seconds": m}
        load = f", load average {entry['load']:g}" if "load" in entry else ""
        when = entry.get("at", "")
        conditions = f"measured {when} on {cores} cores{load}".replace("measured  on", "measured on")
        merged[name] = RunTime({**times.get(name, {}), "seconds": float(entry["seconds"]), "conditions": conditions})
    return merged


def _today() -> str:
    return time.strftime("%Y-%m-%d")


# -- README.md's column ---------------------------------------------------------------------------------------------
def cell(seconds: float) -> str:
    return f"{seconds:.1f} s" if seconds < 10 else f"{seconds:.0f} s"


def _short(name: str) -> str:
    return name.removesuffix(".ipynb")


def conditions_line(times: dict[str, RunTime]) -> str:
    groups: dict[str, list[str]] = {}
    for name, t in sorted(times.items()):
        groups.setdefault(t.get("conditions", "conditions not recorded"), []).append(_short(name).split("-")[0])
    parts = [f"{', '.join(names)}: {conditions}" for conditions, names in groups.items()]
    return f"Run times: one Run All each in the test suite ({'; '.join(parts)})."


def render(readme: str, times: dict[str, RunTime]) -> str:
    """`readme` with the run-time column and conditions line between the markers written from `times`.
    ValueError when the markers are missing, or a row and an entry do not match one to one."""
    try:
        head, rest = readme.split(BEGIN + "\n", 1)
        block, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"README.md needs the lines {BEGIN!r} and {END!r} around the tutorials table") from None
    rows, seen = [], set()
    for line in block.splitlines():
        if line.startswith("Run times:"):
            continue
        if line.startswith("| `"):
            cells = line.split(" | ")
            name = cells[0].removeprefix("| `").removesuffix("`") + ".ipynb"
            if name not in times:
                raise ValueError(f"README.md's table lists {name}, which notebooks/run-times.json does not")
            seen.add(name)
            line = " | ".join([*cells[:-1], cell(times[name]["seconds"])]) + " |"
        rows.append(line)
    missing = sorted(set(times) - seen)
    if missing:
        raise ValueError(f"README.md's table has no row for {', '.join(missing)} (notebooks/run-times.json has)")
    while rows and not rows[-1]:
        rows.pop()
    return head + BEGIN + "\n" + "\n".join([*rows, "", conditions_line(times)]) + "\n" + END + tail
