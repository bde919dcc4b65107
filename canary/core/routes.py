"""The traffic split between primary and canary, as the core decides it."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Routes"]


@dataclass(frozen=True)
class Routes:
    """Percentages of traffic sent to the primary and the canary.

    ``primary + canary == 100`` always. ``mirrored`` means the canary also
    receives a copy of the primary's traffic (responses discarded); routers
    that cannot mirror refuse it.
    """

    primary: int
    canary: int
    mirrored: bool = False

    def __post_init__(self) -> None:
        if not (0 <= self.primary <= 100 and 0 <= self.canary <= 100):
            raise ValueError(f"weights must be within 0..100, got primary={self.primary} canary={self.canary}")
        if self.primary + self.canary != 100:
            raise ValueError(f"weights must add up to 100, got {self.primary} + {self.canary}")

    @classmethod
    def canary_at(cls, weight: int, mirrored: bool = False) -> Routes:
        """The split that sends ``weight`` % to the canary and the rest to the primary."""
        return cls(primary=100 - weight, canary=weight, mirrored=mirrored)
