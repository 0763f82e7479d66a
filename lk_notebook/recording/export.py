"""Parquet export of a recording's frames, through the optional `parquet` extra (pyarrow)."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import MissingExtraError

if TYPE_CHECKING:
    from .recording import Recording

__all__ = ["require_pyarrow", "to_parquet"]


def require_pyarrow() -> None:
    """Raise MissingExtraError (naming the extra) unless pyarrow can be imported."""
    try:
        importlib.import_module("pyarrow")
    except ImportError as exc:
        raise MissingExtraError(
            "Parquet export needs pyarrow: pip install 'lk_notebook[parquet]' (or pip install pyarrow)",
            extra="parquet",
            package="pyarrow",
        ) from exc


def to_parquet(rec: Recording, folder: Path) -> dict[str, Path]:
    require_pyarrow()
    folder.mkdir(parents=True, exist_ok=True)
    frames = {
        "messages": rec.messages_frame(),
        "history": rec.history_frame(),
        "webhooks": rec.webhooks_frame(),
        "streams": rec.streams_frame(),
        "rpc": rec.rpc_frame(),
        "server_participants": rec.server_participants_frame(),
    }
    written: dict[str, Path] = {}
    for name, frame in frames.items():
        path = folder / f"{name}.parquet"
        # Columns of tuples or dicts (destinations, attributes) as JSON-able lists/maps: pyarrow infers them.
        frame.to_parquet(path, index=False)
        written[name] = path
    return written
