"""Weight steps: how far the canary's share of traffic moves at each passing check."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["WeightPlan"]


@dataclass(frozen=True)
class WeightPlan:
    """The canary weights a rollout walks through, in Flagger's semantics.

    Either an explicit ascending list (``stepWeights``) or the arithmetic
    series ``stepWeight, 2*stepWeight, ...`` capped at ``maxWeight``.
    """

    steps: tuple[int, ...]

    @classmethod
    def from_spec(cls, step_weight: int | None, max_weight: int | None, step_weights: Sequence[int] | None) -> WeightPlan:
        """Build the plan from the analysis fields (validated upstream; checked again here)."""
        if step_weights:
            steps = tuple(int(w) for w in step_weights)
            if any(b <= a for a, b in itertools.pairwise(steps)) or steps[0] <= 0 or steps[-1] > 100:
                raise ValueError(f"stepWeights must ascend within 1..100, got {list(steps)}")
            return cls(steps)
        top = 100 if max_weight is None else int(max_weight)
        step = int(step_weight) if step_weight is not None else top
        if not (0 < step <= 100 and 0 < top <= 100):
            raise ValueError(f"stepWeight and maxWeight must be within 1..100, got {step} and {top}")
        weights = list(range(step, top + 1, step))
        if not weights or weights[-1] != top:
            weights.append(top)
        return cls(tuple(weights))

    @property
    def max_weight(self) -> int:
        """The last step: a passing check here leads to promotion."""
        return self.steps[-1]

    def next_weight(self, current: int) -> int:
        """The first step above ``current`` (``max_weight`` when already at or above it)."""
        for weight in self.steps:
            if weight > current:
                return weight
        return self.max_weight

    def is_last(self, current: int) -> bool:
        """Whether ``current`` has reached the top of the plan."""
        return current >= self.max_weight
