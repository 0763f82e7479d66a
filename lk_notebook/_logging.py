"""Keep tokens out of logs.

The Rust SDK logs a refused access token in full ("401 Unauthorized - invalid token: eyJ...") through the
`livekit` logger, from its native thread. A filter on that logger (and ours) rewrites every record before any
handler sees it.
"""

from __future__ import annotations

import logging
import re

__all__ = ["install_scrubber", "scrub"]

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")


def scrub(text: str) -> str:
    """`text` with anything shaped like a JWT replaced by <token>."""
    return _JWT.sub("<token>", text)


class TokenScrubber(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in record.args)
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
