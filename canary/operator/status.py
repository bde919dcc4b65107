"""Between the Canary's status and the pure core: the persisted state, the plan, the conditions.

The status is the controller's only state; these functions read it into
:class:`~canary.core.State` and :class:`~canary.core.Plan`, and write the
conditions people and ``kubectl wait`` read (``Promoted``, ``Valid``,
``Supported``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from canary.core import Phase, Plan, State, WeightPlan
from canary.kube.api import JsonDict
from canary.models import Canary

__all__ = ["PROMOTED", "condition", "conditions_differ", "iso", "plan_from", "state_from", "well_formed"]


def iso(value: datetime | None) -> str | None:
    """A timestamp as Kubernetes writes it (RFC 3339, UTC, whole seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def state_from(canary: Canary) -> State:
    """The core's view of what the Canary's status persisted.

    The status is the controller's own, but anyone may edit it: a weight is
    kept within 0..100 and counters at 0 or more, and a time without a time
    zone is read as UTC (Kubernetes writes UTC), so a hand-edited value never
    stops the controller.
    """
    status = canary.status
    return State(
        phase=Phase(status.phase or ""),
        canary_weight=min(max(status.canaryWeight, 0), 100),
        failed_checks=max(status.failedChecks, 0),
        iterations=max(status.iterations, 0),
        last_applied_spec=status.lastAppliedSpec,
        last_promoted_spec=status.lastPromotedSpec,
        last_transition_time=_utc(status.lastTransitionTime),
        last_analysis_time=_utc(status.lastAnalysisTime),
        message=status.message or "",
    )


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def plan_from(canary: Canary, min_interval: float) -> Plan:
    """What the spec asks for, with Flagger's defaults (``min_interval``: the floor of analysis.interval)."""
    analysis = canary.spec.analysis
    judge = analysis.judge
    steps = canary.step_weights()
    return Plan(
        interval=canary.analysis_interval_seconds(floor=min_interval),
        threshold=canary.threshold(),
        weights=WeightPlan(tuple(steps)) if steps else WeightPlan((100,)),
        iterations=canary.iterations() or None,
        progress_deadline=float(canary.progress_deadline_seconds()),
        skip_analysis=canary.skip_analysis(),
        suspend=canary.spec.suspend,
        promote_on_pass=bool(judge and judge.promoteOnPass and not judge.dryRun),
        ab_testing=bool(canary.iterations() and analysis.match),
        mirror=analysis.mirror,
    )


PROMOTED = {
    Phase.INITIALIZED: ("True", "Initialized"),
    Phase.SUCCEEDED: ("True", "Succeeded"),
    Phase.FAILED: ("False", "Failed"),
    Phase.WAITING: ("Unknown", "Waiting"),
    Phase.WAITING_PROMOTION: ("Unknown", "WaitingPromotion"),
    Phase.PROGRESSING: ("Unknown", "Progressing"),
    Phase.PROMOTING: ("Unknown", "Progressing"),
    Phase.FINALISING: ("Unknown", "Finalising"),
    Phase.INITIALIZING: ("Unknown", "Initializing"),
}


def well_formed(conditions: Any) -> list[JsonDict]:
    """The entries of a raw ``status.conditions`` that are conditions (a mapping with a type).

    Anything else (a hand edit; the API server's schema would refuse most of
    it) is dropped, so it is repaired by the next write instead of stopping
    the controller.
    """
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, dict) and isinstance(c.get("type"), str)]


def condition(conditions: Any, type_: str, status: str, reason: str, message: str, now: datetime) -> list[JsonDict]:
    """Set one condition (in a raw ``status.conditions``), keeping lastTransitionTime when its status did not change."""
    conditions = well_formed(conditions)
    result = [dict(c) for c in conditions if c.get("type") != type_]
    old = next((c for c in conditions if c.get("type") == type_), None)
    changed = old is None or old.get("status") != status
    result.append(
        {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastUpdateTime": iso(now),
            "lastTransitionTime": iso(now) if changed else old.get("lastTransitionTime") if old else iso(now),
        }
    )
    return sorted(result, key=lambda c: str(c["type"]))


def conditions_differ(old: Any, new: list[JsonDict]) -> bool:
    """Whether the conditions changed in anything but their update times (``old`` raw, as read)."""

    def strip(items: Any) -> list[tuple[str, ...]]:
        fields = ("type", "status", "reason", "message")
        return sorted(tuple(str(c.get(f)) for f in fields) for c in well_formed(items))

    return strip(old) != strip(new)
