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
        if self.latency is not None:
            lookup = {float(k): float(v) for k, v in self.latency.items()}
            values = [lookup.get(float(b), math.nan) for b in bounds]
            values.append(lookup.get(math.inf, math.nan))
            # (NaN fails both comparisons)
            if all(0.0 <= v < math.inf for v in values):
                return np.maximum.accumulate(np.asarray(values, dtype=np.float64))
        return np.full(len(bounds) + 1, np.nan)
