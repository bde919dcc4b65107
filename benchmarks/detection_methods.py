"""The judges the detection benchmark compares, run over simulated rollouts.

Each method takes a :class:`analysis.simulate.SimulatedTicks` (many runs of
``TICKS`` one-minute ticks) and returns an :class:`Outcome`: the tick at which
each run was rolled back, and what its canary had served by then.

* our sequential judge (``analysis.BatchJudge``, the arithmetic of
  ``analysis.SequentialJudge``, default configuration, alpha = 0.01), and the
  same judge with share bets only (``count_weight=0``: no noise model);
* Flagger-style thresholds: request success rate >= 99 % and p99 <= 500 ms on
  the canary alone, rollback after 5 and after 10 failed checks (no data is a
  failed check);
* Kayenta's Mann-Whitney classifier as published, once at the end: per-tick
  error ratio, p50 and p99 of canary against primary, 98 % confidence interval
  on the Hodges-Lehmann shift, "high" when the lower bound exceeds
  0.25 x |shift| and the mean ratio is >= 1; one high metric of three fails
  the canary (score 67 < 75);
* Wald's SPRT expected sample size (alpha = beta = 0.01) per request, without
  noise: the limit no valid tick-level method can beat;
* two hindsight ceilings (not tests): the most any test of the share-only
  null could collect, and the most a judge capped per tick like ours could;
* an oracle (not a test): the likelihood ratio of each regression's true
  effect, capped per tick like ours, with the judged metric's share of alpha;
* for the latency shifts, an oracle that is a valid test: our histogram test
  told the true shift, allowing the same jitter.

``benchmarks/detection.py`` runs them cell by cell and writes the report;
benchmarks/README.md says what each one is and why it is there.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
from scipy.stats import norm

from analysis import BatchJudge, JudgeConfig
from analysis.engine import FAIL, PASS
from analysis.simulate import (
    BASE_ERROR_RATE,
    LATENCY_MEDIAN_MS,
    Scenario,
    SimulatedTicks,
    bucket_probabilities,
)

FloatArray = npt.NDArray[np.float64]

#: Istio's request-duration buckets from 5 ms to 10 s (+Inf implied), the length of a rollout in
#: ticks, the false-rollback budget, and the tick of a run never rolled back.
BOUNDS = (5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0)
TICKS = 30
ALPHA = 0.01
NEVER = 10**6


@dataclass
class Outcome:
    """Per-run decision tick (NEVER if none) and what the canary had served by then."""

    tick: npt.NDArray[np.int64]
    requests: FloatArray
    errors: FloatArray
    passed: npt.NDArray[np.bool_] | None = None  # judge said "pass" at some tick (ours only)

    @property
    def decided(self) -> npt.NDArray[np.bool_]:
        return self.tick < NEVER


def _at_decision(sim: SimulatedTicks, tick: npt.NDArray[np.int64]) -> Outcome:
    cum_req = np.cumsum(sim.canary_requests, axis=1)
    cum_err = np.cumsum(sim.canary_errors, axis=1)
    idx = np.clip(tick - 1, 0, TICKS - 1)
    rows = np.arange(len(tick))
    req = np.where(tick < NEVER, cum_req[rows, idx], np.nan)
    err = np.where(tick < NEVER, cum_err[rows, idx], np.nan)
    return Outcome(tick, req, err)


# ----------------------------------------------------------------- methods


def run_ours(sim: SimulatedTicks, hindsight: str = "", count_weight: float | None = None) -> Outcome:
    config = JudgeConfig(latency_bounds=BOUNDS, alpha=ALPHA)
    if count_weight is not None:
        config = replace(config, count_weight=count_weight)
    return _judge_runs(sim, BatchJudge(sim.canary_requests.shape[0], config, hindsight=hindsight))


def _judge_runs(sim: SimulatedTicks, judge: BatchJudge) -> Outcome:
    """Feed every simulated run to ``judge`` (one run each), tick by tick, until each has rolled back."""
    runs = sim.canary_requests.shape[0]
    tick = np.full(runs, NEVER, dtype=np.int64)
    passed = np.zeros(runs, dtype=bool)
    for t in range(TICKS):
        out = judge.update(
            sim.canary_requests[:, t],
            sim.canary_errors[:, t],
            sim.canary_hist[:, t],
            sim.primary_requests[:, t],
            sim.primary_errors[:, t],
            sim.primary_hist[:, t],
        )
        tick = np.where((out == FAIL) & (tick == NEVER), t + 1, tick)
        passed |= out == PASS
        if (tick != NEVER).all():  # every run rolled back: later ticks change nothing
            break
    outcome = _at_decision(sim, tick)
    outcome.passed = passed
    return outcome


def histogram_quantile(q: float, hist: FloatArray) -> FloatArray:
    """Prometheus' ``histogram_quantile`` over cumulative buckets (last axis, +Inf last)."""
    total = hist[..., -1]
    rank = q * total
    reached = hist >= rank[..., None]
    idx = np.argmax(reached, axis=-1)
    bounds = np.asarray(BOUNDS)
    last = hist.shape[-1] - 1
    safe = np.minimum(idx, last - 1)
    upper = bounds[safe]
    lower = np.where(safe > 0, bounds[np.maximum(safe - 1, 0)], 0.0)
    below = np.where(idx > 0, np.take_along_axis(hist, np.maximum(idx - 1, 0)[..., None], axis=-1)[..., 0], 0.0)
    at = np.take_along_axis(hist, idx[..., None], axis=-1)[..., 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = np.where(at - below > 0, (rank - below) / (at - below), 1.0)
    value = lower + (upper - lower) * frac
    value = np.where(idx >= last, bounds[-1], value)
    return np.asarray(np.where(total > 0, value, np.nan), dtype=np.float64)


def run_oracle(sim: SimulatedTicks, scenario: Scenario) -> Outcome:
    """A reference, not a test we could run: the likelihood ratio of the scenario's true regression.

    It knows the effect (the canary's true error rate; its true latency
    distribution, from the simulator's parameters), compares it with the
    tolerance our judge uses, treats the tick's counts as binomial given the
    tick's pooled events or buckets (so common drift cancels, but no allowance
    for bursts, overdispersion or jitter), caps each tick at ``1/q`` (what one
    burst landing on the canary may earn; the cap that keeps a single burst
    from deciding), and spends only the judged metric's share of alpha. Where
    it misses a target, so would any burst-robust judge that has to find the
    effect instead of knowing it.
    """
    config = JudgeConfig(latency_bounds=BOUNDS, alpha=ALPHA)
    weights = dict(zip(config.metrics, config.metric_weights(), strict=True))
    nc, np_ = sim.canary_requests, sim.primary_requests
    with np.errstate(invalid="ignore", divide="ignore"):
        if scenario.canary_error_rate > BASE_ERROR_RATE:
            r0 = 1.0 + config.error_rate_tolerance_ratio
            r1 = scenario.canary_error_rate / BASE_ERROR_RATE
            q0, q1 = r0 * nc / (r0 * nc + np_), r1 * nc / (r1 * nc + np_)
            ll = sim.canary_errors * np.log(q1 / q0) + sim.primary_errors * np.log((1.0 - q1) / (1.0 - q0))
            cap, share = -np.log(q0), weights["error-rate"]
        else:
            median = math.log(LATENCY_MEDIAN_MS)
            p_primary = bucket_probabilities(BOUNDS, median)
            p_null = bucket_probabilities(BOUNDS, median, 1.0 + config.latency_tolerance)
            p_alt = bucket_probabilities(
                BOUNDS, median, scenario.latency_factor, scenario.tail_fraction, scenario.tail_ms
            )
            w = (nc / (nc + np_))[..., None]
            q0 = w * p_null / (w * p_null + (1.0 - w) * p_primary)
            q1 = w * p_alt / (w * p_alt + (1.0 - w) * p_primary)
            xc = np.diff(sim.canary_hist, axis=2, prepend=0.0)
            m = xc + np.diff(sim.primary_hist, axis=2, prepend=0.0)
            terms = xc * np.log(q1 / q0) + (m - xc) * np.log((1.0 - q1) / (1.0 - q0))
            ll = np.sum(np.where(m > 0, terms, 0.0), axis=2)
            cap, share = -np.log(w[..., 0]), weights["latency-tail" if scenario.tail_fraction else "latency"]
        ll = np.minimum(np.where(np.isfinite(ll), ll, 0.0), np.where(np.isfinite(cap), cap, 0.0))
    hit = np.cumsum(ll, axis=1) >= math.log(1.0 / (ALPHA * share))
    tick = np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, NEVER).astype(np.int64)
    return _at_decision(sim, tick)


def run_jitter_oracle(sim: SimulatedTicks, scenario: Scenario) -> Outcome:
    """A reference for the latency shifts: our histogram test told the effect, allowing the jitter bound.

    The ``latency`` metric alone, with its share of alpha and one alternative:
    the scenario's true slowdown of the canary against the primary (the
    contrast the test's likelihood measures, whatever the canary's share of the
    pooled traffic), integrated over the same per-minute jitter as the null
    (``latency_jitter``, 3.5 %). Unlike the oracle above it is a valid test:
    it allows for what the judge must allow for, and only knows what the
    judge must find. A judge that has to find the shift should not expect to
    beat it, so where it misses a latency target the target is out of reach
    at this jitter bound and split of alpha.
    """
    base = JudgeConfig(latency_bounds=BOUNDS, alpha=ALPHA)
    share = dict(zip(base.metrics, base.metric_weights(), strict=True))["latency"]
    over = scenario.latency_factor / (1.0 + base.latency_tolerance)
    config = replace(
        base,
        alpha=ALPHA * share,
        metrics=("latency",),
        count_weight=1.0,
        error_count_ratios=(3.0,),
        latency_shift_factors=(over, over),
        latency_shift_weights=(1.0, 1.0),
        latency_tail_alternatives=base.latency_tail_alternatives[:2],
    )
    return _judge_runs(sim, BatchJudge(sim.canary_requests.shape[0], config))


def run_flagger(sim: SimulatedTicks, threshold: int) -> Outcome:
    with np.errstate(invalid="ignore", divide="ignore"):
        success = np.where(sim.canary_requests > 0, 100.0 * (1 - sim.canary_errors / sim.canary_requests), np.nan)
    p99 = histogram_quantile(0.99, sim.canary_hist)
    ok = (success >= 99.0) & (p99 <= 500.0)  # NaN compares False: no data is a failed check
    failed = np.cumsum(~ok, axis=1)
    hit = failed >= threshold
    tick = np.where(hit.any(axis=1), np.argmax(hit, axis=1) + 1, NEVER).astype(np.int64)
    return _at_decision(sim, tick)


def _mann_whitney_high(canary: FloatArray, primary: FloatArray, conf: float = 0.98, tol: float = 0.25) -> FloatArray:
    """Kayenta's classifier, vectorised over runs: True where the canary is classified "high".

    NaN values are removed (Kayenta's NaN strategy "remove"). The confidence
    interval on the shift is the distribution-free one from the order
    statistics of all pairwise differences, with the normal approximation for
    the critical rank.
    """
    runs = canary.shape[0]
    diffs = (canary[:, :, None] - primary[:, None, :]).reshape(runs, -1)
    diffs = np.sort(diffs, axis=1)  # NaN last
    n = np.sum(np.isfinite(canary), axis=1)
    m = np.sum(np.isfinite(primary), axis=1)
    nm = n * m
    z = norm.ppf(1 - (1 - conf) / 2)
    k = np.floor(nm / 2 - z * np.sqrt(nm * (n + m + 1) / 12.0)).astype(np.int64)
    k = np.clip(k, 0, np.maximum(nm - 1, 0))
    rows = np.arange(runs)
    lo_idx = np.clip(k, 0, diffs.shape[1] - 1)
    lower = diffs[rows, lo_idx]
    mid_a = diffs[rows, np.clip((nm - 1) // 2, 0, diffs.shape[1] - 1)]
    mid_b = diffs[rows, np.clip(nm // 2, 0, diffs.shape[1] - 1)]
    hl = (mid_a + mid_b) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_c = np.nanmean(canary, axis=1)
        mean_p = np.nanmean(primary, axis=1)
        ratio = np.where(mean_p == 0, 1.0, mean_c / mean_p)
    same = np.all(np.sort(canary, axis=1) == np.sort(primary, axis=1), axis=1)
    constant = (
        (np.nanmax(canary, axis=1) == np.nanmin(canary, axis=1))
        & (np.nanmax(primary, axis=1) == np.nanmin(primary, axis=1))
        & (np.nanmax(canary, axis=1) == np.nanmax(primary, axis=1))
    )
    high = (lower > tol * np.abs(hl)) & (ratio >= 1.0) & ~same & ~constant & (n > 0) & (m > 0)
    return np.asarray(high, dtype=np.float64)


def run_kayenta(sim: SimulatedTicks) -> Outcome:
    with np.errstate(invalid="ignore", divide="ignore"):
        err_c = np.where(sim.canary_requests > 0, sim.canary_errors / sim.canary_requests, np.nan)
        err_p = np.where(sim.primary_requests > 0, sim.primary_errors / sim.primary_requests, np.nan)
    high = _mann_whitney_high(err_c, err_p)
    for q in (0.5, 0.99):
        high = np.maximum(
            high, _mann_whitney_high(histogram_quantile(q, sim.canary_hist), histogram_quantile(q, sim.primary_hist))
        )
    tick = np.where(high > 0, TICKS, NEVER).astype(np.int64)
    return _at_decision(sim, tick)


PREVIOUS = "share bets only"
CEILING = "share-null ceiling"
COUNT_CEILING = "capped-count ceiling"
ORACLE = "oracle (knows the effect)"
JITTER_ORACLE = "oracle allowing the jitter"

#: Columns of the tables: the methods, and the oracles (regression scenarios only; the second one
#: for latency shifts only).
COLUMNS: tuple[str, ...] = ()

METHODS: dict[str, Callable[[SimulatedTicks], Outcome]] = {
    "ours": run_ours,
    PREVIOUS: lambda s: run_ours(s, count_weight=0.0),
    "Flagger (5 failed checks)": lambda s: run_flagger(s, 5),
    "Flagger (10 failed checks)": lambda s: run_flagger(s, 10),
    "Kayenta Mann-Whitney": run_kayenta,
    CEILING: lambda s: run_ours(s, hindsight="share"),
    COUNT_CEILING: lambda s: run_ours(s, hindsight="count"),
}
COLUMNS = (*METHODS, ORACLE, JITTER_ORACLE)


# -------------------------------------------------------------------- SPRT


def sprt_requests(scenario: Scenario, alpha: float = ALPHA, beta: float = 0.01) -> float:
    """Wald's approximate expected number of canary requests to reject under the alternative."""
    a = math.log((1 - beta) / alpha)
    b = math.log(beta / (1 - alpha))
    numerator = (1 - beta) * a + beta * b
    if scenario.canary_error_rate > BASE_ERROR_RATE:
        e1, e0 = scenario.canary_error_rate, BASE_ERROR_RATE
        kl = e1 * math.log(e1 / e0) + (1 - e1) * math.log((1 - e1) / (1 - e0))
    elif scenario.latency_factor != 1.0 or scenario.tail_fraction > 0:
        mu = math.log(LATENCY_MEDIAN_MS)
        p1 = bucket_probabilities(BOUNDS, mu, scenario.latency_factor, scenario.tail_fraction, scenario.tail_ms)
        p0 = bucket_probabilities(BOUNDS, mu)
        mask = p1 > 0
        kl = float(np.sum(p1[mask] * np.log(p1[mask] / np.maximum(p0[mask], 1e-300))))
    else:
        return math.nan
    return numerator / kl
