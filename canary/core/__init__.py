"""Pure rollout logic: phases, transitions, weight steps and the decision.

No I/O, no clock, no kopf, no Kubernetes client: callers pass ``now`` in.
"""

from canary.core.decide import (
    ABORTABLE,
    ANALYSING,
    Check,
    Decision,
    Desired,
    Event,
    JudgeSignal,
    Plan,
    PromoteRequest,
    Replicas,
    State,
    World,
    decide,
    desired,
    needs_checks,
    needs_pre_rollout,
    new_revision,
    pending_gate,
)
from canary.core.phases import TERMINAL, TRANSITIONS, IllegalTransition, Phase, can_transition, check_transition
from canary.core.routes import Routes
from canary.core.steps import WeightPlan

__all__ = [
    "ABORTABLE",
    "ANALYSING",
    "TERMINAL",
    "TRANSITIONS",
    "Check",
    "Decision",
    "Desired",
    "Event",
    "IllegalTransition",
    "JudgeSignal",
    "Phase",
    "Plan",
    "PromoteRequest",
    "Replicas",
    "Routes",
    "State",
    "WeightPlan",
    "World",
    "can_transition",
    "check_transition",
    "decide",
    "desired",
    "needs_checks",
    "needs_pre_rollout",
    "new_revision",
    "pending_gate",
]
