"""Weight steps: how far the canary's share of traffic moves at each passing check."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

__all__ = ["WeightPlan"]


@dataclass(frozen=True)
class WeightPlan:
    """The canary weights a rollout walks through, ascending, the last one being ``maxWeight``.

    The list comes from the spec through ``Canary.step_weights()`` (explicit
    ``stepWeights``, or Flagger's ``stepWeight, 2*stepWeight, ...`` capped at
    ``maxWeight``); the plan only walks it.
    """

    steps: tuple[int, ...]

    def __post_init__(self) -> None:
        steps = self.steps
        if not steps or any(b <= a for a, b in itertools.pairwise(steps)) or steps[0] <= 0 or steps[-1] > 100:
            raise ValueError(f"weight steps must ascend within 1..100, got {list(steps)}")

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
