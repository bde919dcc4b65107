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

#: Gauss-Hermite nodes over the tick's jitter, placed where the integrand peaks (each shift
#: hypothesis's own; the slow-tail alternatives use the null's).
_JITTER_NODES: Final = 3
#: Points (over +-2 jitter standard deviations, one apart) on which each shift hypothesis's
#: likelihood is first scanned to find where its jitter integral concentrates; the null's scan
#: has one more point at each end for its trapezoid sum (the larger of the two estimates of the
#: null's integral is kept: the safe side).
_JITTER_SCAN: Final = 5
#: How far beyond the best scan point the parabola's vertex may be taken, in scan steps: the
#: vertex reaches 5 jitter standard deviations (log L is close to quadratic where it matters,
#: with many requests; a null that stopped at 3 would miss a tick jittered beyond them).
_VERTEX_REACH: Final = 4.0
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
    """The hypotheses of the histogram tests and where they evaluate the pooled latency distribution.

    The tests compare the canary's latency distribution with the pooled one
    shifted by ``delta`` in log latency, plus the tick's jitter ``e ~ N(0,
    tau^2)``. The shift hypotheses are the null (``delta = d0 = log(1 +
    latency_tolerance)``) and the pure-shift alternatives (``d0 +
    log(factor)``): their likelihood is one curve, scanned at
    :data:`_JITTER_SCAN` jitters around each and then integrated over the
    jitter by adaptive quadrature. The tail alternatives make ``1 - eps`` of the
    requests slower by ``d0 + log(factor)`` and ``eps`` by ``d0 + log(slow)``,
    integrated over the jitter at the null's nodes. Every shift that does not
    depend on the data is a row of one matrix product (:attr:`interpolation`)
    of the pooled survival's probits at the bounds.
    """

    def __init__(
        self, bounds: Sequence[float], tolerance: float, jitter: float,
        alternatives: Sequence[tuple[float, float, float]],
    ) -> None:
        self.knots = np.log(np.asarray(bounds, dtype=np.float64))
        self._inverse_gaps = 1.0 / np.diff(self.knots)
        self.tau = tau = math.sqrt(2.0) * jitter  # the canary's jitter relative to the primary's
        self.d0 = d0 = math.log1p(tolerance)
        half = (_JITTER_SCAN - 1) // 2
        self.scan = np.linspace(-half, half, _JITTER_SCAN) * tau
        self.outer = np.asarray([-half - 1.0, half + 1.0]) * tau  # the null's two extra points
        nodes, weights = hermegauss(_JITTER_NODES)
        self.nodes = nodes
        # constants of the jitter integral: the scan's log prior density, the trapezoid's step and
        # scale, and the nodes' weights with the standard normal density they stand in for
        self.step = float(self.scan[1] - self.scan[0])
        with np.errstate(divide="ignore", invalid="ignore"):  # no jitter: these are never used
            self.scan_log_prior = 0.5 * (self.scan / tau) ** 2
            self.outer_log_prior = 0.5 * (self.outer / tau) ** 2
            self.trapezoid_log_scale = float(np.log(np.float64(self.step) / (tau * math.sqrt(2.0 * math.pi))))
        self.node_log_terms = np.log(weights / weights.sum()) + 0.5 * nodes**2
        self.n_alt = len(alternatives)
        # shift hypotheses: the null, then each pure-shift alternative; their scans come first
        self.shift_alternatives = np.asarray([i for i, (_, e, _) in enumerate(alternatives) if e == 0], dtype=np.intp)
        self.tail_alternatives = np.asarray([i for i, (_, e, _) in enumerate(alternatives) if e > 0], dtype=np.intp)
        offsets = [0.0] + [math.log(alternatives[i][0]) for i in self.shift_alternatives]
        self.shifts = d0 + np.asarray(offsets)[:, None]  # (shift hypotheses, 1)
        rows = [d0 + o + self.scan for o in offsets] + [d0 + self.outer]
        self.n_scan_rows = len(offsets) * _JITTER_SCAN
        # tail alternatives: their body and slow parts, evaluated at the null's jitter nodes
        tails = [alternatives[i] for i in self.tail_alternatives]
        tail_offsets = sorted({math.log(v) for f, _, sl in tails for v in (f, sl)})
        self.tail_shifts = d0 + np.asarray(tail_offsets)[:, None]  # each distinct part once
        self.tail_body = np.asarray([tail_offsets.index(math.log(f)) for f, _, _ in tails], dtype=np.intp)
        self.tail_slow = np.asarray([tail_offsets.index(math.log(sl)) for _, _, sl in tails], dtype=np.intp)
        self.tail_eps = np.asarray([e for _, e, _ in tails], dtype=np.float64)[:, None, None]
        deltas = np.concatenate(rows)
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
        index = np.searchsorted(self.knots, points, side="right")
        index = np.minimum(np.maximum(index - 1, 0), len(self.knots) - 2)
        return index, (points - self.knots[index]) * self._inverse_gaps[index]


class HistogramTests:
    """The histogram tests of ``n_runs`` runs: one plan of hypotheses, evaluated on each tick's histograms.

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
        self.plan = plan = _ShiftPlan(bounds, tolerance, jitter, alternatives)
        n_shift = 1 + plan.shift_alternatives.size
        # survival at the bucket edges (1 below the first bound, 0 above the last): the fixed rows,
        # the pooled distribution, the shift hypotheses at their adaptive nodes
        self._edges = _survival_edges(n_runs, plan.n_rows, len(bounds))
        self._edges0 = _survival_edges(n_runs, len(bounds))
        self._node_edges = _survival_edges(n_runs, n_shift, _JITTER_NODES, len(bounds))
        self._tail_edges = _survival_edges(n_runs, len(plan.tail_shifts), _JITTER_NODES, len(bounds))
        self._run_index = np.arange(n_runs)[:, None, None]
        self._hypothesis_index = np.arange(n_shift)[None, :, None]
        # where each run's probits start in the flattened (runs, bounds) array
        self._probit_offsets = (np.arange(n_runs) * len(bounds))[:, None, None, None]

    def likelihood_ratios(
        self, pooled: FloatArray, ch: FloatArray, ph: FloatArray, ok: npt.NDArray[np.bool_]
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """The histogram tests' capped likelihood ratios, ``(n_runs, alternatives)``, and which runs count.

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
        slow shares beyond it; each hypothesis's likelihood averaged over
        ``e ~ N(0, tau^2)``. Capped at ``burst_cap / w``, what a tick whose
        every slow request landed on the canary may earn.
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
        p_rows = edges[..., :-1] - edges[..., 1:]
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
        ll = bucket_log_likelihood(p_rows, p_0, x, m, w)
        scanned = ll[:, :plan.n_scan_rows].reshape(n, -1, _JITTER_SCAN)
        log_alt = np.empty((n, plan.n_alt))
        if plan.tau > 0:
            shift, tails = self._jitter_integrals(scanned, ll[:, plan.n_scan_rows:], probit, p_0, x, m, w)
            log_alt[:, plan.tail_alternatives] = tails
        else:  # no jitter allowance: the hypotheses as they are (the scan's middle point)
            shift = scanned[..., _JITTER_SCAN // 2]
            log_alt[:, plan.tail_alternatives] = self._tails_at(probit, np.zeros((n, 1)), p_0, x, m, w)[..., 0]
        log_alt[:, plan.shift_alternatives] = shift[:, 1:]
        log_lr = log_alt - shift[:, :1]
        cap = self.burst_cap / w[:, None]
        lr = np.minimum(np.exp(np.minimum(log_lr, 700.0)), cap)
        return np.asarray(np.where(np.isfinite(lr), lr, 1.0), dtype=np.float64), valid

    def _jitter_integrals(
        self, scanned: FloatArray, outer: FloatArray, probit: FloatArray, p_0: FloatArray, x: FloatArray,
        m: FloatArray, w: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Log of each hypothesis's likelihood integrated over the jitter: shift hypotheses, tail alternatives.

        Returns ``(runs, 1 + shifts)`` and ``(runs, tails)``.

        ``integral of L(delta_h + e) N(e; 0, tau^2) de`` by adaptive
        Gauss-Hermite quadrature: the scan (``scanned``: log L on
        :attr:`_ShiftPlan.scan` around each hypothesis; ``outer``: the null's
        two extra points) locates the integrand's peak and its width (a
        parabola through the best scan point and its neighbours: log L is close
        to quadratic in the shift however many requests the tick holds), and
        the nodes are placed there. Fixed nodes would miss the peak of a tick
        with many requests, whose likelihood is far narrower than the jitter:
        the null would be understated, and an alternative would become a few
        sharp shifts, one of which may sit where a healthy canary is. Where
        the null's scan does not bracket a peak the parabola can reach, the
        larger of this and the trapezoid sum over its scan is kept (a larger
        null likelihood is the safe side; elsewhere the trapezoid would only
        overstate a likelihood far narrower than its step and cost evidence). A tail alternative's likelihood, as a
        function of the jitter, peaks where the null's does (its body is the
        null's shape; the slow share changes its level far more than its
        peak): it is integrated at the null's nodes.
        """
        plan = self.plan
        tau, step = plan.tau, plan.step
        g = scanned - plan.scan_log_prior
        null_scan = np.concatenate([g[:, 0], outer - plan.outer_log_prior], axis=1)
        trapezoid = logsumexp(null_scan, axis=1) + plan.trapezoid_log_scale
        top = np.argmax(g, axis=2)
        best = np.minimum(np.maximum(top, 1), _JITTER_SCAN - 2)
        around = g[self._run_index, self._hypothesis_index, best[..., None] + _NEIGHBOURS]
        g_lo, g_mid, g_hi = around[..., 0], around[..., 1], around[..., 2]
        curvature = (g_lo - 2.0 * g_mid + g_hi) / step**2  # second derivative, < 0 at a peak
        peaked = curvature < 0
        curvature = np.where(peaked, curvature, -1.0)
        width = np.where(peaked, 1.0 / np.sqrt(-curvature), step)
        width = np.minimum(np.maximum(width, 1e-6), tau)
        shift = np.where(peaked, (g_hi - g_lo) / (-2.0 * step * curvature), 0.0)
        # (the vertex may lie beyond the scan's ends: a jitter of over 2 standard deviations)
        reach = _VERTEX_REACH * step
        peak = plan.scan[best] + np.minimum(np.maximum(shift, -reach), reach)
        nodes = peak[..., None] + width[..., None] * plan.nodes  # (runs, hypotheses, nodes)
        p = self._shifted(probit, plan.shifts + nodes, self._node_edges)
        ll = bucket_log_likelihood(p.reshape(self.n_runs, -1, p.shape[-1]), p_0, x, m, w).reshape(nodes.shape)
        h = ll - 0.5 * (nodes / tau) ** 2 + plan.node_log_terms
        log_width = np.log(width / tau)
        adaptive = logsumexp(h, axis=2) + log_width
        # the null's fit is trusted where the scan brackets a peak the parabola reaches; elsewhere
        # the larger of the two estimates is kept
        fitted = peaked[:, 0] & (top[:, 0] == best[:, 0]) & (np.abs(shift[:, 0]) < reach)
        adaptive[:, 0] = np.where(fitted, adaptive[:, 0], np.maximum(adaptive[:, 0], trapezoid))
        if not plan.tail_alternatives.size:
            return adaptive, np.zeros((self.n_runs, 0))
        null_nodes = nodes[:, 0]
        tails = self._tails_at(probit, null_nodes, p_0, x, m, w) - 0.5 * (null_nodes[:, None] / tau) ** 2
        return adaptive, logsumexp(tails + plan.node_log_terms, axis=2) + log_width[:, :1]

    def _tails_at(
        self, probit: FloatArray, jitters: FloatArray, p_0: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray,
    ) -> FloatArray:
        """Log-likelihood of each tail alternative at each run's jitters ``(runs, k)``: ``(runs, tails, k)``."""
        plan = self.plan
        k = jitters.shape[1]
        # each distinct body and slow part at each jitter: (runs, parts, k, buckets)
        parts = self._shifted(probit, plan.tail_shifts[None] + jitters[:, None, :], self._tail_edges[:, :, :k])
        body = parts[:, plan.tail_body]
        p = body + plan.tail_eps * (parts[:, plan.tail_slow] - body)
        return bucket_log_likelihood(p.reshape(self.n_runs, -1, p.shape[-1]), p_0, x, m, w).reshape(
            self.n_runs, plan.tail_body.size, k
        )

    def _shifted(self, probit: FloatArray, shifts: FloatArray, edges: FloatArray) -> FloatArray:
        """Bucket probabilities of the pooled distribution made ``exp(shift)`` times slower, per run and shift.

        ``shifts`` is ``(runs, ...)`` (data-dependent: interpolated run by run);
        ``edges`` a work array of its shape plus the bucket edges (see
        :func:`_survival_edges`). Returns a new array ``(*shifts.shape, buckets)``.
        """
        index, frac = self.plan.locate(self.plan.knots - shifts[..., None])
        index += self._probit_offsets
        flat = probit.ravel()
        edges[..., 1:-1] = ndtr(flat[index] * (1.0 - frac) + flat[index + 1] * frac)
        return edges[..., :-1] - edges[..., 1:]


def _survival_edges(*shape: int) -> FloatArray:
    """A work array for survival functions at bucket edges: ``shape`` plus two columns, 1 first and 0 last."""
    edges = np.zeros((*shape[:-1], shape[-1] + 2))
    edges[..., 0] = 1.0
    return edges


def _bucket_counts(cumulative: FloatArray) -> FloatArray:
    """Per-bucket counts (never negative) from cumulative ones, row by row; a new array."""
    out = cumulative.copy()
    out[:, 1:] -= cumulative[:, :-1]
    return np.maximum(out, 0.0, out=out)
