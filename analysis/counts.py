"""The error rate's count test: a capped beta-binomial likelihood ratio per tick.

Model (C) and why the test is valid are in the docstring of
:mod:`analysis.sequential`. :class:`ErrorCountTest` evaluates, for many runs at
once, how much one tick's split of errors between canary and primary favours
the alternatives (the canary's share of errors at regressed ratios) over the
null (the share at the tolerated ratio, with up to the bounded overdispersion),
capped at what a single burst may earn; :class:`analysis.engine.BatchJudge`
turns it into evidence. The latency metrics' count tests are in
:mod:`analysis.histogram`.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt
from scipy.special import betaln

from analysis.histogram import logsumexp

__all__ = ["ErrorCountTest"]

FloatArray = npt.NDArray[np.float64]

#: Fractions of the dispersion bound at which the null likelihood is evaluated
#: besides 0 (the binomial): its supremum over these is the denominator of the
#: count test.
_NULL_RHO_GRID: Final = (0.25, 1.0)
#: Fraction of the dispersion bound the alternative assumes.
_ALT_RHO: Final = 0.25


class ErrorCountTest:
    """The error count test of ``n_runs`` runs, each with ``n_alt`` alternative shares a tick.

    ``dispersion`` bounds the intra-class correlation of the canary's share of
    a tick's errors (``error_dispersion``); ``burst_cap`` scales the per-tick
    cap (see :meth:`capped_lr`).
    """

    def __init__(self, n_runs: int, n_alt: int, dispersion: float, burst_cap: float) -> None:
        self.burst_cap = burst_cap
        # one beta-binomial evaluation per column: the null on the dispersion grid, the
        # alternatives at the canary's count, the alternatives at 0 (see capped_lr)
        self._rhos = np.asarray([*(g * dispersion for g in _NULL_RHO_GRID), *[_ALT_RHO * dispersion] * (2 * n_alt)])[
            None, :
        ]
        self._x = np.zeros((n_runs, self._rhos.size))
        self._mu = np.zeros((n_runs, self._rhos.size))

    def capped_lr(self, x: FloatArray, m: FloatArray, q0: FloatArray, q1: FloatArray) -> FloatArray:
        """The capped likelihood ratio ``min(LR, cap)`` of one tick, per run.

        ``LR`` is the beta-binomial likelihood of the canary's ``x`` of the tick's
        ``m`` errors, averaged over the alternative shares ``q1`` (``(n_runs,
        alternatives)``; dispersion ``_ALT_RHO`` x the bound), over the largest
        null likelihood: share ``min(x/m, q0)`` (the most likely share allowed)
        and dispersions 0 and ``_NULL_RHO_GRID`` x the bound. ``cap`` is what a
        burst carrying all ``m`` errors may earn (see :mod:`analysis.sequential`).
        """
        x = np.minimum(x, m)
        q_null = np.minimum(np.maximum(x / m, 1e-9), q0)
        q1 = np.minimum(np.maximum(q1, 1e-9), 1.0 - 1e-9)
        n_grid, n_alt = len(_NULL_RHO_GRID), q1.shape[1]
        # one beta-binomial evaluation for: the null on the dispersion grid, the alternatives at x,
        # and the alternatives at 0 (had the canary got none of the tick's errors; its null likelihood is 1)
        xs, mus = self._x, self._mu
        xs[:, : n_grid + n_alt] = x[:, None]
        mus[:, :n_grid] = q_null[:, None]
        mus[:, n_grid : n_grid + n_alt] = q1
        mus[:, n_grid + n_alt :] = q1
        ll = _log_bb(xs, m[:, None], mus, self._rhos)
        null = np.maximum(np.max(ll[:, :n_grid], axis=1), x * np.log(q_null) + (m - x) * np.log1p(-q_null))
        log_n = math.log(n_alt)
        log_lr = logsumexp(ll[:, n_grid : n_grid + n_alt], axis=1) - log_n - null
        lr0 = np.exp(logsumexp(ll[:, n_grid + n_alt :], axis=1) - log_n)
        # cap: a burst carrying all m errors lands on the canary with probability q0, so
        # q0 f(m) + (1 - q0) f(0) <= 1 must hold: min(LR, cap) with this cap keeps it
        cap = self.burst_cap * (1.0 - (1.0 - q0) * np.minimum(lr0, 1.0)) / q0
        return np.asarray(np.minimum(np.exp(np.minimum(log_lr, 700.0)), cap), dtype=np.float64)


def _log_bb(x: FloatArray, m: FloatArray, mu: FloatArray, rho: FloatArray) -> FloatArray:
    """Beta-binomial log-likelihood of ``x`` successes in ``m`` (mean ``mu``, intra-class correlation ``rho``).

    Without the binomial coefficient (it cancels in likelihood ratios); real
    ``x`` and ``m`` are accepted. ``rho == 0`` is the binomial.
    """
    positive = rho > 1e-9
    if positive.all():
        scale = (1.0 - rho) / rho
        a = mu * scale
        b = (1.0 - mu) * scale
        return np.asarray(betaln(x + a, m - x + b) - betaln(a, b), dtype=np.float64)
    binom = x * np.log(mu) + (m - x) * np.log1p(-mu)
    if not np.any(positive):
        return np.asarray(binom, dtype=np.float64)
    rho_safe = np.where(positive, rho, 0.5)
    scale = (1.0 - rho_safe) / rho_safe
    a = mu * scale
    b = (1.0 - mu) * scale
    return np.asarray(np.where(positive, betaln(x + a, m - x + b) - betaln(a, b), binom), dtype=np.float64)
