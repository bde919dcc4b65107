"""Flagger-style threshold checks and the Window input type."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from analysis import Window, judge_threshold

BOUNDS: list[float] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]


def test_below_minimum_fails_with_flagger_style_reason() -> None:
    verdict = judge_threshold("request-success-rate", 97.2, min=99, unit="%")
    assert verdict.outcome == "fail"
    assert verdict.reason == "request-success-rate 97.2 % < 99 %"


def test_above_maximum_fails() -> None:
    verdict = judge_threshold("request-duration", 512.0, max=500, unit="ms")
    assert verdict.outcome == "fail"
    assert verdict.reason == "request-duration 512 ms > 500 ms"


def test_inside_range_passes_and_names_the_limits() -> None:
    verdict = judge_threshold("request-duration", 212.0, min=0, max=500, unit="ms")
    assert verdict.outcome == "pass"
    assert verdict.reason == "request-duration 212 ms >= 0 ms and <= 500 ms"


def test_boundary_values_pass() -> None:
    assert judge_threshold("rate", 99.0, min=99.0).outcome == "pass"
    assert judge_threshold("latency", 500.0, max=500.0).outcome == "pass"


@pytest.mark.parametrize("value", [None, math.nan])
def test_missing_data_never_passes(value: float | None) -> None:
    verdict = judge_threshold("request-success-rate", value, min=99, unit="%")
    assert verdict.outcome == "fail"
    assert verdict.reason == "request-success-rate: no data"


def test_threshold_verdict_serialises_to_json() -> None:
    data = judge_threshold("request-success-rate", 97.2, min=99, unit="%").to_dict()
    text = json.dumps(data, allow_nan=False)
    assert json.loads(text)["outcome"] == "fail"
    assert data["metrics"][0]["name"] == "request-success-rate"


def test_window_histogram_in_bound_order_with_inf_last() -> None:
    latency: dict[float, float] = {math.inf: 10.0, 100: 9.0, 50: 4.0, **{b: 0.0 for b in BOUNDS if b < 50}}
    latency.update({b: 10.0 for b in BOUNDS if b > 100})
    hist = Window(10.0, 0.0, latency).histogram(BOUNDS)
    assert hist.shape == (len(BOUNDS) + 1,)
    assert hist[BOUNDS.index(50)] == 4.0
    assert hist[BOUNDS.index(100)] == 9.0
    assert hist[-1] == 10.0


def test_window_histogram_missing_bucket_or_nan_is_no_data() -> None:
    full: dict[float, float] = {**{b: 1.0 for b in BOUNDS}, math.inf: 1.0}
    missing = dict(full)
    del missing[250]
    assert np.all(np.isnan(Window(1.0, 0.0, missing).histogram(BOUNDS)))
    with_nan = {**full, 250: math.nan}
    assert np.all(np.isnan(Window(1.0, 0.0, with_nan).histogram(BOUNDS)))
    assert np.all(np.isnan(Window(1.0, 0.0, None).histogram(BOUNDS)))


def test_window_histogram_repairs_small_non_monotonicity() -> None:
    latency: dict[float, float] = {**{b: 5.0 for b in BOUNDS}, math.inf: 5.0}
    latency[100] = 5.2  # increase() extrapolation can overshoot a later bucket
    hist = Window(5.0, 0.0, latency).histogram(BOUNDS)
    assert np.all(np.diff(hist) >= 0)
