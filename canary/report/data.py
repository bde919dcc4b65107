"""What ``canary report`` draws: one rollout's time series, as plain data (no Prometheus, no plotting)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["DECISIONS", "PHASE_COLOURS", "PhaseChange", "ReportData", "Series"]

DECISIONS = {"Succeeded": "promoted", "Failed": "rolled back"}
"""The phases that end a rollout, and what the report calls each decision."""


PHASE_COLOURS = {
    "Initializing": "#8e8e8e",
    "Initialized": "#b7b7b7",
    "Waiting": "#fade2a",
    "Progressing": "#5794f2",
    "WaitingPromotion": "#ffb357",
    "Promoting": "#96d98d",
    "Finalising": "#73bf69",
    "Succeeded": "#37872d",
    "Failed": "#e02f44",
    "Terminating": "#b877d9",
    "Terminated": "#8f3bb8",
}
"""The colour of each phase, the same on the dashboards and in `canary report`."""


@dataclass(frozen=True)
class Series:
    """One line of a panel: sample times (Unix seconds, ascending) and values (NaN where undefined)."""

    times: tuple[float, ...] = ()
    values: tuple[float, ...] = ()

    def __post_init__(self) -> None:
        if len(self.times) != len(self.values):
            raise ValueError(f"{len(self.times)} times but {len(self.values)} values")

    def __bool__(self) -> bool:
        return bool(self.times)


@dataclass(frozen=True)
class PhaseChange:
    """The Canary entered ``phase`` at ``at`` (Unix seconds)."""

    at: float
    phase: str


@dataclass(frozen=True)
class ReportData:
    """One Canary's rollout over ``[start, end]``: traffic weight, canary vs primary health, phases.

    ``success_rate`` is in percent, ``p99`` in milliseconds, both keyed
    ``"canary"`` and ``"primary"``; ``weight`` is the canary's traffic
    percentage. ``success_min`` and ``latency_max`` are the thresholds of the
    ``request-success-rate`` and ``request-duration`` checks, when the Canary
    has them. ``reason`` is the Canary's status message, when known, shown
    with the decision.
    """

    name: str
    namespace: str
    mesh: str
    start: float
    end: float
    weight: Series = field(default_factory=Series)
    success_rate: dict[str, Series] = field(default_factory=dict)
    p99: dict[str, Series] = field(default_factory=dict)
    phases: tuple[PhaseChange, ...] = ()
    success_min: float | None = None
    latency_max: float | None = None
    reason: str | None = None

    @property
    def decision(self) -> PhaseChange | None:
        """The last promotion (entering Succeeded) or rollback (entering Failed) in the range, if any."""
        for change in reversed(self.phases):
            if change.phase in DECISIONS:
                return change
        return None

    def is_empty(self) -> bool:
        """True when Prometheus had nothing about this Canary in the range."""
        return not (self.weight or self.phases or any(self.success_rate.values()) or any(self.p99.values()))
