"""The front ends' files (`static/`), and the ES modules built from them with no build step.

Each anywidget front end is one ES module: `static/common.js` (the DOM helpers the front ends share) followed by
the widget's own file. Concatenating text is all the "build" there is, so the package needs no Node toolchain.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["STATIC", "es_module"]

STATIC = Path(__file__).parent / "static"


def es_module(name: str) -> str:
    """The source of `static/<name>` with `static/common.js` before it."""
    return (STATIC / "common.js").read_text(encoding="utf-8") + "\n" + (STATIC / name).read_text(encoding="utf-8")
