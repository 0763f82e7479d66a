"""The public API is what __all__ says: every name exists, is sorted, and nothing public is left out."""

from __future__ import annotations

import lk_notebook


def test_all_names_exist_and_are_sorted() -> None:
    names = lk_notebook.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert hasattr(lk_notebook, name), name


def test_every_public_attribute_is_exported() -> None:
    modules = {"admin", "config", "errors", "events", "limits", "server", "session", "state", "cli", "widgets", "lab"}
    modules |= {"datatracks", "inspector", "observer", "poll"}
    public = {n for n in dir(lk_notebook) if not n.startswith("_") and n not in modules | {"annotations"}}
    assert public <= set(lk_notebook.__all__), public - set(lk_notebook.__all__)


def test_errors_share_one_base() -> None:
    for name in lk_notebook.__all__:
        obj = getattr(lk_notebook, name)
        if isinstance(obj, type) and issubclass(obj, Exception) and not issubclass(obj, Warning):
            assert issubclass(obj, lk_notebook.LkNotebookError), name
