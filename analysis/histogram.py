"""The latency metrics' count tests: likelihood ratios over every bucket of a tick's histograms.

Model (H) and why the tests are valid are in the docstring of
:mod:`analysis.sequential`. :class:`HistogramTests` evaluates, for many runs
at once, the capped likelihood ratio of each alternative (a slower body, or a
share of much slower requests) against the null (the canary slower by the
tolerance, plus per-minute jitter) for one tick; :class:`analysis.engine.BatchJudge`
turns them into evidence.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt
from numpy.polynomial.hermite_e import hermegauss
from scipy.special import ndtr, ndtri

__all__ = ["HistogramTests", "bucket_log_likelihood", "logsumexp"]

FloatArray = npt.NDArray[np.float64]

#: Gauss-Hermite nodes over the tick's jitter, for the null (adaptive: centred where the
#: integrand peaks) and for the alternatives (fixed: a mixture fixed before the tick).
_JITTER_NODES: Final = 5
_JITTER_ALT_NODES: Final = 5
#: Points (over +-3 jitter standard deviations) on which the null's likelihood is first scanned
#: to find where its jitter integral concentrates.
_JITTER_SCAN: Final = 7
#: Offsets of the scan point before, at and after the best one.
_NEIGHBOURS: Final = np.asarray([-1, 0, 1])


def logsumexp(a: FloatArray, axis: int) -> FloatArray:
    """``log(sum(exp(a), axis))`` without overflow (an all ``-inf`` slice gives ``-inf``)."""
    # (an infinite maximum is clamped to a finite one: -inf stays -inf, +inf stays +inf)
    top = np.minimum(np.maximum(a.max(axis=axis, keepdims=True), -1e300), 1e300)
    out: FloatArray = np.log(np.exp(a - top).sum(axis=axis)) + top.squeeze(axis=axis)
    return out


def bucket_log_likelihood(p: FloatArray, p_0: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray) -> FloatArray:
    """Log-likelihood of the canary's bucket counts for each row of bucket probabilities, up to a constant.

    ``p`` is ``(runs, rows, buckets)``: the canary's latency distribution per
    row; ``p_0`` the pooled one, ``x`` / ``m`` the canary's and the pooled
    counts per bucket, ``w`` the canary's share of the tick's requests. Each
    request of bucket k is the canary's with probability ``q_k = w r_k / (w r_k +
    1 - w)``, ``r_k = p_k / p0_k``: the binomial log-likelihood is ``sum_k x_k
    log r_k - m_k log(1 + w (r_k - 1))`` plus terms without ``p``, i.e. ``sum_k
    x_k log p_k - m_k log((1 - w) p0_k + w p_k)`` plus others. A bucket without
    pooled mass has ``m_k = 0``.
    """
    p = np.maximum(p, 1e-300)
    mixed = p * w[:, None, None]
    mixed += ((1.0 - w)[:, None] * p_0)[:, None, :]
    np.log(p, out=p)
    np.log(mixed, out=mixed)
    ll: FloatArray = (p @ x[:, :, None] - mixed @ m[:, :, None])[..., 0]
    return ll


class _ShiftPlan:
    """Where the histogram tests evaluate the pooled latency distribution, fixed by the configuration.

    The tests compare the canary's latency distribution with the pooled one
    shifted by ``delta`` in log latency. The null is the shift at the tolerance
    ``d0 = log(1 + latency_tolerance)`` integrated over the jitter at its bound
    ``tau`` (or, without a jitter allowance, the shift ``d0`` itself). Each
    alternative is a mixture: ``1 - eps`` of the requests shifted by ``d0 +
    log(factor)``, ``eps`` by ``d0 + log(slow)`` (``eps = 0``: a pure shift),
    averaged over the same jitter ``tau``. The shifts that do not depend on the data
    (the null without jitter, the scan of the jitter, the alternatives) are
    rows of one matrix product (:attr:`interpolation`) of the pooled survival's
    probits at the bounds.
    """

    def __init__(
        self, bounds: Sequence[float], tolerance: float, jitter: float,
        alternatives: Sequence[tuple[float, float, float]],
    ) -> None:
        self.knots = np.log(np.asarray(bounds, dtype=np.float64))
        self._inverse_gaps = 1.0 / np.diff(self.knots)
        self.tau = tau = math.sqrt(2.0) * jitter  # the canary's jitter relative to the primary's
        self.d0 = d0 = math.log1p(tolerance)
        self.scan = np.linspace(-3.0, 3.0, _JITTER_SCAN) * tau
        null_nodes, null_weights = hermegauss(_JITTER_NODES)
        alt_nodes, alt_weights = hermegauss(_JITTER_ALT_NODES)
        self.null_nodes = null_nodes
        # constants of the jitter integral: the scan's log prior density, the trapezoid's step and
        # scale, and the nodes' weights with the standard normal density they stand in for
        self.step = float(self.scan[1] - self.scan[0])
        with np.errstate(divide="ignore", invalid="ignore"):  # no jitter: these are never used
            self.scan_log_prior = 0.5 * (self.scan / tau) ** 2
            self.trapezoid_log_scale = float(np.log(np.float64(self.step) / (tau * math.sqrt(2.0 * math.pi))))
        self.null_log_terms = np.log(null_weights / null_weights.sum()) + 0.5 * null_nodes**2
        self.alt_log_weights = np.log(alt_weights / alt_weights.sum())
        # rows: the null without jitter, the scan, then each distinct shift the alternatives use
        # (a body shift, or a slow share's) at every alternative node
        rows = [np.asarray([d0]), d0 + self.scan]
        self.n_null = 1 + self.scan.size
        start: dict[float, int] = {}

        def shift_rows(factor: float) -> npt.NDArray[np.intp]:
            if factor not in start:
                start[factor] = sum(len(r) for r in rows)
                rows.append(d0 + math.log(factor) + tau * alt_nodes)
            return np.arange(start[factor], start[factor] + _JITTER_ALT_NODES)

        self.n_alt = len(alternatives)
        main = np.concatenate([shift_rows(f) for f, _, _ in alternatives])
        # an alternative without a slow share mixes its body with itself
        slow = np.concatenate([shift_rows(sl if e > 0 else f) for f, e, sl in alternatives])
        deltas = np.concatenate(rows)
        eps = np.repeat(np.asarray([e for _, e, _ in alternatives], dtype=np.float64), _JITTER_ALT_NODES)
        self.n_rows = len(deltas)
        # the rows of one likelihood evaluation: the null's as they are, then each alternative's body
        # row with a share eps of its slow row mixed in (eps = 0 for a pure shift)
        nulls = np.arange(self.n_null)
        self.body_rows = np.concatenate([nulls, main])
        self.slow_rows = np.concatenate([nulls, slow])
        self.slow_shares = np.concatenate([np.zeros(self.n_null), eps])[:, None]
        index, frac = self.locate(self.knots[None, :] - deltas[:, None])
        interpolation = np.zeros((len(self.knots), index.size))
        columns = np.arange(index.size)
        np.add.at(interpolation, (index.ravel(), columns), 1.0 - frac.ravel())
        np.add.at(interpolation, (index.ravel() + 1, columns), frac.ravel())
        self.interpolation = interpolation

    def locate(self, points: FloatArray) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """For log latencies: the segment between bounds they fall in and where (beyond the ends: extrapolated).

        The pooled survival's probit is taken linear in log latency between
        bounds and beyond the outer ones (exact for a log-normal latency).
        """
        index = np.searchsorted(self.knots, points, side="right")
        index = np.minimum(np.maximum(index - 1, 0), len(self.knots) - 2)
        return index, (points - self.knots[index]) * self._inverse_gaps[index]


class HistogramTests:
    """The histogram tests of ``n_runs`` runs: one plan of shifts, evaluated on each tick's histograms.

    ``alternatives`` are ``(factor, eps, slow)``: ``1 - eps`` of the requests
    ``factor`` times slower than the tolerance allows, ``eps`` of them ``slow``
    times. :meth:`likelihood_ratios` returns one capped ratio per alternative.
    """

    def __init__(
        self, n_runs: int, bounds: Sequence[float], tolerance: float, jitter: float, burst_cap: float,
        alternatives: Sequence[tuple[float, float, float]],
    ) -> None:
        self.n_runs = n_runs
        self.burst_cap = burst_cap
        self.plan = _ShiftPlan(bounds, tolerance, jitter, alternatives)
        # bucket edges of the survival function for every row: 1 below the first bound, 0 above the last
        self._edges = np.zeros((n_runs, self.plan.n_rows, len(bounds) + 2))
        self._edges[..., 0] = 1.0
        self._edges0 = np.zeros((n_runs, len(bounds) + 2))
        self._edges0[:, 0] = 1.0
        self._null_edges = np.zeros((n_runs, _JITTER_NODES, len(bounds) + 2))
        self._null_edges[..., 0] = 1.0
        # where each run's probits start in the flattened (runs, bounds) array
        self._run_index = np.arange(n_runs)[:, None]
        self._probit_offsets = (np.arange(n_runs) * len(bounds))[:, None, None]

    def likelihood_ratios(
        self, pooled: FloatArray, ch: FloatArray, ph: FloatArray, ok: npt.NDArray[np.bool_]
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """The latency shift test's capped likelihood ratios, ``(n_runs, alternatives)``, and which runs count.

        Model (H), given the past and the tick's pooled histogram: each request
        of a bucket is the canary's independently, with probability
        ``q_k = w r_k / (w r_k + 1 - w)``, ``w`` the canary's share of the
        tick's requests and ``r_k`` the ratio of the bucket's probability under
        the canary's latency distribution to its probability under the pooled
        one; the canary's distribution is the pooled one shifted by ``delta +
        e`` in log latency, ``e`` the tick's jitter (normal, standard deviation
        at most ``tau = sqrt(2) x latency_jitter``). The pooled survival
        between bucket bounds is interpolated linearly in probit against log
        latency. Null: ``delta`` = the tolerance; alternatives: the shifts and
        slow shares beyond it; both integrated over the jitter at ``tau``.
        Capped at ``burst_cap / w``, what a tick whose every slow request
        landed on the canary may earn.
        """
        plan = self.plan
        n = self.n_runs
        total = pooled[:, -1:]
        floor = 0.5 / np.maximum(total, 1.0)
        surv = np.minimum(np.maximum(1.0 - pooled[:, :-1] / np.where(total > 0, total, 1.0), floor), 1.0 - floor)
        probit = ndtri(surv)
        # bucket probabilities: differences of the survival function (1 below every bound, 0 above)
        edges = self._edges
        edges[..., 1:-1] = ndtr(probit @ plan.interpolation).reshape(n, plan.n_rows, -1)
        p_d = edges[..., :-1] - edges[..., 1:]
        edges0 = self._edges0
        edges0[:, 1:-1] = surv
        p_0 = edges0[:, :-1] - edges0[:, 1:]
        nc, np_ = ch[:, -1], ph[:, -1]
        x = _bucket_counts(ch)
        m = np.maximum(x + _bucket_counts(ph), x)
        valid = ok & np.isfinite(nc + np_ + m.sum(axis=1)) & (nc > 0) & (np_ > 0)
        x[~valid] = 0.0
        m[~valid] = 0.0
        w = np.where(valid, nc / np.where(valid, nc + np_, 1.0), 0.5)
        # the null's rows as they are; an alternative's body row, with a share eps of its slow row
        # mixed in (a pure shift has eps = 0): one likelihood evaluation for all of them
        body = p_d[:, plan.body_rows]
        ll = bucket_log_likelihood(body + plan.slow_shares * (p_d[:, plan.slow_rows] - body), p_0, x, m, w)
        null = ll[:, 0]
        if plan.tau > 0:  # (latency_jitter = 0: the null is the shift d0 itself)
            null = self._jitter_integral(ll[:, 1:plan.n_null], probit, p_0, x, m, w)
        alts = ll[:, plan.n_null:].reshape(n, plan.n_alt, _JITTER_ALT_NODES)
        log_lr = logsumexp(alts + plan.alt_log_weights, axis=2) - null[:, None]
        cap = self.burst_cap / w[:, None]
        lr = np.minimum(np.exp(np.minimum(log_lr, 700.0)), cap)
        return np.asarray(np.where(np.isfinite(lr), lr, 1.0), dtype=np.float64), valid

    def _jitter_integral(
        self, scanned: FloatArray, probit: FloatArray, p_0: FloatArray, x: FloatArray,
        m: FloatArray, w: FloatArray,
    ) -> FloatArray:
        """Log of the null's likelihood integrated over the jitter at its bound, per run.

        ``integral of L(d0 + e) N(e; 0, tau^2) de`` by adaptive Gauss-Hermite
        quadrature: the scan (``scanned``: log L on :attr:`_ShiftPlan.scan`)
        locates the integrand's peak and its width (a parabola through the best
        scan point and its neighbours: log L is close to quadratic in the shift
        however many requests the tick holds), and the nodes are placed there;
        the trapezoid sum over the scan is the fallback, and the larger of the
        two is kept (a larger null likelihood is the safe side). Fixed nodes
        would miss the peak of a tick with many requests, whose likelihood is
        far narrower than the jitter.
        """
        plan = self.plan
        points = plan.scan.size
        tau, step = plan.tau, plan.step
        g = scanned - plan.scan_log_prior
        trapezoid = logsumexp(g, axis=1) + plan.trapezoid_log_scale
        best = np.minimum(np.maximum(np.argmax(g, axis=1), 1), points - 2)
        g_lo, g_mid, g_hi = g[self._run_index, best[:, None] + _NEIGHBOURS].T
        curvature = (g_lo - 2.0 * g_mid + g_hi) / step**2  # second derivative, < 0 at a peak
        peaked = curvature < 0
        curvature = np.where(peaked, curvature, -1.0)
        width = np.where(peaked, 1.0 / np.sqrt(-curvature), step)
        width = np.minimum(np.maximum(width, 1e-6), tau)
        shift = np.where(peaked, (g_hi - g_lo) / (-2.0 * step * curvature), 0.0)
        # (the vertex may lie beyond the scan's ends: a jitter over 3 standard deviations)
        peak = plan.scan[best] + np.minimum(np.maximum(shift, -2.0 * step), 2.0 * step)
        nodes = peak[:, None] + width[:, None] * plan.null_nodes  # (runs, nodes)
        index, frac = plan.locate(plan.knots - (plan.d0 + nodes)[..., None])
        index += self._probit_offsets
        flat = probit.ravel()
        edges = self._null_edges
        edges[..., 1:-1] = ndtr(flat[index] * (1.0 - frac) + flat[index + 1] * frac)
        p_d = edges[..., :-1] - edges[..., 1:]
        h = bucket_log_likelihood(p_d, p_0, x, m, w) - 0.5 * (nodes / tau) ** 2 + plan.null_log_terms
        adaptive = logsumexp(h, axis=1) + np.log(width / tau)
        return np.asarray(np.maximum(adaptive, trapezoid), dtype=np.float64)


def _bucket_counts(cumulative: FloatArray) -> FloatArray:
    """Per-bucket counts (never negative) from cumulative ones, row by row; a new array."""
    out = cumulative.copy()
    out[:, 1:] -= cumulative[:, :-1]
    return np.maximum(out, 0.0, out=out)
