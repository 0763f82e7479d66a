"""Checks that teach: a tutorial states a claim, and the check says whether it held here.

A learner's "Run All" should not stop at a timing that differs on a shared laptop, yet the project must still prove
every claim its tutorials make. So one call does both: `check` prints what it verified, or "differs on this machine"
with the reason, and raises `ClaimNotHeldError` only in a strict run (`LK_NOTEBOOK_STRICT=1`), which is how the test
suite executes the very same notebooks (tests/test_notebooks.py).
"""

from __future__ import annotations

import os

from .errors import ClaimNotHeldError

STRICT_ENV = "LK_NOTEBOOK_STRICT"
"""Set to "1" to make every failed `check` raise (the test suite does); unset, a failed check prints and goes on."""


def strict() -> bool:
    """Whether failed checks raise (`LK_NOTEBOOK_STRICT=1`) instead of printing."""
    return os.environ.get(STRICT_ENV, "") not in ("", "0")


def check(holds: bool, claim: str, *, because: str = "") -> bool:
    """Say whether `claim` held in this run, and return it.

    `claim` is the sentence the tutorial teaches ("attributes reached every peer"); `because` explains a difference
    ("this machine is busy: the sender reached 310 of 500 msg/s"). A failed check prints
    "differs on this machine: ..." for a learner and raises `ClaimNotHeldError` in a strict run.
    """
    if holds:
        print(f"✓ verified: {claim}")
        return True
    reason = f" ({because})" if because else ""
    if strict():
        raise ClaimNotHeldError(f"claim did not hold: {claim}{reason}")
    print(f"≠ differs on this machine: {claim}{reason}")
    return False
