"""The vectorised core of the sequential judge: many independent rollouts at once.

:class:`BatchJudge` holds the state of ``n_runs`` independent judges in numpy
arrays and advances all of them by one tick per :meth:`BatchJudge.update`.
:class:`analysis.SequentialJudge` is a ``BatchJudge`` of one run; the benchmark
drives thousands of simulated rollouts through the very same arithmetic.
It keeps the evidence and runs the share bets; the count tests are
:class:`analysis.counts.ErrorCountTest` (errors) and
:class:`analysis.histogram.HistogramTests` (latency), and what is judged how
strictly is :class:`analysis.config.JudgeConfig`.

See :mod:`analysis.sequential` for the statistical argument.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from analysis.config import JudgeConfig
from analysis.counts import ErrorCountTest
from analysis.histogram import HistogramTests, logsumexp

__all__ = ["CS_GRID", "FAIL", "INCONCLUSIVE", "PASS", "BatchJudge"]

FloatArray = npt.NDArray[np.float64]

INCONCLUSIVE: Final = 0
PASS: Final = 1
FAIL: Final = 2

_STATE_VERSION: Final = 2

#: Ratios (canary rate / primary rate) at which the confidence sequence on the
#: effect is evaluated: the reported bounds are the tightest grid points.
CS_GRID: Final = (0.5, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0, 5.0, 10.0, 20.0)


@dataclass
class _Tick:
    """Per-metric inputs of one tick (arrays over runs)."""

    xc: FloatArray
    nc: FloatArray
    xp: FloatArray
    np_: FloatArray
    r0: FloatArray
    bound: FloatArray = field(default_factory=lambda: np.zeros(0))


_TICK_FIELDS = ("xc", "nc", "xp", "np_", "r0", "bound")


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
        #: natural log of each metric's regression e-value, the weighted average of its strategies'
        #: (kept up to date by update and load_state)
        self.log_fail = np.zeros((n, k))
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
        self._rows = np.arange(self.n_runs)
        # work arrays of the share bets, reused every tick (see _share_step)
        g = self._grid.size
        n_design = self._designs.shape[1]
        self._ratio_buffer = np.zeros((n, k, 2 * (n_design + g)))
        self._ratio_buffer[..., n_design:n_design + g] = self._grid
        self._double_grid = 2.0 * self._grid
        self._half_grid = 0.5 * self._grid
        self._pass_ratio_buffer = np.zeros((n, k, 1 + g))
        self._pass_null_buffer = np.zeros((n, k, 1 + g))
        self._fail_factor_buffer = np.zeros((n, k, self.n_strategies))
        self._error_count_ratios = np.asarray(self.config.error_count_ratios, dtype=np.float64)
        self._count_ratio_buffer = np.zeros((n, self.n_count))
        self._error_count_test = ErrorCountTest(n, self.n_count, self.config.error_dispersion, self.config.burst_cap)
        metrics = self.config.metrics
        cw = self.config.count_weight
        # each metric's evidence: the share bets' average and the count test's weighted average
        # of its strategies (equal, except the latency shifts' own weights)
        weights = np.concatenate([np.full((k, self.n_share), (1.0 - cw) / self.n_share),
                                  np.full((k, self.n_count), cw / self.n_count)], axis=1)
        if "latency" in metrics:
            shift = np.asarray(self.config.latency_shift_weights)
            weights[metrics.index("latency"), self.n_share:] = cw * shift / shift.sum()
        with np.errstate(divide="ignore"):
            self._log_strategy_weights = np.log(weights)
        self._error_col = metrics.index("error-rate") if "error-rate" in metrics else -1
        # the latency metrics' count tests look at the whole histogram: a shift of the body
        # ("latency") or a share of requests made much slower ("latency-tail"); one plan for both
        cfg = self.config
        tests = [
            (metrics.index(m), alts)
            for m, alts in (
                ("latency", [(f, 0.0, f) for f in cfg.latency_shift_factors]),
                ("latency-tail", [(1.0, eps, slow) for eps, slow in cfg.latency_tail_alternatives]),
            )
            if m in metrics
        ]
        self._histogram_cols = np.asarray([col for col, _ in tests], dtype=np.intp)
        # (one finite bound has no shape to shift: no histogram evidence)
        usable = tests and len(cfg.latency_bounds) >= 2
        self._histogram_tests = HistogramTests(
            n, cfg.latency_bounds, cfg.latency_tolerance, cfg.latency_jitter, cfg.burst_cap,
            [a for _, alts in tests for a in alts],
        ) if usable else None
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
        tick = _Tick(*np.full((len(_TICK_FIELDS), n, k), np.nan))
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
        histogram = self._histogram_tests
        if histogram is not None and ch is not None and ph is not None and cfg.count_weight > 0 and not self.hindsight:
            lr, valid = histogram.likelihood_ratios(self.pooled_hist, ch, ph, hist_ok)
            factor = (1.0 - cfg.count_bet) + cfg.count_bet * lr.reshape(n, len(self._histogram_cols), self.n_count)
            self.log_fail_strategies[:, self._histogram_cols, self.n_share:] += np.where(
                valid[:, None, None], np.log(factor), 0.0
            )

        self.log_fail = logsumexp(self.log_fail_strategies + self._log_strategy_weights, axis=2)
        log_comb = logsumexp(self.log_fail + self._log_weights, axis=1)
        newly = (~self.failed) & (log_comb >= self._log_threshold)
        self.fail_tick = np.where(newly, self.ticks, self.fail_tick)
        self.failed |= newly
        out = np.where(self.failed, FAIL, INCONCLUSIVE).astype(np.int8)
        if cfg.report_pass:
            passed = np.all(self.log_pass >= self._log_threshold, axis=1) & ~self.failed
            out = np.where(passed, PASS, out).astype(np.int8)
        return out

    def effect_bounds(self, run: int = 0) -> list[tuple[float | None, float | None]]:
        """Per metric: (lower, upper) confidence-sequence bounds on canary rate / primary rate.

        A bound is reported at a grid point only when every grid point beyond it
        (below it for the lower bound, above it for the upper one) is rejected as
        well, so a wrong lower bound needs the test at the first grid point at or
        above the true ratio to reject: probability at most alpha, at every tick
        simultaneously (per metric). None: not yet bounded.
        """
        threshold = self._log_threshold
        out: list[tuple[float | None, float | None]] = []
        for above, below in zip(self.cs_above[run].tolist(), self.cs_below[run].tolist(), strict=True):
            # the last grid point of the rejected run from the bottom, the first of the one from the top
            lower = upper = None
            for g, e in zip(CS_GRID, above, strict=True):
                if not e >= threshold:  # (NaN, from a restored state without a value, is not a rejection)
                    break
                lower = g
            for g, e in zip(reversed(CS_GRID), reversed(below), strict=True):
                if not e >= threshold:
                    break
                upper = g
            out.append((lower, upper))
        return out

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
        if not isinstance(state, dict):
            raise ValueError(f"judge state must be an object, got {type(state).__name__}")
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
        self.log_fail[run] = logsumexp(self.log_fail_strategies[run] + self._log_strategy_weights, axis=1)
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
        usable = ok[:, None] & np.isfinite(dist[self._rows[:, None], np.arange(len(targets))[None, :], j])
        xc, xp, r0 = self._exceedances(ch, ph, j)
        # a NaN in r0 disqualifies the run's tick in _share_step
        r0 = np.where(usable, r0, np.nan)
        # (every metric's requests are the tick's: one column, broadcast where it is stored)
        return _Tick(xc, ch[:, -1:], xp, ph[:, -1:], r0, np.where(usable, self._bounds[j], np.nan))

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
        mm = np.minimum(np.where(valid, events, 1.0), cfg.bet_cap_events)[..., None]
        # bets that the canary's share exceeds the share q at a ratio: the share bets (at R0, sized for
        # each design ratio) and the confidence sequence's (at each grid ratio, no tolerance), at once.
        # Ratios, null then alternative: R0 per design, the grid (fixed), max(R0 x design, estimate),
        # max(2 x grid, estimate)
        n_design = self._designs.shape[1]
        width = n_design + self._grid.size
        rh = ratio_hat[..., None]
        ratios = self._ratio_buffer
        ratios[..., :n_design] = r0[..., None]
        np.maximum(r0[..., None] * self._designs, rh, out=ratios[..., width:width + n_design])
        np.maximum(self._double_grid, rh, out=ratios[..., width + n_design:])
        scaled = ratios * nc[..., None]
        qs = scaled / (scaled + np_[..., None])
        q_null, q_alt = qs[..., :width], qs[..., width:]
        theta = np.minimum(cfg.max_bet, 1.0 - (1.0 - np.maximum((q_alt - q_null) / (1.0 - q_null), 0.0)) ** mm)
        up = 1.0 + theta * (share[..., None] / q_null - 1.0)
        share_factor, above = up[..., :n_design], up[..., n_design:]
        fail_factor = self._fail_factor_buffer
        fail_factor[..., :n_design] = share_factor
        fail_factor[..., n_design:] = 1.0
        # the error rate's count test (the latency metrics' are the histogram tests): the design
        # ratios and the plug-in estimate, mixed within the tick
        col = self._error_col
        if col >= 0 and cfg.count_weight > 0 and not self.hindsight:
            r1c = self._count_ratio_buffer
            np.multiply(r0[:, col, None], self._error_count_ratios, out=r1c[:, :-1])
            np.maximum(ratio_hat[:, col], r1c[:, 0], out=r1c[:, -1])
            scaled_c = r1c * nc[:, col, None]
            q1c = scaled_c / (scaled_c + np_[:, col, None])
            m_col = np.where(valid[:, col], events[:, col], 1.0)
            lr = self._error_count_test.capped_lr(xc[:, col], m_col, q0[:, col], q1c)
            fail_factor[:, col, n_design:] = ((1.0 - cfg.count_bet) + cfg.count_bet * lr)[:, None]
        if self.hindsight == "share":
            fail_factor[...] = np.maximum(1.0, share / q0)[..., None]
        elif self.hindsight == "count":
            fail_factor[...] = np.where(share / q0 > 1.0, cfg.burst_cap / q0, 1.0)[..., None]
        # bets that the canary's share stays below q: "pass" (at R0) and the confidence sequence's
        # (at each grid ratio), at once
        ra = self._pass_ratio_buffer
        np.minimum(1.0, rh, out=ra[..., :1])
        np.minimum(rh, self._half_grid, out=ra[..., 1:])
        scaled = ra * nc[..., None]
        qa = scaled / (scaled + np_[..., None])
        qn = self._pass_null_buffer
        qn[..., 0] = q0
        qn[..., 1:] = q_null[..., n_design:]
        phi = np.minimum(cfg.max_bet, 1.0 - (1.0 - np.maximum((qn - qa) / qn, 0.0)) ** mm)
        down = np.log(1.0 + phi * ((1.0 - share[..., None]) / (1.0 - qn) - 1.0))
        invalid = ~valid
        log_fail = np.log(fail_factor)
        log_fail[invalid] = 0.0
        self.log_fail_strategies += log_fail
        down[invalid] = 0.0
        self.log_pass += down[..., 0]
        self.cs_below += down[..., 1:]
        log_above = np.log(above)
        log_above[invalid] = 0.0
        self.cs_above += log_above
        # bookkeeping (ticks without events still count requests for the effect estimate)
        seen = np.isfinite(t.nc + t.np_ + t.xc + t.xp) & (t.nc >= 0) & (t.np_ >= 0)
        self.sum_xc += np.where(seen, xc, 0.0)
        self.sum_nc += np.where(seen, np.maximum(t.nc, 0.0), 0.0)
        self.sum_xp += np.where(seen, xp, 0.0)
        self.sum_np += np.where(seen, np.maximum(t.np_, 0.0), 0.0)
        self.evidence_ticks += valid
        self.last_bound = np.where(np.isfinite(t.bound), t.bound, self.last_bound)
        self.last_r0 = np.where(valid, t.r0, self.last_r0)


def _as_runs(x: FloatArray | float | Sequence[float], n: int) -> FloatArray:
    arr = np.asarray(x, dtype=np.float64)
    return np.broadcast_to(arr, (n,)) if arr.ndim == 0 else arr.reshape(n)


def _safe_div(a: FloatArray, b: FloatArray, fill: float = 0.0) -> FloatArray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1.0), fill)
    return np.asarray(out, dtype=np.float64)


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
