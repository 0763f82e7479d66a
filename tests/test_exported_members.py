"""The public API is what __all__ says: every name exists, the lists are sorted, and nothing public is left out."""

from __future__ import annotations

import subprocess
import sys

import lk_notebook
import lk_notebook.widgets


def _isort_order(names: list[str]) -> list[str]:
    """The order ruff's RUF022 keeps `__all__` in: CONSTANTS, then Classes, then functions, each alphabetical."""
    return sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[:1].isupper() else 2, n))


def test_all_names_exist_and_are_sorted() -> None:
    names = list(lk_notebook.__all__)
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(lk_notebook, name), name
    # The widget names are lk_notebook.widgets.__all__, appended as one block (the one list of them).
    views = list(lk_notebook.widgets.__all__)
    own, appended = names[: -len(views)], names[-len(views) :]
    assert appended == views
    assert own == _isort_order(own)
    assert views == _isort_order(views)


def test_widget_names_are_the_widget_objects_and_load_lazily() -> None:
    for name in lk_notebook.widgets.__all__:
        assert getattr(lk_notebook, name) is getattr(lk_notebook.widgets, name), name
    # `import lk_notebook` alone must not import ipywidgets (scripts and the CLI never need it).
    probe = "import sys, lk_notebook; print('ipywidgets' in sys.modules, 'lk_notebook.widgets' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.split() == ["False", "False"], out.stdout + out.stderr


def test_every_public_attribute_is_exported() -> None:
    modules = {"admin", "config", "errors", "events", "limits", "server", "session", "state", "cli", "widgets", "lab"}
    modules |= {"routing", "rpc", "stream_sender", "streams", "messaging", "lifecycle", "room_events"}
    modules |= {"own_participant", "joining", "join_errors"}
    modules |= {"install", "cluster", "redis_server"}
    modules |= {"datatracks", "inspector", "observer", "poll"}
    modules |= {"blocking", "rejoin", "own_state"}
    modules |= {"process", "waiting"}
    modules |= {"agents"}  # a subpackage with its own __all__ (lk_notebook.agents), set once imported
    public = {n for n in dir(lk_notebook) if not n.startswith("_") and n not in modules | {"annotations"}}
    assert public <= set(lk_notebook.__all__), public - set(lk_notebook.__all__)


def test_errors_share_one_base() -> None:
    for name in lk_notebook.__all__:
        obj = getattr(lk_notebook, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, lk_notebook.LkNotebookError), name
