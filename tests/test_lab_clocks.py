"""Clock offsets and their bounds (lk_notebook.lab.clocks), and the labelling of rows whose bound is too wide: pure
units with fake round trips (the real measurement is in tests/test_lab_dask.py)."""

from __future__ import annotations

import math

import pytest

from lk_notebook.errors import LabError
from lk_notebook.lab.clocks import ClockSample, best_offset, clock_label, trusted
from lk_notebook.lab.columns import latency_columns
from lk_notebook.lab.stats import LatencyHistogram


def test_the_smallest_round_trip_wins_and_its_half_is_the_bound() -> None:
    # worker clock = coordinator + 5 ms; requests and answers of uneven length
    true = 5_000_000
    samples = [
        ClockSample(0, 3_000_000 + true, 10_000_000),  # rtt 10 ms, lopsided: estimate off by 2 ms (within 5)
        ClockSample(20_000_000, 20_400_000 + true, 21_000_000),  # rtt 1 ms
        ClockSample(30_000_000, 31_000_000 + true, 34_000_000),  # rtt 4 ms
    ]
    est = best_offset(samples)
    assert est.rtt_ns == 1_000_000 and est.bound_ns == 500_000 and est.samples == 3
    assert est.offset_ns == 4_900_000  # the worker read at t0 + 0.4 ms, not mid-way: off by 0.1 ms
    assert abs(est.offset_ns - true) <= est.bound_ns  # the bound holds whatever the asymmetry
    assert est.offset_ms == pytest.approx(4.9) and est.bound_ms == pytest.approx(0.5)


def test_no_valid_sample_is_an_error() -> None:
    with pytest.raises(LabError):
        best_offset([ClockSample(10, 0, 5)])


def test_a_bound_over_10_percent_of_p50_is_not_trusted() -> None:
    assert trusted(bound_ms=0.0, p50_ms=math.nan)  # one clock: exact
    assert trusted(bound_ms=0.5, p50_ms=5.0)
    assert not trusted(bound_ms=0.51, p50_ms=5.0)
    assert not trusted(bound_ms=0.5, p50_ms=math.nan)
    assert clock_label(exact=True, bound_ms=3.0, p50_ms=1.0).startswith("monotonic")
    assert "too wide" not in clock_label(exact=False, bound_ms=0.2, p50_ms=5.0)
    label = clock_label(exact=False, bound_ms=2.0, p50_ms=5.0)
    assert label.startswith("wall, offset-corrected (+-2.000 ms)") and "too wide for p50 5.000 ms" in label


def test_rows_carry_the_bound_and_say_when_it_is_too_wide() -> None:
    lat = LatencyHistogram()
    for ms in (4, 5, 6):
        lat.record(ms * 1_000_000)
    fine = latency_columns(lat, clock="x", bound_ms=0.3)
    wide = latency_columns(lat, clock="x", bound_ms=0.8)
    assert (fine["latency_bound_ms"], fine["latency_trusted"]) == (0.3, True)
    assert (wide["latency_bound_ms"], wide["latency_trusted"]) == (0.8, False)
    assert latency_columns(lat, clock="x")["latency_bound_ms"] == 0.0  # one process's clock
