"""The Canary's status: what the controller persisted, its conditions and its last checks.

The status is the controller's only state (a restarted controller resumes
from it), so everything here is what a restart needs, plus what people read.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import AfterValidator, Field
from pydantic_core import PydanticCustomError

from canary.models.base import StrictModel

__all__ = ["PHASES", "CanaryCheck", "CanaryCondition", "CanaryPhase", "CanaryStatus", "CheckOutcome", "judge_verdict"]

CanaryPhase = Literal[
    "",
    "Initializing",
    "Initialized",
    "Waiting",
    "Progressing",
    "WaitingPromotion",
    "Promoting",
    "Finalising",
    "Succeeded",
    "Failed",
    "Terminating",
    "Terminated",
]
"""Flagger's phase names (``canary.core.Phase`` holds the same values)."""
PHASES: tuple[str, ...] = get_args(CanaryPhase)

CheckOutcome = Literal["pass", "fail", "error", "inconclusive"]
"""Result of one metric check: within range, out of range, or not measurable (no data, NaN, unreachable)."""


class CanaryCondition(StrictModel):
    """A status condition (``Promoted``, ``Supported``, ...)."""

    type: str
    """Type of the condition, e.g. ``Promoted``."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition."""
    reason: str
    """One-word reason for the status, e.g. ``Succeeded``."""
    message: str | None = None
    """Human-readable details."""
    lastUpdateTime: datetime | None = None
    """When the condition was last written."""
    lastTransitionTime: datetime | None = None
    """When the status last changed."""


class CanaryCheck(StrictModel):
    """The result of one check at the last analysis tick, as shown to people."""

    name: str
    """Name of the metric (or of the judge)."""
    value: float | None = None
    """Measured value; absent when it could not be measured."""
    min: float | None = None
    """Lowest accepted value."""
    max: float | None = None
    """Highest accepted value."""
    unit: str | None = None
    """Unit of value, min and max (e.g. ``%``, ``ms``)."""
    outcome: CheckOutcome
    """pass, fail, error (not measurable), or inconclusive (the judge needs more evidence)."""
    reason: str
    """Why, in words: "request-success-rate 97.2 % < 99 %"."""


def _check_phase(value: str) -> str:
    if value not in PHASES:
        raise PydanticCustomError(
            "phase", "must be one of {phases} (got '{value}')", {"phases": ", ".join(PHASES[1:]), "value": value}
        )
    return str(value)


class CanaryStatus(StrictModel):
    """The observed state of a Canary; the controller's only state, so a restart resumes from it."""

    phase: Annotated[str, AfterValidator(_check_phase), Field(json_schema_extra={"enum": list(PHASES)})] | None = None
    """Phase of the rollout (a ``canary.core.Phase`` value)."""
    canaryWeight: int = 0
    """Traffic weight routed to the canary."""
    failedChecks: int = 0
    """Failed checks of the current analysis."""
    iterations: int = 0
    """Analysis ticks run in the current analysis."""
    trackedConfigs: dict[str, str] | None = None
    """Hashes of the ConfigMaps and Secrets the target uses."""
    lastAppliedSpec: str | None = None
    """Hash of the target's pod template last seen (the revision being rolled out)."""
    lastPromotedSpec: str | None = None
    """Hash of the pod template last promoted."""
    lastTransitionTime: datetime | None = None
    """When the phase last changed."""
    sessionAffinityCookie: str | None = None
    """Session affinity cookie of the current canary run."""
    primarySessionAffinityCookie: str | None = None
    """Primary session affinity cookie of the current canary run."""
    previousSessionAffinityCookie: str | None = None
    """Session affinity cookie of the previous canary run."""
    conditions: list[CanaryCondition] = Field(default_factory=list)
    """Status conditions of this Canary."""
    # Ours, beyond Flagger's status:
    observedGeneration: int | None = None
    """The ``metadata.generation`` this status was computed for."""
    lastAnalysisTime: datetime | None = None
    """When the last analysis tick ran (so a restarted controller keeps the interval)."""
    message: str | None = None
    """The reason for the last decision, in words."""
    checks: list[CanaryCheck] = Field(default_factory=list)
    """Each check's result at the last analysis tick."""
    judge: dict[str, Any] | None = None
    """The judge's persisted state and last verdict (free-form; owned by the analysis package)."""

    def condition(self, type_: str) -> CanaryCondition | None:
        """The condition of that type, if present."""
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None


def judge_verdict(judge: Any) -> dict[str, Any]:
    """The last verdict in a judge status (``status.judge``), or ``{}`` when there is none or it is malformed.

    ``status.judge`` is free-form and anyone with access may edit it, so
    readers (chat messages, exported metrics) take only a mapping, with its
    ``metrics`` filtered to mappings.
    """
    verdict = judge.get("verdict") if isinstance(judge, dict) else None
    if not isinstance(verdict, dict):
        return {}
    metrics = verdict.get("metrics")
    return {**verdict, "metrics": [m for m in metrics if isinstance(m, dict)] if isinstance(metrics, list) else []}
