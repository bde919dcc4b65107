"""The traffic simulator behind the detection benchmark: its scenarios mean what their names say."""

from __future__ import annotations

import numpy as np

from analysis.simulate import BASE_ERROR_RATE, Scenario, TrafficCell, bucket_probabilities, simulate

BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
LOW5 = TrafficCell("low5", 20.0, 0.05)


def test_same_seed_same_data() -> None:
    a = simulate(LOW5, Scenario("realistic"), 20, 30, np.random.default_rng(1), BOUNDS)
    b = simulate(LOW5, Scenario("realistic"), 20, 30, np.random.default_rng(1), BOUNDS)
    assert np.array_equal(a.canary_errors, b.canary_errors)
    assert np.array_equal(a.primary_hist, b.primary_hist)


def test_noisy_but_fine_canary_is_burstier_but_no_worse_on_average() -> None:
    sim = simulate(LOW5, Scenario("noisy", noise="noisy"), 3000, 30, np.random.default_rng(4), BOUNDS)
    canary_rate = sim.canary_errors.sum() / sim.canary_requests.sum()
    primary_rate = sim.primary_errors.sum() / sim.primary_requests.sum()
    assert 0.9 < canary_rate / primary_rate < 1.1


def test_noisy_canary_error_rate_spreads_more_from_minute_to_minute() -> None:
    mid10 = TrafficCell("mid10", 200.0, 0.10)
    noisy = simulate(mid10, Scenario("noisy", noise="noisy"), 500, 30, np.random.default_rng(4), BOUNDS)
    real = simulate(mid10, Scenario("realistic"), 500, 30, np.random.default_rng(4), BOUNDS)

    def spread(errors: np.ndarray, requests: np.ndarray) -> float:
        rates = errors[requests > 20] / requests[requests > 20]
        return float(np.std(rates) / np.mean(rates))

    assert spread(noisy.canary_errors, noisy.canary_requests) > 1.15 * spread(real.canary_errors, real.canary_requests)


def test_realistic_counts_are_non_integer_and_include_near_empty_minutes() -> None:
    sim = simulate(LOW5, Scenario("realistic"), 200, 30, np.random.default_rng(8), BOUNDS)
    assert not np.allclose(sim.canary_requests, np.round(sim.canary_requests))
    assert np.any(sim.canary_requests == 0)
    # cumulative histograms end at the request count
    assert np.allclose(sim.canary_hist[..., -1], sim.canary_requests)
    assert np.all(np.diff(sim.canary_hist, axis=-1) >= 0)


def test_regressions_change_the_canary_only() -> None:
    sim = simulate(LOW5, Scenario("errors", canary_error_rate=0.01), 500, 30, np.random.default_rng(2), BOUNDS)
    canary_rate = sim.canary_errors.sum() / sim.canary_requests.sum()
    primary_rate = sim.primary_errors.sum() / sim.primary_requests.sum()
    assert canary_rate > 5 * primary_rate
    assert primary_rate < 3 * BASE_ERROR_RATE


def test_bucket_probabilities_shift_with_latency() -> None:
    base = bucket_probabilities(BOUNDS, np.log(60.0))
    slower = bucket_probabilities(BOUNDS, np.log(60.0), factor=1.5)
    tail = bucket_probabilities(BOUNDS, np.log(60.0), tail_fraction=0.02, tail_ms=500.0)
    assert np.isclose(base.sum(), 1.0) and np.isclose(slower.sum(), 1.0)
    above_100 = BOUNDS.index(100) + 1
    assert slower[above_100:].sum() > base[above_100:].sum()
    above_500 = BOUNDS.index(500) + 1
    assert tail[above_500:].sum() >= 0.02 - 1e-9


def test_stress_overrides_make_both_versions_noisier_but_keep_the_canary_healthy() -> None:
    mid10 = TrafficCell("mid10", 200.0, 0.10)
    base = simulate(mid10, Scenario("calm", burst_probability=0.0), 500, 30, np.random.default_rng(6), BOUNDS)
    harsh = simulate(mid10, Scenario("overdispersed", burst_probability=0.0, rate_shape=1.5), 500, 30,
                     np.random.default_rng(6), BOUNDS)
    assert Scenario("stress", rate_shape=1.5, burst_probability=0.3, jitter=0.06).healthy

    def spread(errors: np.ndarray, requests: np.ndarray) -> float:
        rates = errors[requests > 20] / requests[requests > 20]
        return float(np.std(rates) / np.mean(rates))

    for version in ("canary", "primary"):
        errors, requests = f"{version}_errors", f"{version}_requests"
        assert spread(getattr(harsh, errors), getattr(harsh, requests)) > 1.1 * spread(
            getattr(base, errors), getattr(base, requests))
    ratio = (harsh.canary_errors.sum() / harsh.canary_requests.sum()) / (
        harsh.primary_errors.sum() / harsh.primary_requests.sum())
    assert 0.9 < ratio < 1.1
