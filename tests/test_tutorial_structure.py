"""What a learner sees of each tutorial, checked on the saved notebooks (no server): the first screen says what it
teaches, how long it takes and what to know first; it ends with key points pointing back to the decision guide and
exercises whose solutions are hidden; lessons show JavaScript beside Python; 01's decision guide answers
"attributes or a message?" in one look. (That every claim holds is tests/test_notebooks.py's job.)"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
TUTORIALS = sorted(NOTEBOOKS.glob("*.ipynb"))
LESSONS = [p for p in TUTORIALS if p.name[0].isdigit()]
GUIDE_LINK = "01-getting-started.ipynb#decision-guide"


def _markdown(path: Path) -> list[str]:
    nb = nbformat.read(path, as_version=4)
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def test_lessons_and_lab_appendix_are_both_there() -> None:
    assert [p.name[:2] for p in LESSONS] == [f"{i:02d}" for i in range(1, 13)]
    assert {p.name[:2] for p in TUTORIALS} - {p.name[:2] for p in LESSONS} == {"A1", "A2"}


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_first_screen_says_what_it_teaches_and_how_long(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    first = nb.cells[0]
    assert first.cell_type == "markdown", f"{path.name}: the first cell is code"
    number = path.name.split("-", 1)[0]
    assert first.source.startswith(f"# {number} · "), f"{path.name}: the title does not start with '# {number} · '"
    head = first.source
    marker = re.search(r"\*\*(You will learn to|Objectives)\*\*", head)
    assert marker, f"{path.name}: no objectives up front"
    objectives = head[marker.end() :].split("**Time:**", 1)[0]
    items = re.findall(r"^(?:- |\d+\. )", objectives, re.M)
    assert len(items) >= 2, f"{path.name}: fewer than two objectives"
    time_line = re.search(r"\*\*Time:\*\*([^\n]*)", head)
    assert time_line and "min" in time_line[1] and "run" in time_line[1], f"{path.name}: no time to read and run"
    assert "Prerequisites" in head, f"{path.name}: no prerequisites"
    if not number[0].isdigit():
        assert "lab material" in head, f"{path.name}: an appendix notebook must say it is lab material"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_ends_with_key_points_and_exercises_with_hidden_solutions(path: Path) -> None:
    cells = _markdown(path)
    key_points = [s for s in cells if s.startswith("## Key points")]
    assert len(key_points) == 1, f"{path.name}: one '## Key points' section expected"
    bullets = key_points[0].count("\n- ")
    assert 3 <= bullets <= 6, f"{path.name}: {bullets} key points (3-6 expected)"
    if path.name != "01-getting-started.ipynb":
        assert GUIDE_LINK in key_points[0], f"{path.name}: its key points do not link the decision guide"
    solutions = sum(s.count("<details><summary>Solution") for s in cells)
    assert solutions >= 2, f"{path.name}: {solutions} exercises with a hidden solution (2-3 expected)"
    assert all(s.count("<details>") == s.count("</details>") for s in cells), f"{path.name}: an unclosed <details>"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lessons_show_javascript_beside_python(path: Path) -> None:
    fences = sum(s.count("```js") for s in _markdown(path))
    assert fences >= 1, f"{path.name}: no JavaScript beside the Python calls"


@pytest.mark.parametrize("path", TUTORIALS, ids=[p.stem for p in TUTORIALS])
def test_no_copied_wait_helpers(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert not re.search(r"^\s*(async )?def eventually\b", code, re.M), f"{path.name}: use the session's waits"


def test_decision_guide_answers_attributes_or_a_message_in_one_look() -> None:
    guide = [s for s in _markdown(NOTEBOOKS / "01-getting-started.ipynb") if "## Decision guide" in s]
    assert len(guide) == 1
    text = guide[0]
    assert '<a id="decision-guide"></a>' in text  # the anchor JupyterLab follows (the site uses the heading's)
    table = [line for line in text.splitlines() if line.startswith("|")]
    assert len(table) >= 6 and "attributes" in text and "data packet" in text  # the table: need -> feature
    chart = text.split("```text", 1)[1].split("```", 1)[0]
    assert "LATER" in chart and "STATE" in chart and "MESSAGE" in chart and "attributes" in chart
