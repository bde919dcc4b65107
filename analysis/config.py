"""What the sequential judge compares and how strict it is: :class:`JudgeConfig` and its defaults."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_LATENCY_BOUNDS", "METRICS", "JudgeConfig"]

#: Istio's default request-duration buckets (milliseconds); +Inf is implied.
DEFAULT_LATENCY_BOUNDS: Final = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                                 60000, 300000, 600000, 1800000, 3600000)

#: The metrics the judge knows: ``error-rate`` compares the share of errors;
#: ``latency`` the share of requests slower than the bucket bound nearest the
#: pooled ``latency_quantile``; ``latency-tail`` the same near ``tail_quantile``.
METRICS: Final = ("error-rate", "latency", "latency-tail")


@dataclass(frozen=True)
class JudgeConfig:
    """What the sequential judge compares and how strict it is.

    Statistical knobs (they define what "regression" means):

    * ``alpha``: probability of a "fail" verdict for a canary that is no worse
      than tolerated, over the whole rollout however often it is checked; also
      the probability of a wrong "pass".
    * ``error_rate_tolerance_ratio`` and ``error_rate_tolerance_pp``: the
      canary's error rate may be up to ``(1 + ratio) x primary + pp`` (pp in
      percentage points) before it counts as a regression. The relative part
      also absorbs the primary's own minute-to-minute overdispersion (see
      ``sequential``), so keep it above about 0.15.
    * ``latency_tolerance``: relative latency rise tolerated (0.05 = 5 % slower).
    * ``metrics``: which of :data:`METRICS` to judge; ``weights`` splits alpha
      between them (normalised over the judged metrics).
    * ``latency_quantile`` / ``tail_quantile``: where the latency comparisons
      look (the bucket bound nearest this quantile of the pooled traffic).
    * ``report_pass``: whether "pass" (no regression beyond tolerance in any
      judged metric) may be reported; otherwise the judge only says fail or
      inconclusive.

    Noise-model knobs (the count tests' validity rests on them; see
    :mod:`analysis.sequential`, models (C) and (H)): ``error_dispersion``
    bounds the per-minute overdispersion (intra-class correlation ``rho``) of
    the canary's share of a tick's errors; ``latency_jitter`` the per-version,
    per-minute jitter of log latency (0.035: about 3.5 %) that the histogram
    tests allow each version. Larger is safer and slower. ``burst_cap`` (at most 1) caps one
    tick's count evidence at ``burst_cap / q`` (``q`` = the canary's tolerated
    share of the tick's events), what a single burst landing on the canary may
    earn. ``count_weight`` is the count test's share of each metric's evidence
    (0 = the share bets alone, valid under the weaker share-only null, slower).

    Planning knobs (they only steer how boldly evidence is bet on; validity does
    not depend on them): ``error_design_ratios`` / ``latency_design_ratios``
    are the regressions (over the tolerance) that share bets are sized for; each
    metric's share evidence is the average of one betting strategy per design
    ratio (equally many for both). ``error_count_ratios`` are the error
    count test's alternatives (the plug-in estimate is added);
    ``latency_shift_factors`` the ``latency`` histogram test's (latency
    factors beyond the tolerance) and ``latency_tail_alternatives`` the
    ``latency-tail`` one's (a share of requests made that many times slower),
    one more each: every metric's count evidence averages equally many
    strategies, with equal weights except ``latency_shift_weights``: most on
    the small shifts, which need the most evidence (a large one is caught in
    a few ticks whatever its weight). ``max_bet`` is the largest
    fraction of the evidence a share bet stakes on one tick, ``count_bet`` the
    count test's, ``bet_cap_events`` the most events a share bet counts on.
    """

    latency_bounds: tuple[float, ...] = DEFAULT_LATENCY_BOUNDS
    alpha: float = 0.01
    metrics: tuple[str, ...] = METRICS
    error_rate_tolerance_ratio: float = 0.15
    error_rate_tolerance_pp: float = 0.0
    latency_tolerance: float = 0.02
    latency_quantile: float = 0.8
    tail_quantile: float = 0.99
    weights: tuple[float, ...] = (0.5, 0.25, 0.25)
    report_pass: bool = True
    error_design_ratios: tuple[float, ...] = (3.0, 8.0, 20.0)
    latency_design_ratios: tuple[float, ...] = (1.5, 3.0, 8.0)
    max_bet: float = 0.95
    bet_cap_events: float = 100.0
    count_weight: float = 0.75
    count_bet: float = 0.95
    error_count_ratios: tuple[float, ...] = (3.0, 8.0, 20.0, 60.0)
    latency_shift_factors: tuple[float, ...] = (1.05, 1.1, 1.2, 1.4, 2.0)
    latency_shift_weights: tuple[float, ...] = (0.4, 0.3, 0.15, 0.1, 0.05)
    latency_tail_alternatives: tuple[tuple[float, float], ...] = (
        (0.005, 10.0), (0.01, 10.0), (0.02, 10.0), (0.05, 10.0), (0.1, 3.0)
    )
    latency_jitter: float = 0.035
    error_dispersion: float = 0.03
    burst_cap: float = 1.0

    def __post_init__(self) -> None:
        bounds = tuple(float(b) for b in self.latency_bounds if math.isfinite(float(b)))
        object.__setattr__(self, "latency_bounds", bounds)
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        object.__setattr__(self, "error_design_ratios", tuple(float(r) for r in self.error_design_ratios))
        object.__setattr__(self, "latency_design_ratios", tuple(float(r) for r in self.latency_design_ratios))
        object.__setattr__(self, "error_count_ratios", tuple(float(r) for r in self.error_count_ratios))
        object.__setattr__(self, "latency_shift_factors", tuple(float(r) for r in self.latency_shift_factors))
        object.__setattr__(self, "latency_shift_weights", tuple(float(w) for w in self.latency_shift_weights))
        object.__setattr__(
            self, "latency_tail_alternatives", tuple((float(e), float(f)) for e, f in self.latency_tail_alternatives)
        )
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha}")
        if not bounds or any(b <= 0 for b in bounds) or list(bounds) != sorted(set(bounds)):
            raise ValueError("latency_bounds must be positive and strictly increasing")
        if not self.metrics:
            raise ValueError("metrics must name at least one of " + ", ".join(METRICS))
        unknown = [m for m in self.metrics if m not in METRICS]
        if unknown or len(set(self.metrics)) != len(self.metrics):
            raise ValueError(f"metrics must be distinct names from {METRICS}, got {self.metrics}")
        if len(self.weights) != len(METRICS) or any(w <= 0 for w in self.weights):
            raise ValueError(f"weights must be {len(METRICS)} positive numbers (one per {METRICS})")
        if self.error_rate_tolerance_pp < 0 or self.error_rate_tolerance_ratio < 0 or self.latency_tolerance < 0:
            raise ValueError("tolerances must be >= 0")
        if not (0 < self.latency_quantile < 1 and 0 < self.tail_quantile < 1):
            raise ValueError("latency_quantile and tail_quantile must be in (0, 1)")
        if not (0 < self.max_bet < 1 and 0 < self.count_bet < 1):
            raise ValueError("max_bet and count_bet must be in (0, 1)")
        if not 0 <= self.count_weight <= 1:
            raise ValueError(f"count_weight must be in [0, 1], got {self.count_weight}")
        if not (0 <= self.error_dispersion < 1 and 0 < self.burst_cap <= 1):
            raise ValueError("error_dispersion must be in [0, 1), burst_cap in (0, 1]")
        if not 0 <= self.latency_jitter <= 1:
            raise ValueError(f"latency_jitter must be in [0, 1] (log scale), got {self.latency_jitter}")
        strategies = len(self.error_count_ratios) + 1
        if len(self.latency_shift_factors) != strategies or any(r <= 1 for r in self.latency_shift_factors):
            raise ValueError(
                f"latency_shift_factors must be {strategies} factors > 1"
                " (one more than error_count_ratios: the count test's strategies per metric)"
            )
        if len(self.latency_shift_weights) != strategies or any(w <= 0 for w in self.latency_shift_weights):
            raise ValueError(f"latency_shift_weights must be {strategies} positive weights, one per shift factor")
        if len(self.latency_tail_alternatives) != strategies or any(
            not (0 < e < 1 and f > 1) for e, f in self.latency_tail_alternatives
        ):
            raise ValueError(
                f"latency_tail_alternatives must be {strategies} pairs (share in (0, 1), slowdown factor > 1)"
            )
        designs = (*self.error_design_ratios, *self.latency_design_ratios, *self.error_count_ratios)
        if (
            not self.error_design_ratios
            or len(self.error_design_ratios) != len(self.latency_design_ratios)
            or not self.error_count_ratios
            or any(r <= 1 for r in designs)
            or self.bet_cap_events < 1
        ):
            raise ValueError(
                "design ratios must be > 1, equally many for errors and latency; bet_cap_events must be >= 1"
            )

    def metric_weights(self) -> tuple[float, ...]:
        """Share of alpha spent on each judged metric, in ``metrics`` order."""
        raw = [self.weights[METRICS.index(m)] for m in self.metrics]
        total = sum(raw)
        return tuple(w / total for w in raw)
