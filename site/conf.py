"""Sphinx configuration of the tutorials' site. Built by `lk-notebook site` (lk_notebook/site.py), which stages
this folder and the notebooks (executed) into a scratch source folder: the notebooks stay in notebooks/.

Everything here works offline, at build time and in the reader's browser: no intersphinx, no CDN scripts."""

from pathlib import Path
from typing import Any

project = "lk_notebook"
author = "lk_notebook contributors"
copyright = "lk_notebook contributors, Apache-2.0"

extensions = ["myst_nb"]  # no sphinx.ext.intersphinx: it downloads inventories
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "notebooks/data"]

# The notebooks arrive executed (the test suite's run, or `lk-notebook site` just before the build): never here.
nb_execution_mode = "off"
# Widgets would need require.js and the widget manager from a CDN: they show their text fallback instead.
nb_ipywidgets_js: dict[str, dict[str, str]] = {}
nb_mime_priority_overrides = [("html", "application/vnd.jupyter.widget-view+json", None)]
# Cells tagged remove-cell / remove-input / remove-output / hide-input (MyST-NB's tags) hide scaffolding.

myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3


html_theme = "sphinx_book_theme"
html_title = "lk_notebook tutorials"
html_theme_options = {
    "repository_url": "https://github.com/lk-notebook/lk_notebook",
    "repository_branch": "HEAD",
    "path_to_docs": "",
    "use_repository_button": True,
    "launch_buttons": {"binderhub_url": "https://mybinder.org", "notebook_interface": "jupyterlab"},
    "show_toc_level": 2,
}
html_show_sourcelink = False


APPENDIX_GLOB = "notebooks/A*"
"""The lab appendix: every notebooks/A*.ipynb, picked up by name, as the lessons are (notebooks/[0-9]*)."""


def _drop_empty_appendix(app: Any, docname: str, source: list[str]) -> None:
    # A toctree glob that matches nothing is a warning, and -W makes it an error: without lab notebooks (yet),
    # the appendix section says so instead of listing them.
    if docname == "index" and not list(Path(app.srcdir).glob(APPENDIX_GLOB + ".ipynb")):
        head, _, _ = source[0].partition("## Appendix: lab notebooks")
        source[0] = head + "## Appendix: lab notebooks\n\nNo lab notebooks yet.\n"


def setup(app: Any) -> None:
    app.connect("source-read", _drop_empty_appendix)
