"""`lk.check`: a tutorial's claim prints for a learner and raises in the test suite's strict runs."""

from __future__ import annotations

import pytest

import lk_notebook as lk
from lk_notebook.teaching import STRICT_ENV


def test_a_held_claim_prints_what_it_verified(capsys: pytest.CaptureFixture[str]) -> None:
    assert lk.check(True, "attributes reached bob") is True
    assert capsys.readouterr().out == "✓ verified: attributes reached bob\n"


def test_a_failed_claim_prints_its_reason_for_a_learner(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(STRICT_ENV, raising=False)
    assert lk.check(False, "lossy lost some", because="this machine is quiet") is False
    assert capsys.readouterr().out == "≠ differs on this machine: lossy lost some (this machine is quiet)\n"


@pytest.mark.parametrize("value", ["1", "yes"])
def test_a_failed_claim_raises_in_a_strict_run(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv(STRICT_ENV, value)
    with pytest.raises(lk.ClaimNotHeldError, match=r"lossy lost some \(quiet\)") as info:
        lk.check(False, "lossy lost some", because="quiet")
    assert isinstance(info.value, AssertionError)  # an assert in spirit: pytest reports it as a failed claim


def test_strict_zero_means_not_strict(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv(STRICT_ENV, "0")
    assert lk.check(False, "x") is False
    assert "differs on this machine: x" in capsys.readouterr().out
