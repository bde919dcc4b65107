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

#: Gauss-Hermite nodes over the tick's
#: jitter for the null (adaptive: centred where the integrand peaks) and for the alternatives
#: (fixed; any mixture is a valid alternative, fewer nodes only change how well it is
#: approximated), fractions of the jitter bound at which the null is evaluated besides 0, and
#: the fraction the alternatives assume.
_JITTER_NODES: Final = 5
_JITTER_ALT_NODES: Final = 3
_JITTER_NULL_GRID: Final = (0.5, 1.0)
_JITTER_ALT: Final = 0.5
#: Points (over +-3 jitter standard deviations) on which the null's likelihood is first scanned
#: to find where its jitter integral concentrates.
_JITTER_SCAN: Final = 7


def logsumexp(a: FloatArray, axis: int) -> FloatArray:
    """``log(sum(exp(a), axis))`` without overflow (an all ``-inf`` slice gives ``-inf``)."""
    top = a.max(axis=axis, keepdims=True)
    top[~np.isfinite(top)] = 0.0
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
    ll: FloatArray = np.einsum("nk,nrk->nr", x, p) - np.einsum("nk,nrk->nr", m, mixed)
    return ll


class _ShiftPlan:
    """Where the histogram tests evaluate the pooled latency distribution, fixed by the configuration.

    The tests compare the canary's latency distribution with the pooled one
    shifted by ``delta`` in log latency. The null is the shift at the tolerance
    ``d0 = log(1 + latency_tolerance)``, without jitter and integrated over the
    jitter at each fraction of :data:`_JITTER_NULL_GRID`. Each alternative is a
    mixture: ``1 - eps`` of the requests shifted by ``d0 + log(factor)``,
    ``eps`` by ``d0 + log(slow)`` (``eps = 0``: a pure shift), averaged over
    :data:`_JITTER_ALT` x the jitter. The shifts that do not depend on the data
    (the null without jitter, the scan of the jitter, the alternatives) are
    rows of one matrix product (:attr:`interpolation`) of the pooled survival's
    probits at the bounds.
    """

    def __init__(
        self, bounds: Sequence[float], tolerance: float, jitter: float,
        alternatives: Sequence[tuple[float, float, float]],
    ) -> None:
        self.knots = np.log(np.asarray(bounds, dtype=np.float64))
        tau = math.sqrt(2.0) * jitter  # the canary's jitter relative to the primary's
        self.d0 = d0 = math.log1p(tolerance)
        self.taus = np.asarray([g * tau for g in _JITTER_NULL_GRID])
        self.scan = np.linspace(-3.0, 3.0, _JITTER_SCAN)[None, :] * self.taus[:, None]  # (levels, scan)
        null_nodes, null_weights = hermegauss(_JITTER_NODES)
        alt_nodes, alt_weights = hermegauss(_JITTER_ALT_NODES)
        self.null_nodes = null_nodes
        self.null_log_weights = np.log(null_weights / null_weights.sum())
        self.alt_log_weights = np.log(alt_weights / alt_weights.sum())
        # rows: the null without jitter, the scans, then each distinct shift the alternatives use
        # (a body shift, or a slow share's) at every alternative node
        rows = [np.asarray([d0]), d0 + self.scan.ravel()]
        self.n_null = 1 + self.scan.size
        start: dict[float, int] = {}

        def shift_rows(factor: float) -> npt.NDArray[np.intp]:
            if factor not in start:
                start[factor] = sum(len(r) for r in rows)
                rows.append(d0 + math.log(factor) + _JITTER_ALT * tau * alt_nodes)
            return np.arange(start[factor], start[factor] + _JITTER_ALT_NODES)

        self.n_alt = len(alternatives)
        self.main = np.concatenate([shift_rows(f) for f, _, _ in alternatives])
        # an alternative without a slow share mixes its body with itself
        self.slow = np.concatenate([shift_rows(sl if e > 0 else f) for f, e, sl in alternatives])
        deltas = np.concatenate(rows)
        self.eps = np.repeat(np.asarray([e for _, e, _ in alternatives], dtype=np.float64), _JITTER_ALT_NODES)
        self.n_rows = len(deltas)
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
        knots = self.knots
        index = np.clip(np.searchsorted(knots, points, side="right") - 1, 0, len(knots) - 2)
        return index, (points - knots[index]) / (knots[index + 1] - knots[index])


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

    def likelihood_ratios(
        self, pooled: FloatArray, ch: FloatArray, ph: FloatArray, ok: npt.NDArray[np.bool_]
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """The latency shift test's capped likelihood ratios, ``(n_runs, alternatives)``, and which runs count.

        Model (J), given the past and the tick's pooled histogram: each request
        of a bucket is the canary's independently, with probability
        ``q_k = w r_k / (w r_k + 1 - w)``, ``w`` the canary's share of the
        tick's requests and ``r_k`` the ratio of the bucket's probability under
        the canary's latency distribution to its probability under the pooled
        one; the canary's distribution is the pooled one shifted by ``delta +
        e`` in log latency, ``e`` the tick's jitter (normal, standard deviation
        at most ``sqrt(2) x latency_jitter``). The pooled distribution between
        bucket bounds is taken log-linear in survival against log latency (the
        same interpolation as the tolerance). Null: ``delta`` = the tolerance,
        likelihood maximised over no jitter and the jitter grid; alternatives:
        the shift factors beyond it. Capped at ``burst_cap / w``, what a tick
        whose every slow request landed on the canary may earn.
        """
        plan = self.plan
        n = self.n_runs
        total = pooled[:, -1:]
        floor = 0.5 / np.maximum(total, 1.0)
        surv = np.clip(1.0 - pooled[:, :-1] / np.where(total > 0, total, 1.0), floor, 1.0 - floor)
        probit = ndtri(surv)
        # bucket probabilities: differences of the survival function (1 below every bound, 0 above)
        edges = self._edges
        edges[..., 1:-1] = ndtr(probit @ plan.interpolation).reshape(n, plan.n_rows, -1)
        p_d = edges[..., :-1] - edges[..., 1:]
        edges0 = np.concatenate([np.ones((n, 1)), surv, np.zeros((n, 1))], axis=1)
        p_0 = edges0[:, :-1] - edges0[:, 1:]
        nc, np_ = ch[:, -1], ph[:, -1]
        x = np.maximum(np.diff(ch, axis=1, prepend=0.0), 0.0)
        m = np.maximum(x + np.maximum(np.diff(ph, axis=1, prepend=0.0), 0.0), x)
        valid = ok & np.isfinite(nc + np_ + m.sum(axis=1)) & (nc > 0) & (np_ > 0)
        x = np.where(valid[:, None], x, 0.0)
        m = np.where(valid[:, None], m, 0.0)
        w = np.where(valid, nc / np.where(valid, nc + np_, 1.0), 0.5)
        ll = bucket_log_likelihood(p_d[:, :plan.n_null], p_0, x, m, w)
        null = ll[:, 0]
        if plan.taus[-1] > 0:  # latency_jitter = 0: the null has no jitter to integrate over
            null = np.maximum(null, self._jitter_integral(ll[:, 1:], probit, p_0, x, m, w))
        # alternatives: pure shifts are rows as they are; those that make a share eps of the
        # requests much slower mix two rows
        main = p_d[:, plan.main]
        mixed = plan.eps > 0
        alt_ll = np.empty((n, plan.eps.size))
        if (~mixed).any():
            alt_ll[:, ~mixed] = bucket_log_likelihood(main[:, ~mixed], p_0, x, m, w)
        if mixed.any():
            eps = plan.eps[mixed][None, :, None]
            alt_ll[:, mixed] = bucket_log_likelihood((1.0 - eps) * main[:, mixed] + eps * p_d[:, plan.slow[mixed]], p_0, x, m, w)
        alts = alt_ll.reshape(n, plan.n_alt, _JITTER_ALT_NODES)
        log_lr = logsumexp(alts + plan.alt_log_weights, axis=2) - null[:, None]
        cap = self.burst_cap / w[:, None]
        lr = np.minimum(np.exp(np.minimum(log_lr, 700.0)), cap)
        return np.asarray(np.where(np.isfinite(lr), lr, 1.0), dtype=np.float64), valid

    def _jitter_integral(
        self, scanned: FloatArray, probit: FloatArray, p_0: FloatArray, x: FloatArray,
        m: FloatArray, w: FloatArray,
    ) -> FloatArray:
        """Log of the null's likelihood integrated over the jitter, the largest over the jitter levels; per run.

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
        n = self.n_runs
        levels, points = plan.scan.shape
        taus = plan.taus[None, :, None]
        g = scanned.reshape(n, levels, points) - 0.5 * (plan.scan[None] / taus) ** 2
        step = (plan.scan[:, 1] - plan.scan[:, 0])[None, :]
        trapezoid = logsumexp(g, axis=2) + np.log(step / (plan.taus[None, :] * math.sqrt(2.0 * math.pi)))
        best = np.minimum(np.maximum(np.argmax(g, axis=2), 1), points - 2)
        runs, level = np.arange(n)[:, None], np.arange(levels)[None, :]
        g_lo, g_mid, g_hi = g[runs, level, best - 1], g[runs, level, best], g[runs, level, best + 1]
        curvature = (g_lo - 2.0 * g_mid + g_hi) / step**2  # second derivative, < 0 at a peak
        peaked = curvature < 0
        curvature = np.where(peaked, curvature, -1.0)
        width = np.where(peaked, 1.0 / np.sqrt(-curvature), step)
        width = np.minimum(np.maximum(width, 1e-6), plan.taus[None, :])
        shift = np.where(peaked, (g_hi - g_lo) / (-2.0 * step * curvature), 0.0)
        peak = plan.scan[level, best] + np.minimum(np.maximum(shift, -step), step)
        nodes = peak[..., None] + width[..., None] * plan.null_nodes  # (runs, levels, nodes)
        index, frac = plan.locate(plan.knots[None, None, None, :] - (plan.d0 + nodes)[..., None])
        rows = np.arange(n)[:, None, None, None]
        at = probit[rows, index] * (1.0 - frac) + probit[rows, index + 1] * frac
        s_d = ndtr(at).reshape(n, levels * len(plan.null_nodes), -1)
        ones = np.ones((*s_d.shape[:2], 1))
        p_d = np.concatenate([ones, s_d], axis=2) - np.concatenate([s_d, 0.0 * ones], axis=2)
        ll = bucket_log_likelihood(p_d, p_0, x, m, w).reshape(n, levels, len(plan.null_nodes))
        h = ll - 0.5 * (nodes / taus) ** 2 + 0.5 * plan.null_nodes**2
        adaptive = logsumexp(h + plan.null_log_weights, axis=2) + np.log(width / plan.taus[None, :])
        return np.asarray(np.max(np.maximum(adaptive, trapezoid), axis=1), dtype=np.float64)
