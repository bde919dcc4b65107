"""The sequential judge: API contract, robustness to odd inputs, persistence, and seeded error rates."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator

import numpy as np
import pytest
from scipy.stats import betabinom, binom

from analysis import BatchJudge, JudgeConfig, SequentialJudge, Verdict, Window
from analysis.engine import FAIL, PASS
from analysis.histogram import HistogramTests
from analysis.simulate import Scenario, SimulatedTicks, TrafficCell, bucket_probabilities, simulate

BOUNDS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000]
LOW10 = TrafficCell("low10", 20.0, 0.10)
MID10 = TrafficCell("mid10", 200.0, 0.10)


def windows(sim: SimulatedTicks, run: int) -> Iterator[tuple[Window, Window]]:
    """The ticks of one simulated rollout as the controller would pass them."""
    keys = [*BOUNDS, math.inf]
    for t in range(sim.canary_requests.shape[1]):
        yield (
            Window(float(sim.canary_requests[run, t]), float(sim.canary_errors[run, t]),
                   dict(zip(keys, sim.canary_hist[run, t].tolist(), strict=True))),
            Window(float(sim.primary_requests[run, t]), float(sim.primary_errors[run, t]),
                   dict(zip(keys, sim.primary_hist[run, t].tolist(), strict=True))),
        )


def first_fail_ticks(sim: SimulatedTicks, config: JudgeConfig) -> np.ndarray:
    """Tick of the first "fail" per run (0 if never), via the vectorised judge."""
    runs, ticks = sim.canary_requests.shape
    judge = BatchJudge(runs, config)
    first = np.zeros(runs, dtype=int)
    for t in range(ticks):
        out = judge.update(sim.canary_requests[:, t], sim.canary_errors[:, t], sim.canary_hist[:, t],
                           sim.primary_requests[:, t], sim.primary_errors[:, t], sim.primary_hist[:, t])
        first = np.where((out == FAIL) & (first == 0), t + 1, first)
    return first


def hist(n: float, fractions: list[float]) -> dict[float, float]:
    return {**{float(b): n * f for b, f in zip(BOUNDS, fractions, strict=True)}, math.inf: n}


FAST = [0.0, 0.0, 0.05, 0.37, 0.82, 0.995, 1.0, 1.0, 1.0, 1.0, 1.0]


# ------------------------------------------------------------------ contract


def test_contract_outcome_reason_and_json() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, alpha=0.01)
    verdict = judge.update(canary=Window(612.0, 1.0, hist(612.0, FAST)),
                           primary=Window(11630.4, 9.2, hist(11630.4, FAST)))
    assert isinstance(verdict, Verdict)
    assert verdict.outcome in ("fail", "pass", "inconclusive")
    assert verdict.reason
    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))
    assert [m["name"] for m in data["metrics"]] == ["error-rate", "latency", "latency-tail"]
    for m in data["metrics"]:
        assert m["outcome"] in ("fail", "pass", "inconclusive")
        assert m["threshold"] > 1.0 / 0.01 * 0.99  # each metric gets a share of alpha
    assert data["threshold"] == pytest.approx(100.0)


def test_clear_error_regression_fails_with_a_reason_naming_metric_and_evidence() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, alpha=0.01)
    verdict = None
    for _ in range(10):
        verdict = judge.update(canary=Window(1200.0, 60.0, hist(1200.0, FAST)),
                               primary=Window(10800.0, 11.0, hist(10800.0, FAST)))
        if verdict.outcome == "fail":
            break
    assert verdict is not None and verdict.outcome == "fail"
    assert "error rate regressed" in verdict.reason
    assert "evidence" in verdict.reason
    err = verdict.metrics[0]
    assert err.outcome == "fail" and err.evidence >= err.threshold
    assert err.effect is not None and err.effect > 30


def test_latency_regression_names_the_bucket_bound() -> None:
    slow = [0.0, 0.0, 0.01, 0.1, 0.45, 0.93, 1.0, 1.0, 1.0, 1.0, 1.0]
    judge = SequentialJudge(latency_bounds=BOUNDS, alpha=0.01)
    verdict = None
    for _ in range(15):
        verdict = judge.update(canary=Window(1200.0, 1.0, hist(1200.0, slow)),
                               primary=Window(10800.0, 11.0, hist(10800.0, FAST)))
    assert verdict is not None and verdict.outcome == "fail"
    assert "latency" in verdict.reason and "ms" in verdict.reason


def test_invalid_configuration_is_rejected() -> None:
    with pytest.raises(ValueError):
        SequentialJudge(latency_bounds=BOUNDS, alpha=0.0)
    with pytest.raises(ValueError):
        SequentialJudge(latency_bounds=BOUNDS, metrics=("error-rate", "throughput"))
    with pytest.raises(ValueError):
        SequentialJudge(latency_bounds=[10, 5])


# ---------------------------------------------------------------- odd input


def test_empty_windows_are_no_evidence() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS)
    for _ in range(20):
        verdict = judge.update(canary=Window(0.0, 0.0, None), primary=Window(0.0, 0.0, None))
    assert verdict.outcome == "inconclusive"
    assert verdict.evidence == pytest.approx(1.0)
    assert all(m.ticks == 0 for m in verdict.metrics)
    assert "no evidence yet" in verdict.reason


def test_zero_errors_everywhere_never_fails_and_says_so() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, metrics=("error-rate",))
    for _ in range(50):
        verdict = judge.update(canary=Window(600.0, 0.0), primary=Window(6000.0, 0.0))
    assert verdict.outcome == "inconclusive"
    assert verdict.metrics[0].evidence == pytest.approx(1.0)
    assert "no evidence yet" in verdict.metrics[0].reason


def test_nan_and_none_counts_leave_the_evidence_untouched() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS)
    judge.update(canary=Window(600.0, 3.0, hist(600.0, FAST)), primary=Window(6000.0, 6.0, hist(6000.0, FAST)))
    before = judge.state()
    judge.update(canary=Window(math.nan, math.nan, None), primary=Window(6000.0, 6.0, hist(6000.0, FAST)))
    judge.update(canary=Window(600.0, math.nan, {math.inf: math.nan}), primary=Window(math.nan, 6.0, None))
    after = judge.state()
    for key in ("logFail", "logPass"):
        assert after[key] == before[key]
    assert after["ticks"] == before["ticks"] + 2


def test_non_integer_counts_are_judged_like_integer_ones() -> None:
    rng = np.random.default_rng(7)
    sim = simulate(LOW10, Scenario("errors 5 %", canary_error_rate=0.05), 1, 30, rng, BOUNDS)
    judge = SequentialJudge(latency_bounds=BOUNDS)
    outcomes = [judge.update(c, p).outcome for c, p in windows(sim, 0)]
    assert not np.allclose(sim.canary_requests, np.round(sim.canary_requests))  # realistic noise: non-integers
    assert outcomes[-1] == "fail"


def test_a_single_burst_cannot_roll_back() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, metrics=("error-rate",), alpha=0.01)
    for _ in range(5):
        before = judge.update(canary=Window(600.0, 0.5), primary=Window(11400.0, 11.0))
    verdict = judge.update(canary=Window(600.0, 80.0), primary=Window(11400.0, 11.0))  # one huge canary burst
    assert verdict.outcome != "fail"
    # one tick can multiply the evidence by at most 1 / (the canary's tolerated share of errors)
    q = 1.15 * 600 / (1.15 * 600 + 11400)
    assert verdict.metrics[0].evidence / before.metrics[0].evidence <= 1.0 / q


def test_report_pass_false_never_passes_but_pass_is_reachable() -> None:
    kwargs = {"latency_bounds": BOUNDS, "metrics": ("error-rate",), "error_rate_tolerance_ratio": 0.5}
    allowed = SequentialJudge(**kwargs)  # type: ignore[arg-type]
    silent = SequentialJudge(report_pass=False, **kwargs)  # type: ignore[arg-type]
    seen_allowed, seen_silent = set(), set()
    for _ in range(30):  # canary at half the traffic with a fifth of the primary's error rate
        c, p = Window(5000.0, 1.0), Window(5000.0, 5.0)
        seen_allowed.add(allowed.update(c, p).outcome)
        seen_silent.add(silent.update(c, p).outcome)
    assert "pass" in seen_allowed
    assert seen_silent == {"inconclusive"}


# --------------------------------------------------------------- persistence


def test_state_round_trip_continues_exactly() -> None:
    rng = np.random.default_rng(11)
    sim = simulate(LOW10, Scenario("errors 1 %", canary_error_rate=0.01), 1, 30, rng, BOUNDS)
    ticks = list(windows(sim, 0))
    options = {"latency_bounds": BOUNDS, "alpha": 0.01}
    original = SequentialJudge(**options)  # type: ignore[arg-type]
    for c, p in ticks[:12]:
        original.update(c, p)
    saved = json.dumps(original.state(), allow_nan=False)
    assert len(saved) < 4096
    restored = SequentialJudge.from_state(json.loads(saved), **options)
    for c, p in ticks[12:]:
        a, b = original.update(c, p), restored.update(c, p)
        assert a.to_dict() == b.to_dict()
    assert restored.state() == original.state()


def test_state_does_not_grow_with_the_number_of_ticks() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS)
    judge.update(Window(600.0, 1.0, hist(600.0, FAST)), Window(6000.0, 6.0, hist(6000.0, FAST)))
    size_1 = len(json.dumps(judge.state()))
    for _ in range(300):
        judge.update(Window(600.0, 1.0, hist(600.0, FAST)), Window(6000.0, 6.0, hist(6000.0, FAST)))
    assert len(json.dumps(judge.state())) < size_1 + 200  # only digits may change


def test_state_from_another_configuration_is_rejected() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS)
    judge.update(Window(600.0, 1.0), Window(6000.0, 6.0))
    with pytest.raises(ValueError):
        SequentialJudge.from_state(judge.state(), latency_bounds=BOUNDS, metrics=("error-rate",))
    with pytest.raises(ValueError):
        SequentialJudge.from_state({"v": 99}, latency_bounds=BOUNDS)


def test_sequential_and_batch_judges_agree() -> None:
    rng = np.random.default_rng(5)
    sim = simulate(LOW10, Scenario("latency x1.5", latency_factor=1.5), 3, 20, rng, BOUNDS)
    config = JudgeConfig(latency_bounds=tuple(BOUNDS))
    batch = BatchJudge(3, config)
    for t in range(20):
        batch.update(sim.canary_requests[:, t], sim.canary_errors[:, t], sim.canary_hist[:, t],
                     sim.primary_requests[:, t], sim.primary_errors[:, t], sim.primary_hist[:, t])
    for run in range(3):
        single = SequentialJudge(config=config)
        for c, p in windows(sim, run):
            single.update(c, p)
        one, many = single.state(), batch.state(run)
        assert one.keys() == many.keys()
        for key, value in one.items():  # the same arithmetic; matrix products may round differently
            for a, b in zip(value if isinstance(value, list) else [value], many[key] if isinstance(value, list)
                            else [many[key]], strict=True):
                if isinstance(a, float) and not isinstance(b, str | None):
                    assert a == pytest.approx(b, rel=1e-9, abs=1e-9), key
                else:
                    assert a == b, key


# ------------------------------------------------------- seeded error rates


@pytest.mark.parametrize("noise", ["clean", "realistic", "noisy"])
def test_healthy_canaries_stay_under_the_false_rollback_budget(noise: str) -> None:
    # alpha = 0.05 so that 600 runs can show a violation (expected <= 30 rollbacks)
    rng = np.random.default_rng(2026)
    sim = simulate(LOW10, Scenario(f"healthy {noise}", noise=noise), 600, 30, rng, BOUNDS)
    first = first_fail_ticks(sim, JudgeConfig(latency_bounds=tuple(BOUNDS), alpha=0.05))
    assert np.mean(first > 0) <= 0.05


@pytest.mark.parametrize(
    ("scenario", "cell", "within"),
    [
        (Scenario("errors 5 %", canary_error_rate=0.05), LOW10, 10),
        (Scenario("errors 1 %", canary_error_rate=0.01), MID10, 10),
        (Scenario("latency x1.5", latency_factor=1.5), MID10, 10),
        (Scenario("tail", tail_fraction=0.02, tail_ms=500.0), MID10, 12),
    ],
)
def test_seeded_regressions_are_caught(scenario: Scenario, cell: TrafficCell, within: int) -> None:
    rng = np.random.default_rng(99)
    sim = simulate(cell, scenario, 200, 30, rng, BOUNDS)
    first = first_fail_ticks(sim, JudgeConfig(latency_bounds=tuple(BOUNDS), alpha=0.01))
    assert np.mean((first > 0) & (first <= within)) >= 0.95


def test_pass_is_never_reported_once_failed() -> None:
    rng = np.random.default_rng(3)
    sim = simulate(MID10, Scenario("errors 5 %", canary_error_rate=0.05), 50, 30, rng, BOUNDS)
    judge = BatchJudge(50, JudgeConfig(latency_bounds=tuple(BOUNDS)))
    failed = np.zeros(50, dtype=bool)
    for t in range(30):
        out = judge.update(sim.canary_requests[:, t], sim.canary_errors[:, t], sim.canary_hist[:, t],
                           sim.primary_requests[:, t], sim.primary_errors[:, t], sim.primary_hist[:, t])
        assert not np.any(failed & (out != FAIL))
        assert not np.any(out[failed] == PASS)
        failed |= out == FAIL
    assert failed.all()


# ------------------------------------------------------ confidence sequence


def _final_bounds(sim: SimulatedTicks, config: JudgeConfig) -> list[tuple[float | None, float | None]]:
    runs, ticks = sim.canary_requests.shape
    judge = BatchJudge(runs, config)
    for t in range(ticks):
        judge.update(sim.canary_requests[:, t], sim.canary_errors[:, t], sim.canary_hist[:, t],
                     sim.primary_requests[:, t], sim.primary_errors[:, t], sim.primary_hist[:, t])
    return [judge.effect_bounds(run)[0] for run in range(runs)]


def test_effect_bounds_cover_the_true_error_ratio() -> None:
    config = JudgeConfig(latency_bounds=tuple(BOUNDS), metrics=("error-rate",), alpha=0.05)
    sim = simulate(MID10, Scenario("errors 1 %", noise="clean", canary_error_rate=0.01), 200, 30,
                   np.random.default_rng(21), BOUNDS)
    bounds = _final_bounds(sim, config)
    lowers = [lo for lo, _ in bounds]
    assert all(lo is not None and 3.0 <= lo <= 10.0 for lo in lowers)  # true ratio is 10
    healthy = simulate(MID10, Scenario("clean", noise="clean"), 300, 30, np.random.default_rng(22), BOUNDS)
    bounds = _final_bounds(healthy, config)
    wrong = [lo for lo, hi in bounds if (lo is not None and lo >= 1.0) or (hi is not None and hi <= 1.0)]
    assert len(wrong) <= 0.05 * len(bounds)
    assert any(hi is not None for _, hi in bounds)  # a healthy canary gets an upper bound too


# ---------------------------------------------------------------- count test


def _one_tick_evidence(config: JudgeConfig, xc: np.ndarray, nc: float, xp: np.ndarray, np_: float) -> np.ndarray:
    """Each run's error-rate e-value after a single tick with the given counts."""
    runs = len(xc)
    judge = BatchJudge(runs, config)
    judge.update(np.full(runs, nc), xc, None, np.full(runs, np_), xp, None)
    return np.exp(judge.log_fail[:, 0])


@pytest.mark.parametrize("kind", ["binomial", "overdispersed", "bursts"])
def test_count_test_is_an_e_value_under_its_null_model(kind: str) -> None:
    # model (C): the canary's count of a tick's errors at exactly the tolerated share, drawn
    # binomially, beta-binomially at the dispersion bound, or as one whole-tick burst;
    # the expectation of the one-tick e-value is computed exactly over all counts
    config = JudgeConfig(latency_bounds=tuple(BOUNDS), metrics=("error-rate",), count_weight=1.0)
    nc, np_, m = 1200.0, 10800.0, 25
    r0 = 1.0 + config.error_rate_tolerance_ratio
    q = r0 * nc / (r0 * nc + np_)
    xc = np.arange(m + 1, dtype=float)
    if kind == "binomial":
        pmf = binom.pmf(xc, m, q)
    elif kind == "overdispersed":
        rho = config.error_dispersion
        pmf = betabinom.pmf(xc, m, q * (1 - rho) / rho, (1 - q) * (1 - rho) / rho)
    else:
        pmf = np.where(xc == m, q, 0.0) + np.where(xc == 0, 1.0 - q, 0.0)
    evidence = _one_tick_evidence(config, xc, nc, m - xc, np_)
    assert float(np.sum(pmf * evidence)) <= 1.0 + 1e-9
    assert evidence[-1] > 5.0  # and a tick with every error in the canary is strong evidence


def test_count_test_catches_in_three_minutes_what_share_bets_cannot() -> None:
    # 200 rps at 10 % weight, canary errors 1 % against 0.1 %: 12 of about 23 errors per minute
    def judge(count_weight: float) -> list[str]:
        j = SequentialJudge(latency_bounds=BOUNDS, metrics=("error-rate",), count_weight=count_weight)
        return [j.update(Window(1200.0, 12.0), Window(10800.0, 11.0)).outcome for _ in range(3)]

    assert judge(0.75)[-1] == "fail"
    assert judge(0.0) == ["inconclusive"] * 3


def test_count_test_still_caps_one_tick_at_one_over_the_tolerated_share() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, metrics=("error-rate",), count_weight=1.0)
    verdict = judge.update(canary=Window(600.0, 500.0), primary=Window(11400.0, 1.0))
    q = 1.15 * 600 / (1.15 * 600 + 11400)
    assert 0.5 / q < verdict.metrics[0].evidence <= 1.0 / q


@pytest.mark.parametrize("noise", ["realistic", "noisy"])
def test_count_test_alone_keeps_healthy_canaries_under_the_budget(noise: str) -> None:
    rng = np.random.default_rng(2027)
    sim = simulate(MID10, Scenario(f"healthy {noise}", noise=noise), 600, 30, rng, BOUNDS)
    first = first_fail_ticks(sim, JudgeConfig(latency_bounds=tuple(BOUNDS), alpha=0.05, count_weight=1.0))
    assert np.mean(first > 0) <= 0.05


def test_noise_model_and_planning_knobs_are_validated() -> None:
    for bad in ({"count_weight": 1.5}, {"error_dispersion": -0.1}, {"latency_jitter": -0.01},
                {"burst_cap": 1.5}, {"count_bet": 1.0}, {"latency_shift_weights": (1.0, 1.0)},
                {"latency_shift_weights": (1.0, 1.0, 0.0, 1.0, 1.0)}):
        with pytest.raises(ValueError):
            JudgeConfig(latency_bounds=tuple(BOUNDS), **bad)  # type: ignore[arg-type]


def test_state_from_before_the_count_test_is_restored_with_a_fresh_count_test() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, metrics=("error-rate",))
    for _ in range(3):
        judge.update(Window(1200.0, 12.0), Window(10800.0, 11.0))
    state = judge.state()
    layout = BatchJudge(1, JudgeConfig(latency_bounds=tuple(BOUNDS), metrics=("error-rate",)))
    share_only = state["logFail"][: layout.n_share]  # what a version-1 state held
    old = {**state, "v": 1, "logFail": share_only}
    restored = SequentialJudge.from_state(old, latency_bounds=BOUNDS, metrics=("error-rate",))
    assert restored.state()["logFail"] == share_only + [0.0] * layout.n_count
    assert restored.state()["v"] == 2
    assert restored.verdict().ticks == 3


# ------------------------------------------------------- the histogram tests


def _jittered_ticks(
    rng: np.random.Generator, runs: int, per_minute: float, weight: float, shift: float, jitter: float,
    tail: tuple[float, float] = (0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One tick of log-normal latencies: canary ``exp(shift)`` times slower; both versions jitter per minute."""
    nc = rng.poisson(per_minute * weight, runs).astype(float)
    np_ = rng.poisson(per_minute * (1 - weight), runs).astype(float)
    median = math.log(60.0) + rng.normal(0.0, 0.03, runs)  # drift common to both versions
    pc = bucket_probabilities(BOUNDS, median + shift + rng.normal(0.0, jitter, runs), 1.0, *tail)
    pp = bucket_probabilities(BOUNDS, median + rng.normal(0.0, jitter, runs))
    hc = np.cumsum(rng.multinomial(nc.astype(np.int64), pc), axis=1).astype(float)
    hp = np.cumsum(rng.multinomial(np_.astype(np.int64), pp), axis=1).astype(float)
    return nc, hc, np_, hp


@pytest.mark.parametrize("jitter", [0.0, 0.5, 1.0])
@pytest.mark.parametrize("metric", ["latency", "latency-tail"])
@pytest.mark.parametrize(("per_minute", "weight"), [(1200.0, 0.05), (12000.0, 0.10), (120000.0, 0.10)])
def test_histogram_test_is_an_e_process_up_to_its_jitter_bound(
    metric: str, per_minute: float, weight: float, jitter: float
) -> None:
    # model (H) at its edge: the canary exactly the tolerated 2 % slower, both versions jittering by
    # none, half or all of latency_jitter every minute; Ville: P(sup of the evidence >= 1/a) <= a,
    # for the metric's count test and for each of its strategies
    config = JudgeConfig(latency_bounds=tuple(BOUNDS), metrics=(metric,), count_weight=1.0)
    runs, ticks = 3000, 10
    rng = np.random.default_rng(11)
    judge = BatchJudge(runs, config)
    top = np.zeros((runs, judge.n_count))
    for _ in range(ticks):
        nc, hc, np_, hp = _jittered_ticks(rng, runs, per_minute, weight, math.log1p(config.latency_tolerance),
                                          jitter * config.latency_jitter)
        judge.update(nc, np.zeros(runs), hc, np_, np.zeros(runs), hp)
        top = np.maximum(top, np.exp(judge.log_fail_strategies[:, 0, judge.n_share:]))
    combined = np.exp(judge.log_fail[:, 0])
    assert np.mean(combined >= 10.0) <= 0.1
    assert np.all(np.mean(top >= 10.0, axis=0) <= 0.1)
    assert np.all(np.mean(top >= 100.0, axis=0) <= 0.01)


@pytest.mark.parametrize(
    ("canary", "jitter"), [("at tolerance", 0.0), ("at tolerance", 0.5), ("at tolerance", 1.0), ("identical", 0.0)]
)
@pytest.mark.parametrize(
    ("per_minute", "weight"), [(300.0, 0.05), (1200.0, 0.10), (12000.0, 0.10), (120000.0, 0.10)]
)
def test_one_tick_of_the_histogram_tests_is_an_e_value(
    per_minute: float, weight: float, canary: str, jitter: float
) -> None:
    # the per-tick factor behind the e-process: under the null (the canary exactly the tolerated
    # 2 % slower, or as fast as the primary; any jitter up to the bound), every alternative's
    # capped likelihood ratio has mean <= 1. An identical canary without jitter at high traffic
    # is where alternatives made of a few sharp shifts fail: one of them sits where it is.
    config = JudgeConfig(latency_bounds=tuple(BOUNDS))
    alternatives = [(f, 0.0, f) for f in config.latency_shift_factors]
    alternatives += [(1.0, eps, slow) for eps, slow in config.latency_tail_alternatives]
    runs = 6000
    tests = HistogramTests(runs, BOUNDS, config.latency_tolerance, config.latency_jitter, 1.0, alternatives)
    shift = math.log1p(config.latency_tolerance) if canary == "at tolerance" else 0.0
    _, hc, _, hp = _jittered_ticks(np.random.default_rng(5), runs, per_minute, weight, shift,
                                   jitter * config.latency_jitter)
    lr, valid = tests.likelihood_ratios(hc + hp, hc, hp, np.ones(runs, dtype=bool))
    assert valid.mean() > 0.99
    mean = lr[valid].mean(axis=0)
    error = lr[valid].std(axis=0) / math.sqrt(valid.sum())
    assert np.all(mean <= 1.0 + 4.0 * error), (mean, error)


def test_histogram_test_sees_a_ten_percent_slower_canary_that_one_bucket_bound_misses() -> None:
    # 20 rps at 10 % weight, realistic noise: 2 canary requests a second, every one 10 % slower
    rng = np.random.default_rng(7)
    sim = simulate(LOW10, Scenario("latency x1.1", latency_factor=1.1), 300, 30, rng, BOUNDS)
    ours = first_fail_ticks(sim, JudgeConfig(latency_bounds=tuple(BOUNDS)))
    share_only = first_fail_ticks(sim, JudgeConfig(latency_bounds=tuple(BOUNDS), count_weight=0.0))
    assert np.mean(ours > 0) >= 0.7
    assert np.mean(ours > 0) >= np.mean(share_only > 0) + 0.3


def test_histogram_test_catches_a_slow_tail_of_two_percent() -> None:
    rng = np.random.default_rng(8)
    runs = 300
    judge = BatchJudge(runs, JudgeConfig(latency_bounds=tuple(BOUNDS)))
    out = np.zeros(runs, dtype=np.int8)
    for _ in range(8):
        nc, hc, np_, hp = _jittered_ticks(rng, runs, 1200.0, 0.1, 0.0, 0.03, tail=(0.02, 500.0))
        out = judge.update(nc, np.zeros(runs), hc, np_, np.zeros(runs), hp)
    assert np.mean(out == FAIL) >= 0.9


@pytest.mark.parametrize("bounds", [[100.0], [5.0, 10.0]])
def test_histograms_with_little_shape_are_harmless(bounds: list[float]) -> None:
    # one bound (no shape to shift), or every request in the +Inf bucket: no crash, no false evidence
    judge = SequentialJudge(latency_bounds=bounds)
    for _ in range(30):
        lat = {**{b: 0.0 for b in bounds}, math.inf: 600.0}
        plat = {**{b: 0.0 for b in bounds}, math.inf: 11400.0}
        verdict = judge.update(Window(600.0, 0.0, lat), Window(11400.0, 0.0, plat))
    assert verdict.outcome != "fail"
    assert all(math.isfinite(m.evidence) for m in verdict.metrics)


def test_a_judge_without_jitter_allowance_still_works() -> None:
    judge = SequentialJudge(latency_bounds=BOUNDS, latency_jitter=0.0)
    slow = [0.0, 0.0, 0.01, 0.2, 0.6, 0.99, 1.0, 1.0, 1.0, 1.0, 1.0]
    for _ in range(5):
        verdict = judge.update(Window(600.0, 0.0, hist(600.0, slow)), Window(11400.0, 0.0, hist(11400.0, FAST)))
    assert all(math.isfinite(m.evidence) for m in verdict.metrics)
    assert verdict.outcome == "fail"
    assert "latency" in verdict.reason
