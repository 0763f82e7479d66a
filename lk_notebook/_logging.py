"""Keep tokens out of logs.

The Rust SDK logs a refused access token in full ("401 Unauthorized - invalid token: eyJ...") through the
`livekit` logger, from its native thread. A filter on that logger (and ours) rewrites every record before any
handler sees it.
"""

from __future__ import annotations

import logging
import re
import threading
from pathlib import Path
from typing import IO

__all__ = ["copy_scrubbed", "install_scrubber", "scrub"]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


_JWT_BYTES = re.compile(_JWT.pattern.encode())


def scrub(text: str) -> str:
    """`text` with anything shaped like a JWT replaced by <token>."""
    return _JWT.sub("<token>", text)


def copy_scrubbed(source: IO[bytes], path: Path) -> threading.Thread:
    """Copy a child process's output into the file `path` line by line, JWTs replaced by <token>, until EOF.

    livekit-server logs a refused access token in full ("invalid token: eyJ..., error: token is expired"), and
    an expired or mis-addressed token can still be a real one: the toolkit's server logs must not keep it.
    Returns the (daemon) thread; join it to be sure everything up to the child's exit is in the file.
    """

    def run() -> None:
        with path.open("ab") as out, source:
            for line in iter(source.readline, b""):
                out.write(_JWT_BYTES.sub(b"<token>", line))
                out.flush()  # log_tail() reads the file while the server runs

    thread = threading.Thread(target=run, name=f"log copy {path.name}", daemon=True)
    thread.start()
    return thread


# The native SDK's lines for a refused or failed connect (three per attempt, at WARNING/ERROR): `join` raises a
# JoinError that says the same thing and what to do, so they are demoted to DEBUG (still there for caplog or a
# debug handler, but not printed by Python's last-resort handler before the clear error).
_CONNECT_FAILURE = re.compile(
    r"signal connection failed|authentication rejected during connect|error while connecting to a room"
)


class TokenScrubber(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
        if record.name.startswith("livekit") and record.levelno > logging.DEBUG:
            text = record.msg if isinstance(record.msg, str) else ""
            if isinstance(record.args, tuple):
                text += " ".join(a for a in record.args if isinstance(a, str))
            if _CONNECT_FAILURE.search(text):
                record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return True


_scrubber = TokenScrubber()


def install_scrubber() -> None:
    """Attach the filter to the SDK's and lk_notebook's loggers (idempotent)."""
    for name in ("livekit", "livekit.api", "lk_notebook"):
        logger = logging.getLogger(name)
        if _scrubber not in logger.filters:
            logger.addFilter(_scrubber)


class ScrubbedCause(Exception):
    """Stands in as `__cause__` for a third-party exception whose text can carry a token (the SDK's ConnectError
    quotes the refused JWT): the original's type and its text with tokens replaced, nothing else."""


def scrubbed_cause(exc: BaseException) -> ScrubbedCause:
    return ScrubbedCause(f"{type(exc).__module__}.{type(exc).__qualname__}: {scrub(str(exc))}")
