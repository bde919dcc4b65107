"""Between the Canary's status and the pure core: the persisted state, the plan, the conditions.

The status is the controller's only state. This module is the one place
that maps it to the core and back: :func:`state_from` reads it into
:class:`~canary.core.State` (and :func:`plan_from` the spec into
:class:`~canary.core.Plan`); :func:`status_of` writes a State back in the
status's own field names, and :func:`tick_status` is everything a tick
writes: the state, the conditions people and ``kubectl wait`` read
(``Promoted``, ``Valid``, ``Supported``), the checks, the judge and the
outbox.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from canary.core import Decision, Phase, Plan, State, WeightPlan
from canary.kube.api import JsonDict
from canary.models import Canary, OutboxEntry
from canary.operator.checks import TickChecks

__all__ = [
    "PROMOTED",
    "condition",
    "conditions_differ",
    "conditions_of",
    "iso",
    "outbox_status",
    "plan_from",
    "refusal",
    "state_from",
    "status_of",
    "tick_status",
    "well_formed",
]


def iso(value: datetime | None) -> str | None:
    """A timestamp as Kubernetes writes it (RFC 3339, UTC, whole seconds)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def iso_ms(value: datetime | None) -> str | None:
    """A timestamp in RFC 3339 with milliseconds, for times the analysis counts intervals from.

    Whole seconds would move a step's start back by up to a second, so its
    first check could come that much before a whole interval at its weight.
    """
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z" if value else None


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


def status_of(state: State) -> JsonDict:
    """The status fields that persist ``state`` (what :func:`state_from` reads back), times as Kubernetes writes them."""
    return {
        "phase": state.phase.value,
        "canaryWeight": state.canary_weight,
        "failedChecks": state.failed_checks,
        "iterations": state.iterations,
        "lastAppliedSpec": state.last_applied_spec,
        "lastPromotedSpec": state.last_promoted_spec,
        "lastTransitionTime": iso(state.last_transition_time),
        "lastAnalysisTime": iso_ms(state.last_analysis_time),
        "message": state.message,
    }


def tick_status(
    canary: Canary,
    decision: Decision,
    measured: TickChecks | None,
    not_yet: Sequence[str],
    now: datetime,
    outbox: Sequence[OutboxEntry] | None = None,
) -> JsonDict:
    """What one tick writes to the Canary's status, as a merge patch (empty when nothing is worth writing).

    The state and the conditions when the decision moved, the tick measured
    or a condition changed; the checks and the judge when it measured; the
    judge's evidence removed when an analysis starts afresh; and the outbox
    (what the decision tells, and what is still to tell) when it changed
    (``outbox`` None: it did not). One patch, so a decision is never
    persisted without what it must tell.
    """
    state = decision.state
    patch: JsonDict = {}
    old = conditions_of(canary)
    generation = canary.metadata.generation
    conditions = _tick_conditions(old, state, not_yet, now, generation)
    unobserved = canary.status.observedGeneration != generation
    if decision.changed or measured is not None or unobserved or conditions_differ(old, conditions):
        patch.update(status_of(state))
        patch["observedGeneration"] = canary.metadata.generation
        patch["conditions"] = conditions
    fresh_start = state.phase == Phase.PROGRESSING and state.canary_weight == 0 and state.iterations == 0
    judge = canary.status.judge
    if fresh_start and judge is not None and judge.recorded:
        patch["judge"] = None  # a new or retried analysis starts from no evidence (merge patch: delete)
    if measured is not None:
        patch["checks"] = [c.model_dump(mode="json", exclude_none=True) for c in measured.records]
        if measured.judge_status is not None:
            patch["judge"] = measured.judge_status.model_dump(mode="json")
    if outbox is not None:
        patch["outbox"] = outbox_status(outbox)
    return patch


def outbox_status(entries: Sequence[OutboxEntry]) -> list[JsonDict] | None:
    """``status.outbox`` as written (a merge patch replaces the whole list; None removes an empty one)."""
    return [e.model_dump(mode="json", exclude_none=True) for e in entries] or None


def _tick_conditions(
    old: list[JsonDict], state: State, not_yet: Sequence[str], now: datetime, generation: int | None
) -> list[JsonDict]:
    """The conditions of a Canary the controller accepts: Promoted (by phase), Valid, and Supported."""
    conditions = old
    promoted = PROMOTED.get(state.phase)
    if promoted is not None:
        conditions = condition(conditions, "Promoted", promoted[0], promoted[1], state.message, now, generation)
    conditions = condition(conditions, "Valid", "True", "Valid", "the spec is valid", now, generation)
    conditions = _kstatus_conditions(conditions, state, now, generation)
    if not_yet:
        return condition(conditions, "Supported", "False", "NotSupportedYet", "; ".join(not_yet), now, generation)
    return condition(conditions, "Supported", "True", "Supported", "every field in use is supported", now, generation)


# The phases kstatus (Flux's health checks) must read as in progress: a rollout under way.
_RECONCILING = frozenset(
    {Phase.INITIALIZING, Phase.WAITING, Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING}
)


def _kstatus_conditions(old: list[JsonDict], state: State, now: datetime, generation: int | None) -> list[JsonDict]:
    """kstatus' standard conditions, which Flux reads to wait on a Canary, and Ready = !Reconciling && !Stalled.

    ``Reconciling`` is True while a rollout is under way (kstatus: InProgress),
    ``Stalled`` True once a revision was rolled back (kstatus: Failed: a new
    revision or a retry is needed), and neither once the release is served
    (Initialized or Succeeded: Current).
    """
    phase = state.phase
    message = state.message or phase.value or "New"
    reconciling = phase in _RECONCILING
    stalled = phase == Phase.FAILED
    conditions = condition(
        old, "Reconciling", "True" if reconciling else "False", phase.value or "New", message, now, generation
    )
    conditions = condition(
        conditions, "Stalled", "True" if stalled else "False", phase.value or "New", message, now, generation
    )
    ready = phase in (Phase.INITIALIZED, Phase.SUCCEEDED)
    return condition(conditions, "Ready", "True" if ready else "False", phase.value or "New", message, now, generation)


def refusal(conditions: Any, reason: str, message: str, now: datetime, generation: int | None) -> JsonDict | None:
    """The status that reports a refused Canary (``Valid`` False, and why), or None when it already says so.

    ``conditions`` as read: a raw ``status.conditions`` (a Canary that does
    not parse) or :func:`conditions_of`. The refusal describes ``generation``
    (status.observedGeneration and the condition's own), so ``kubectl wait
    --for=condition=Valid=false`` sees it.
    """
    old = next((c for c in well_formed(conditions) if c.get("type") == "Valid"), None)
    if (
        old is not None
        and old.get("status") == "False"
        and old.get("message") == message
        and old.get("observedGeneration") == generation
    ):
        return None
    refused = condition(conditions, "Valid", "False", reason, message, now, generation)
    refused = condition(refused, "Reconciling", "False", reason, message, now, generation)
    refused = condition(refused, "Stalled", "True", reason, message, now, generation)  # kstatus: Failed, until edited
    refused = condition(refused, "Ready", "False", reason, message, now, generation)
    return {"conditions": refused, "message": message, "observedGeneration": generation}


def _utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def plan_from(canary: Canary, min_interval: float, weighted: bool = True) -> Plan:
    """What the spec asks for, with Flagger's defaults (``min_interval``: the floor of analysis.interval).

    ``weighted``: whether the Canary's traffic provider splits traffic by weight; one that switches
    it all at once (``kubernetes``) promotes at once, ``stepWeightPromotion`` or not, as Flagger does.
    """
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
        promotion_step=(analysis.stepWeightPromotion or None) if weighted else None,
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


def conditions_of(canary: Canary) -> list[JsonDict]:
    """The Canary's status conditions as the helpers here take them (JSON objects)."""
    return [c.model_dump(mode="json", exclude_none=True) for c in canary.status.conditions]


def well_formed(conditions: Any) -> list[JsonDict]:
    """The entries of a raw ``status.conditions`` that are conditions (a mapping with a type).

    Anything else (a hand edit; the API server's schema would refuse most of
    it) is dropped, so it is repaired by the next write instead of stopping
    the controller.
    """
    if not isinstance(conditions, list):
        return []
    return [c for c in conditions if isinstance(c, dict) and isinstance(c.get("type"), str)]


def condition(
    conditions: Any, type_: str, status: str, reason: str, message: str, now: datetime, generation: int | None
) -> list[JsonDict]:
    """Set one condition (in a raw ``status.conditions``), keeping lastTransitionTime when its status did not change.

    ``generation`` is the spec generation the condition describes: kubectl
    wait (and kstatus) ignore a condition whose observedGeneration is older
    than ``metadata.generation``.
    """
    conditions = well_formed(conditions)
    result = [dict(c) for c in conditions if c.get("type") != type_]
    old = next((c for c in conditions if c.get("type") == type_), None)
    changed = old is None or old.get("status") != status
    written: JsonDict = {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": message,
        "lastUpdateTime": iso(now),
        "lastTransitionTime": iso(now) if changed else old.get("lastTransitionTime") if old else iso(now),
    }
    if generation is not None:
        written["observedGeneration"] = generation
    result.append(written)
    return sorted(result, key=lambda c: str(c["type"]))


def conditions_differ(old: Any, new: list[JsonDict]) -> bool:
    """Whether the conditions changed in anything but their update times (``old`` raw, as read)."""

    def strip(items: Any) -> list[tuple[str, ...]]:
        fields = ("type", "status", "reason", "message", "observedGeneration")
        return sorted(tuple(str(c.get(f)) for f in fields) for c in well_formed(items))

    return strip(old) != strip(new)
