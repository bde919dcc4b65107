"""One tick's observations of one version: the input of the sequential judge."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = ["Window"]


@dataclass(frozen=True)
class Window:
    """The increases of one version's counters over one tick, as Prometheus returns them.

    ``requests`` and ``errors`` are ``increase(..._total[interval])``; ``latency``
    maps each histogram bucket's upper bound (milliseconds, ``math.inf``
    included) to the cumulative ``increase(..._bucket[interval])``, or is None
    when the mesh exports no histogram. Counts are floats: ``increase()``
    extrapolates, so they are rarely integers. NaN or a missing value means
    "no data" and is never read as evidence either way.
    """

    requests: float
    errors: float = 0.0
    latency: Mapping[float, float] | None = None

    def histogram(self, bounds: Sequence[float]) -> npt.NDArray[np.float64]:
        """Cumulative counts at ``bounds`` followed by the +Inf bucket; NaN where unusable.

        The result has ``len(bounds) + 1`` entries. Missing buckets, NaN, negative
        counts or a missing +Inf bucket make the whole histogram NaN (no latency
        evidence this tick). Small non-monotonicities, which ``increase()`` can
        produce across series, are repaired by a running maximum.
        """
        out = np.full(len(bounds) + 1, np.nan)
        if self.latency is None:
            return out
        lookup = {float(k): float(v) for k, v in self.latency.items()}
        keys = [*(float(b) for b in bounds), math.inf]
        values = [lookup.get(k, math.nan) for k in keys]
        arr = np.asarray(values, dtype=np.float64)
        if not np.all(np.isfinite(arr)) or np.any(arr < 0.0):
            return out
        return np.maximum.accumulate(arr)
