"""The vectorised core of the sequential judge: many independent rollouts at once.

:class:`BatchJudge` holds the state of ``n_runs`` independent judges in numpy
arrays and advances all of them by one tick per :meth:`BatchJudge.update`.
:class:`analysis.SequentialJudge` is a ``BatchJudge`` of one run; the benchmark
drives thousands of simulated rollouts through the very same arithmetic.

See :mod:`analysis.sequential` for the statistical argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import betaln

__all__ = [
    "CS_GRID",
    "DEFAULT_LATENCY_BOUNDS",
    "FAIL",
    "INCONCLUSIVE",
    "METRICS",
    "PASS",
    "BatchJudge",
    "JudgeConfig",
]

FloatArray = npt.NDArray[np.float64]

INCONCLUSIVE: Final = 0
PASS: Final = 1
FAIL: Final = 2

#: Istio's default request-duration buckets (milliseconds); +Inf is implied.
DEFAULT_LATENCY_BOUNDS: Final = (1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000,
                                 60000, 300000, 600000, 1800000, 3600000)

#: The metrics the judge knows: ``error-rate`` compares the share of errors;
#: ``latency`` the share of requests slower than the bucket bound nearest the
#: pooled ``latency_quantile``; ``latency-tail`` the same near ``tail_quantile``.
METRICS: Final = ("error-rate", "latency", "latency-tail")

_STATE_VERSION: Final = 2

#: Fractions of the dispersion bound at which the null likelihood is evaluated
#: besides 0 (the binomial): its supremum over these is the denominator of the
#: count test.
_NULL_RHO_GRID: Final = (0.25, 1.0)
#: Fraction of the dispersion bound the alternative assumes.
_ALT_RHO: Final = 0.25
_MIX_WITHIN: Final = ("error-rate",)

#: Ratios (canary rate / primary rate) at which the confidence sequence on the
#: effect is evaluated: the reported bounds are the tightest grid points.
CS_GRID: Final = (0.5, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


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

    Noise-model knobs (the count test's validity rests on them; see
    :mod:`analysis.sequential`, model (C)): ``error_dispersion`` and
    ``latency_dispersion`` bound the per-minute overdispersion (intra-class
    correlation ``rho``) of the canary's share of a tick's errors / slow
    requests; larger is safer and slower. ``burst_cap`` (at most 1) caps one
    tick's count evidence at ``burst_cap / q`` (``q`` = the canary's tolerated
    share of the tick's events), what a single burst landing on the canary may
    earn. ``count_weight`` is the count test's share of each metric's evidence
    (0 = the share bets alone, valid under the weaker share-only null, slower).

    Planning knobs (they only steer how boldly evidence is bet on; validity does
    not depend on them): ``error_design_ratios`` / ``latency_design_ratios``
    are the regressions (over the tolerance) that share bets are sized for; each
    metric's share evidence is the average of one betting strategy per design
    ratio (equally many for both). ``error_count_ratios`` /
    ``latency_count_ratios`` are the count test's alternatives (equally many
    for both; the plug-in estimate is added). ``max_bet`` is the largest
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
    latency_count_ratios: tuple[float, ...] = (1.1, 1.3, 2.0, 6.0)
    error_dispersion: float = 0.03
    latency_dispersion: float = 0.002
    burst_cap: float = 1.0

    def __post_init__(self) -> None:
        bounds = tuple(float(b) for b in self.latency_bounds if math.isfinite(float(b)))
        object.__setattr__(self, "latency_bounds", bounds)
        object.__setattr__(self, "metrics", tuple(self.metrics))
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        object.__setattr__(self, "error_design_ratios", tuple(float(r) for r in self.error_design_ratios))
        object.__setattr__(self, "latency_design_ratios", tuple(float(r) for r in self.latency_design_ratios))
        object.__setattr__(self, "error_count_ratios", tuple(float(r) for r in self.error_count_ratios))
        object.__setattr__(self, "latency_count_ratios", tuple(float(r) for r in self.latency_count_ratios))
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
        if not (0 <= self.error_dispersion < 1 and 0 <= self.latency_dispersion < 1 and 0 < self.burst_cap <= 1):
            raise ValueError("error_dispersion and latency_dispersion must be in [0, 1), burst_cap in (0, 1]")
        designs = (*self.error_design_ratios, *self.latency_design_ratios, *self.error_count_ratios,
                   *self.latency_count_ratios)
        if (
            not self.error_design_ratios
            or len(self.error_design_ratios) != len(self.latency_design_ratios)
            or not self.error_count_ratios
            or len(self.error_count_ratios) != len(self.latency_count_ratios)
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


@dataclass
class _Tick:
    """Per-metric inputs of one tick (arrays over runs)."""

    xc: FloatArray
    nc: FloatArray
    xp: FloatArray
    np_: FloatArray
    r0: FloatArray
    bound: FloatArray = field(default_factory=lambda: np.zeros(0))
    # latency only: exceedances at the next bucket bound up, and its tolerance (for the count test)
    xc2: FloatArray = field(default_factory=lambda: np.zeros(0))
    xp2: FloatArray = field(default_factory=lambda: np.zeros(0))
    r02: FloatArray = field(default_factory=lambda: np.zeros(0))


_TICK_FIELDS = ("xc", "nc", "xp", "np_", "r0", "bound", "xc2", "xp2", "r02")


class BatchJudge:
    """``n_runs`` independent sequential judges advanced together, tick by tick.

    Inputs to :meth:`update` are arrays with one entry (or one histogram row)
    per run. The state is a handful of arrays whose size does not grow with the
    number of ticks.
    """

    def __init__(self, n_runs: int, config: JudgeConfig | None = None, *, hindsight: str = "") -> None:
        """Judges for ``n_runs`` rollouts.

        ``hindsight`` is for benchmarks only and is NOT a valid test: each tick it
        stakes everything when the canary's share turned out above the tolerated
        share ``q`` and nothing otherwise. ``"share"`` multiplies by ``max(1, s/q)``,
        the largest factor any per-tick e-value valid under the share-only null
        can reach; ``"count"`` multiplies by ``burst_cap / q`` whenever ``s > q``,
        the most one tick can give the capped count test (and the share bets).
        Their decision times bound those of the corresponding judges from below.
        """
        self.config = config if config is not None else JudgeConfig()
        if hindsight not in ("", "share", "count"):
            raise ValueError(f"hindsight must be '', 'share' or 'count', got {hindsight!r}")
        self.hindsight = hindsight
        self.n_runs = int(n_runs)
        k = len(self.config.metrics)
        nb = len(self.config.latency_bounds) + 1
        n = self.n_runs
        # one share bet per design ratio, then the count test (see ``log_fail``)
        self.n_share = len(self.config.error_design_ratios)
        self.n_count = len(self.config.error_count_ratios) + 1
        self.n_strategies = self.n_share + self.n_count
        self.log_fail_strategies = np.zeros((n, k, self.n_strategies))
        self.log_pass = np.zeros((n, k))
        self._grid = np.asarray(CS_GRID, dtype=np.float64)
        self.cs_above = np.zeros((n, k, len(CS_GRID)))  # evidence against "ratio <= g"
        self.cs_below = np.zeros((n, k, len(CS_GRID)))  # evidence against "ratio >= g"
        self.sum_xc = np.zeros((n, k))
        self.sum_nc = np.zeros((n, k))
        self.sum_xp = np.zeros((n, k))
        self.sum_np = np.zeros((n, k))
        self.evidence_ticks = np.zeros((n, k))
        self.last_bound = np.full((n, k), np.nan)
        self.last_r0 = np.full((n, k), np.nan)
        self.pooled_hist = np.zeros((n, nb))
        self.pooled_errors = np.zeros(n)
        self.pooled_requests = np.zeros(n)
        self.ticks = np.zeros(n)
        self.failed = np.zeros(n, dtype=bool)
        self.fail_tick = np.zeros(n)
        self._log_threshold = math.log(1.0 / self.config.alpha)
        self._log_weights = np.log(np.asarray(self.config.metric_weights()))
        self._widths = self._tolerance_slopes()
        self._bounds = np.asarray(self.config.latency_bounds, dtype=np.float64)
        self._designs = np.asarray(
            [
                self.config.error_design_ratios if m == "error-rate" else self.config.latency_design_ratios
                for m in self.config.metrics
            ],
            dtype=np.float64,
        )
        self._count_designs = np.asarray(
            [
                self.config.error_count_ratios if m == "error-rate" else self.config.latency_count_ratios
                for m in self.config.metrics
            ],
            dtype=np.float64,
        )
        self._rows = np.arange(self.n_runs)
        metrics = self.config.metrics
        cw = self.config.count_weight
        with np.errstate(divide="ignore"):
            self._log_strategy_weights = np.log(
                np.asarray([(1.0 - cw) / self.n_share] * self.n_share + [cw / self.n_count] * self.n_count)
            )
        # per metric: mix the count test's alternatives within each tick (errors: large effects, few
        # ticks) or across ticks, one strategy per alternative (latency: small effects, many ticks)
        self._mix_within_tick = np.asarray([m in _MIX_WITHIN for m in self.config.metrics])
        # the tail's count test also looks one bucket bound further up (tail regressions are sharper there)
        self._second_bound = np.asarray([m == "latency-tail" for m in self.config.metrics])
        self._rho_max = np.asarray(
            [self.config.error_dispersion if m == "error-rate" else self.config.latency_dispersion for m in metrics],
            dtype=np.float64,
        )
        self._error_col = metrics.index("error-rate") if "error-rate" in metrics else -1
        lat = [(i, 1.0 - (self.config.latency_quantile if m == "latency" else self.config.tail_quantile))
               for i, m in enumerate(metrics) if m != "error-rate"]
        self._latency_cols = np.asarray([i for i, _ in lat], dtype=np.intp)
        self._latency_targets = np.asarray([t for _, t in lat], dtype=np.float64)

    # ------------------------------------------------------------------ public

    def update(
        self,
        canary_requests: FloatArray,
        canary_errors: FloatArray,
        canary_hist: FloatArray | None,
        primary_requests: FloatArray,
        primary_errors: FloatArray,
        primary_hist: FloatArray | None,
    ) -> npt.NDArray[np.int8]:
        """Feed one tick to every run; return each run's outcome (:data:`FAIL`, :data:`PASS`, ...).

        Histograms are ``(n_runs, len(latency_bounds) + 1)`` cumulative counts
        (last column +Inf) or None. Any NaN makes that run's affected metric
        skip this tick.
        """
        with np.errstate(all="ignore"):
            return self._update(canary_requests, canary_errors, canary_hist, primary_requests, primary_errors,
                                primary_hist)

    def _update(
        self,
        canary_requests: FloatArray,
        canary_errors: FloatArray,
        canary_hist: FloatArray | None,
        primary_requests: FloatArray,
        primary_errors: FloatArray,
        primary_hist: FloatArray | None,
    ) -> npt.NDArray[np.int8]:
        n = self.n_runs
        c_req = _as_runs(canary_requests, n)
        c_err = _as_runs(canary_errors, n)
        p_req = _as_runs(primary_requests, n)
        p_err = _as_runs(primary_errors, n)
        self.ticks += 1.0
        cfg = self.config
        hist_ok = np.zeros(n, dtype=bool)
        ch = ph = None
        if canary_hist is not None and primary_hist is not None:
            ch = np.asarray(canary_hist, dtype=np.float64).reshape(n, -1)
            ph = np.asarray(primary_hist, dtype=np.float64).reshape(n, -1)
            hist_ok = np.isfinite(ch.sum(axis=1) + ph.sum(axis=1))
            both = np.where(hist_ok[:, None], ch + ph, 0.0)
            self.pooled_hist += both
        ok_totals = np.isfinite(c_req + p_req + c_err + p_err)
        self.pooled_errors += np.where(ok_totals, np.maximum(c_err, 0) + np.maximum(p_err, 0), 0.0)
        self.pooled_requests += np.where(ok_totals, np.maximum(c_req, 0) + np.maximum(p_req, 0), 0.0)

        k = len(cfg.metrics)
        tick = _Tick(*(np.full((n, k), np.nan) for _ in _TICK_FIELDS))
        if self._error_col >= 0:
            r0 = np.full(n, 1.0 + cfg.error_rate_tolerance_ratio)
            if cfg.error_rate_tolerance_pp > 0.0:
                rate = _safe_div(self.pooled_errors, self.pooled_requests)
                r0 = r0 + _safe_div(np.full(n, cfg.error_rate_tolerance_pp / 100.0), rate, np.inf)
            col = self._error_col
            tick.xc[:, col], tick.nc[:, col], tick.xp[:, col], tick.np_[:, col] = c_err, c_req, p_err, p_req
            tick.r0[:, col] = r0
        if self._latency_cols.size and ch is not None and ph is not None:
            lat = self._latency_ticks(ch, ph, hist_ok, self._latency_targets)
            cols = self._latency_cols
            for name in _TICK_FIELDS:
                getattr(tick, name)[:, cols] = getattr(lat, name)
        self._share_step(tick)

        log_comb = _logsumexp(self.log_fail + self._log_weights, axis=1)
        newly = (~self.failed) & (log_comb >= self._log_threshold)
        self.fail_tick = np.where(newly, self.ticks, self.fail_tick)
        self.failed |= newly
        out = np.where(self.failed, FAIL, INCONCLUSIVE).astype(np.int8)
        if cfg.report_pass:
            passed = np.all(self.log_pass >= self._log_threshold, axis=1) & ~self.failed
            out = np.where(passed, PASS, out).astype(np.int8)
        return out

    @property
    def log_fail(self) -> FloatArray:
        """Natural log of each metric's regression e-value, shape ``(n_runs, n_metrics)``."""
        return _logsumexp(self.log_fail_strategies + self._log_strategy_weights, axis=2)

    def effect_bounds(self, run: int = 0) -> list[tuple[float | None, float | None]]:
        """Per metric: (lower, upper) confidence-sequence bounds on canary rate / primary rate.

        A bound is reported at a grid point only when every grid point beyond it
        (below it for the lower bound, above it for the upper one) is rejected as
        well, so a wrong lower bound needs the test at the first grid point at or
        above the true ratio to reject: probability at most alpha, at every tick
        simultaneously (per metric). None: not yet bounded.
        """
        out: list[tuple[float | None, float | None]] = []
        for k in range(len(self.config.metrics)):
            above = np.cumprod(self.cs_above[run, k] >= self._log_threshold)
            below = np.cumprod((self.cs_below[run, k] >= self._log_threshold)[::-1])
            n_lo, n_hi = int(above.sum()), int(below.sum())
            lower = float(self._grid[n_lo - 1]) if n_lo else None
            upper = float(self._grid[len(self._grid) - n_hi]) if n_hi else None
            out.append((lower, upper))
        return out

    def combined_log_evidence(self) -> FloatArray:
        """Natural log of the alpha-weighted average of the metrics' regression e-values."""
        return _logsumexp(self.log_fail + self._log_weights, axis=1)

    def state(self, run: int = 0) -> dict[str, Any]:
        """JSON-serialisable state of one run: numbers and lists of numbers (NaN as null, infinity as "inf")."""

        def row(a: FloatArray) -> list[float | str | None]:
            return [_r(v) for v in np.asarray(a[run]).tolist()]

        return {
            "v": _STATE_VERSION,
            "metrics": list(self.config.metrics),
            "ticks": _r(float(self.ticks[run])),
            "failed": bool(self.failed[run]),
            "failTick": _r(float(self.fail_tick[run])),
            "logFail": [_r(v) for v in self.log_fail_strategies[run].ravel().tolist()],
            "logPass": row(self.log_pass),
            "csAbove": [_r(v) for v in self.cs_above[run].ravel().tolist()],
            "csBelow": [_r(v) for v in self.cs_below[run].ravel().tolist()],
            "sumCanaryEvents": row(self.sum_xc),
            "sumCanaryRequests": row(self.sum_nc),
            "sumPrimaryEvents": row(self.sum_xp),
            "sumPrimaryRequests": row(self.sum_np),
            "evidenceTicks": row(self.evidence_ticks),
            "lastBound": row(self.last_bound),
            "lastTolerance": row(self.last_r0),
            "pooledHist": row(self.pooled_hist),
            "pooledErrors": _r(float(self.pooled_errors[run])),
            "pooledRequests": _r(float(self.pooled_requests[run])),
        }

    def load_state(self, state: dict[str, Any], run: int = 0) -> None:
        """Restore one run from :meth:`state` output (validated against this config).

        A version-1 state (share bets only, before the count test) is accepted:
        its count test starts afresh at 1 from this tick on. That stays valid:
        the combined evidence at the restart has expectation at most 1 and is a
        supermartingale from there on.
        """
        version = state.get("v")
        if version not in (1, _STATE_VERSION):
            raise ValueError(f"unsupported judge state version {version!r}")
        if list(state.get("metrics", [])) != list(self.config.metrics):
            raise ValueError(
                f"judge state is for metrics {state.get('metrics')}, config judges {list(self.config.metrics)}"
            )
        k = len(self.config.metrics)
        nb = len(self.config.latency_bounds) + 1

        def put(name: str, target: FloatArray, size: int) -> None:
            values = state.get(name)
            if not isinstance(values, list) or len(values) != size:
                raise ValueError(f"judge state field {name!r} must be a list of {size} numbers")
            target[run] = np.asarray([_unr(v) for v in values], dtype=np.float64)

        stored = self.n_strategies if version == _STATE_VERSION else self.n_share
        flat = np.zeros((self.n_runs, k * stored))
        put("logFail", flat, k * stored)
        self.log_fail_strategies[run] = 0.0
        self.log_fail_strategies[run, :, :stored] = flat[run].reshape(k, stored)
        put("logPass", self.log_pass, k)
        g = len(CS_GRID)
        for name, target in (("csAbove", self.cs_above), ("csBelow", self.cs_below)):
            flat = np.zeros((self.n_runs, k * g))
            put(name, flat, k * g)
            target[run] = flat[run].reshape(k, g)
        put("sumCanaryEvents", self.sum_xc, k)
        put("sumCanaryRequests", self.sum_nc, k)
        put("sumPrimaryEvents", self.sum_xp, k)
        put("sumPrimaryRequests", self.sum_np, k)
        put("evidenceTicks", self.evidence_ticks, k)
        put("lastBound", self.last_bound, k)
        put("lastTolerance", self.last_r0, k)
        put("pooledHist", self.pooled_hist, nb)
        self.ticks[run] = _unr(state["ticks"])
        self.failed[run] = bool(state["failed"])
        self.fail_tick[run] = _unr(state["failTick"])
        self.pooled_errors[run] = _unr(state["pooledErrors"])
        self.pooled_requests[run] = _unr(state["pooledRequests"])

    # ----------------------------------------------------------------- private

    def _tolerance_slopes(self) -> FloatArray:
        """Per bound: ``log(bounds[j] / bounds[j-1])``, the width of the bucket below it (log scale)."""
        bounds = np.asarray(self.config.latency_bounds)
        lower = np.concatenate([[bounds[0] / 2.0], bounds[:-1]])
        return np.asarray(np.log(bounds / lower), dtype=np.float64)

    def _latency_ticks(self, ch: FloatArray, ph: FloatArray, ok: npt.NDArray[np.bool_], targets: FloatArray) -> _Tick:
        """Exceedance counts at the bound nearest each target survival; arrays ``(n_runs, len(targets))``."""
        pooled = self.pooled_hist
        total = pooled[:, -1:]
        surv = (total - pooled[:, :-1]) / np.where(total > 0, total, 1.0)
        log_surv = np.log(np.maximum(surv, 0.0))
        dist = np.abs(log_surv[:, None, :] - np.log(targets)[None, :, None])
        dist = np.where(np.isfinite(dist), dist, np.inf)
        j = np.argmin(dist, axis=2)
        usable = ok[:, None] & np.isfinite(np.take_along_axis(dist, j[..., None], axis=2)[..., 0])
        nc = np.broadcast_to(ch[:, -1:], j.shape)
        np_ = np.broadcast_to(ph[:, -1:], j.shape)
        xc, xp, r0 = self._exceedances(ch, ph, j)
        xc2, xp2, r02 = self._exceedances(ch, ph, np.minimum(j + 1, len(self._bounds) - 1))
        # a NaN in r0 disqualifies the run's tick in _share_step
        r0 = np.where(usable, r0, np.nan)
        return _Tick(xc, nc, xp, np_, r0, np.where(usable, self._bounds[j], np.nan), xc2, xp2, r02)

    def _exceedances(self, ch: FloatArray, ph: FloatArray, j: npt.NDArray[np.intp]) -> tuple[FloatArray, ...]:
        """Canary's and primary's requests slower than ``bounds[j]``, and the tolerated ratio R0 there."""
        pooled = self.pooled_hist
        total = pooled[:, -1:]
        rows = self._rows[:, None]
        xc = ch[:, -1:] - ch[rows, j]
        xp = ph[:, -1:] - ph[rows, j]
        # tolerance: how much more of the pooled traffic would be slower than b if every
        # request were (1 + tol) times slower; the survival function is taken as a power
        # law between b's bucket bounds (log-survival linear in log-latency).
        s_b = total - pooled[rows, j]
        s_lo = np.where(j > 0, total - pooled[rows, np.maximum(j - 1, 0)], total)
        slope = np.log(s_lo / np.where(s_b > 0, s_b, np.nan)) / self._widths[j]
        r0 = np.exp(np.maximum(slope, 0.0) * math.log1p(self.config.latency_tolerance))
        return xc, xp, r0

    def _share_step(self, t: _Tick) -> None:
        """One tick of evidence for every metric at once (arrays ``(n_runs, n_metrics)``).

        Regression: share bets (one per design ratio) and the capped count test;
        pass and effect bounds: share bets. See the module docstring of
        :mod:`analysis.sequential` for why each is valid.
        """
        cfg = self.config
        xc = np.maximum(t.xc, 0.0)
        xp = np.maximum(t.xp, 0.0)
        events = xc + xp
        valid = np.isfinite(events + t.nc + t.np_ + t.r0) & (t.nc > 0) & (t.np_ > 0) & (events > 0)
        nc = np.where(valid, t.nc, 1.0)
        np_ = np.where(valid, t.np_, 1.0)
        r0 = np.where(valid, t.r0, 1.0)
        share = np.where(valid, np.minimum(xc / np.where(valid, events, 1.0), 1.0), 0.0)
        q0 = r0 * nc / (r0 * nc + np_)
        # planning: the regression to size the bet for (predictable: past ticks only)
        expected = np.where(self.sum_np > 0, self.sum_nc * self.sum_xp / np.where(self.sum_np > 0, self.sum_np, 1.0), 0.0)
        ratio_hat = (self.sum_xc + 1.0) / (expected + 1.0)
        r1 = np.maximum(r0[..., None] * self._designs, ratio_hat[..., None])
        q1 = r1 * nc[..., None] / (r1 * nc[..., None] + np_[..., None])
        m = np.minimum(np.where(valid, events, 1.0), cfg.bet_cap_events)
        theta1 = np.maximum((q1 - q0[..., None]) / (1.0 - q0[..., None]), 0.0)
        theta = np.minimum(cfg.max_bet, 1.0 - (1.0 - theta1) ** m[..., None])
        x = share / q0
        share_factor = 1.0 + theta * (x - 1.0)[..., None]
        # the count test: alternatives mixed within the tick (the design ratios and the plug-in estimate)
        r1c = np.concatenate(
            [r0[..., None] * self._count_designs, np.maximum(ratio_hat, r0 * self._count_designs[:, 0])[..., None]],
            axis=2,
        )
        q1c = r1c * nc[..., None] / (r1c * nc[..., None] + np_[..., None])
        lr = np.ones_like(q1c)
        if cfg.count_weight > 0 and not self.hindsight:
            m = np.where(valid, events, 1.0)
            if self._second_bound.any():
                # latency tail: also at the next bound up, the two likelihood ratios averaged
                # (evaluated together with the first bound: one call, twice the metric columns)
                k = q0.shape[1]
                x2 = np.maximum(t.xc2, 0.0)
                m2 = x2 + np.maximum(t.xp2, 0.0)
                valid2 = valid & np.isfinite(m2 + t.r02) & (m2 > 0) & self._second_bound[None, :]
                r02 = np.where(valid2, t.r02, 1.0)
                q02 = r02 * nc / (r02 * nc + np_)
                r1c2 = r1c * (r02 / r0)[..., None]
                q1c2 = r1c2 * nc[..., None] / (r1c2 * nc[..., None] + np_[..., None])
                both = self._capped_lr(
                    np.concatenate([xc, np.where(valid2, x2, 0.0)], axis=1),
                    np.concatenate([m, np.where(valid2, m2, 1.0)], axis=1),
                    np.concatenate([q0, q02], axis=1),
                    np.concatenate([q1c, q1c2], axis=1),
                )
                lr = np.where(valid2[..., None], 0.5 * (both[:, :k] + both[:, k:]), both[:, :k])
            else:
                lr = self._capped_lr(xc, m, q0, q1c)
        count_factor = (1.0 - cfg.count_bet) + cfg.count_bet * lr
        fail_factor = np.concatenate([share_factor, count_factor], axis=2)
        if self.hindsight == "share":
            fail_factor = np.broadcast_to(np.maximum(1.0, x)[..., None], fail_factor.shape)
        elif self.hindsight == "count":
            best = np.where(x > 1.0, cfg.burst_cap / q0, 1.0)
            fail_factor = np.broadcast_to(best[..., None], fail_factor.shape)
        # pass: bet that the canary's share stays below the tolerated share q0
        ra = np.minimum(1.0, ratio_hat)
        qa = ra * nc / (ra * nc + np_)
        phi1 = np.maximum((q0 - qa) / q0, 0.0)
        phi = np.minimum(cfg.max_bet, 1.0 - (1.0 - phi1) ** m)
        pass_factor = 1.0 + phi * ((1.0 - share) / (1.0 - q0) - 1.0)
        self.log_fail_strategies += np.where(valid[..., None], np.log(fail_factor), 0.0)
        self.log_pass += np.where(valid, np.log(pass_factor), 0.0)
        # confidence sequence on the ratio itself (no tolerance): the same two bets at each grid ratio
        g = self._grid
        qg = g * nc[..., None] / (g * nc[..., None] + np_[..., None])
        r1 = np.maximum(2.0 * g, ratio_hat[..., None])
        q1 = r1 * nc[..., None] / (r1 * nc[..., None] + np_[..., None])
        mm = m[..., None]
        th = np.minimum(cfg.max_bet, 1.0 - (1.0 - np.maximum((q1 - qg) / (1.0 - qg), 0.0)) ** mm)
        above = 1.0 + th * (share[..., None] / qg - 1.0)
        ra = np.minimum(ratio_hat[..., None], 0.5 * g)
        qa = ra * nc[..., None] / (ra * nc[..., None] + np_[..., None])
        ph = np.minimum(cfg.max_bet, 1.0 - (1.0 - np.maximum((qg - qa) / qg, 0.0)) ** mm)
        below = 1.0 + ph * ((1.0 - share[..., None]) / (1.0 - qg) - 1.0)
        self.cs_above += np.where(valid[..., None], np.log(above), 0.0)
        self.cs_below += np.where(valid[..., None], np.log(below), 0.0)
        # bookkeeping (ticks without events still count requests for the effect estimate)
        seen = np.isfinite(t.nc + t.np_ + t.xc + t.xp) & (t.nc >= 0) & (t.np_ >= 0)
        self.sum_xc += np.where(seen, xc, 0.0)
        self.sum_nc += np.where(seen, np.maximum(t.nc, 0.0), 0.0)
        self.sum_xp += np.where(seen, xp, 0.0)
        self.sum_np += np.where(seen, np.maximum(t.np_, 0.0), 0.0)
        self.evidence_ticks += valid
        self.last_bound = np.where(np.isfinite(t.bound), t.bound, self.last_bound)
        self.last_r0 = np.where(valid, t.r0, self.last_r0)


    def _capped_lr(self, x: FloatArray, m: FloatArray, q0: FloatArray, q1: FloatArray) -> FloatArray:
        """The count test's capped likelihood ratios ``min(LR, burst_cap / q0)``, one per alternative.

        ``LR`` is the beta-binomial likelihood of the canary's ``x`` of the tick's
        ``m`` events at the alternative share ``q1`` (dispersion ``_ALT_RHO`` x the
        bound), over the largest null likelihood: share ``min(x/m, q0)`` (the
        most likely share allowed) and dispersions 0 and ``_NULL_RHO_GRID`` x the
        bound. For metrics mixed within the tick every column holds the mixture.
        Arrays: ``x, m, q0`` are ``(n_runs, n_metrics)`` (or the metric columns
        repeated, to evaluate several bounds at once), ``q1`` and the result
        ``(n_runs, columns, n_alternatives)``.
        """
        cfg = self.config
        x = np.minimum(x, m)
        reps = x.shape[1] // self._rho_max.size  # the metric columns, possibly repeated
        rho = np.tile(self._rho_max, reps)
        mix_cols = np.tile(self._mix_within_tick, reps)
        q_null = np.clip(x / m, 1e-9, q0)
        q1 = np.clip(q1, 1e-9, 1.0 - 1e-9)
        n_grid, n_alt = len(_NULL_RHO_GRID), q1.shape[2]
        shape = (*q1.shape[:2], n_grid + 2 * n_alt)
        # one beta-binomial evaluation for: the null on the dispersion grid, the alternatives at
        # x, and the alternatives at 0 (had the canary got none of the tick's events)
        xs = np.broadcast_to(x[..., None], shape).copy()
        xs[..., n_grid + n_alt:] = 0.0
        mus = np.concatenate([np.broadcast_to(q_null[..., None], (*q1.shape[:2], n_grid)), q1, q1], axis=2)
        rhos = np.concatenate(
            [np.asarray(_NULL_RHO_GRID)[None, :] * rho[:, None], np.broadcast_to((_ALT_RHO * rho)[:, None],
                                                                                (rho.size, 2 * n_alt))],
            axis=1,
        )[None, ...]
        ll = _log_bb(xs, m[..., None], mus, rhos)
        null = np.maximum(np.max(ll[..., :n_grid], axis=2), x * np.log(q_null) + (m - x) * np.log1p(-q_null))
        log_lr = ll[..., n_grid:n_grid + n_alt] - null[..., None]
        log_lr0 = ll[..., n_grid + n_alt:]  # the null likelihood of no canary events is 1
        mix = mix_cols[None, :, None]
        log_n = math.log(n_alt)
        log_lr = np.where(mix, _logsumexp(log_lr, axis=2)[..., None] - log_n, log_lr)
        lr0 = np.exp(np.where(mix, _logsumexp(log_lr0, axis=2)[..., None] - log_n, log_lr0))
        # cap: a burst carrying all m events lands on the canary with probability q0, so
        # q0 f(m) + (1 - q0) f(0) <= 1 must hold: min(LR, cap) with this cap keeps it
        cap = cfg.burst_cap * (1.0 - (1.0 - q0[..., None]) * np.minimum(lr0, 1.0)) / q0[..., None]
        return np.asarray(np.minimum(np.exp(np.minimum(log_lr, 700.0)), cap), dtype=np.float64)


def _log_bb(x: FloatArray, m: FloatArray, mu: FloatArray, rho: FloatArray) -> FloatArray:
    """Beta-binomial log-likelihood of ``x`` successes in ``m`` (mean ``mu``, intra-class correlation ``rho``).

    Without the binomial coefficient (it cancels in likelihood ratios); real
    ``x`` and ``m`` are accepted. ``rho == 0`` is the binomial.
    """
    positive = rho > 1e-9
    binom = x * np.log(mu) + (m - x) * np.log1p(-mu)
    if not np.any(positive):
        return np.asarray(binom, dtype=np.float64)
    rho_safe = np.where(positive, rho, 0.5)
    scale = (1.0 - rho_safe) / rho_safe
    a = mu * scale
    b = (1.0 - mu) * scale
    return np.asarray(np.where(positive, betaln(x + a, m - x + b) - betaln(a, b), binom), dtype=np.float64)


def _as_runs(x: FloatArray | float | Sequence[float], n: int) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr.reshape(n)


def _safe_div(a: FloatArray, b: FloatArray, fill: float = 0.0) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1.0), fill)
    return np.asarray(out, dtype=np.float64)


def _logsumexp(a: FloatArray, axis: int) -> FloatArray:
    top = np.max(a, axis=axis, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return np.asarray(np.log(np.sum(np.exp(a - top), axis=axis)) + np.squeeze(top, axis=axis), dtype=np.float64)


def _r(v: float) -> float | str | None:
    """JSON-safe float: NaN becomes None, infinities become strings."""
    if math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


def _unr(v: Any) -> float:
    """Inverse of :func:`_r`."""
    if v is None:
        return math.nan
    if isinstance(v, bool) or not isinstance(v, int | float | str):
        raise ValueError(f"judge state holds a non-number: {v!r}")
    return float(v)
