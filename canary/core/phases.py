"""Rollout phases (Flagger's names) and the explicit table of allowed transitions."""

from __future__ import annotations

from enum import StrEnum

__all__ = ["TERMINAL", "TRANSITIONS", "IllegalTransition", "Phase", "can_transition", "check_transition"]


class Phase(StrEnum):
    """Where a Canary stands in its rollout; the string values are Flagger's."""

    NEW = ""
    INITIALIZING = "Initializing"
    INITIALIZED = "Initialized"
    WAITING = "Waiting"
    PROGRESSING = "Progressing"
    WAITING_PROMOTION = "WaitingPromotion"
    PROMOTING = "Promoting"
    FINALISING = "Finalising"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"

    def __str__(self) -> str:
        return self.value


# Phases in which no revision is being analysed: a new revision may start here.
TERMINAL = frozenset({Phase.INITIALIZED, Phase.SUCCEEDED, Phase.FAILED})

_START_NEW_REVISION = frozenset({Phase.PROGRESSING, Phase.WAITING, Phase.PROMOTING})

TRANSITIONS: dict[Phase, frozenset[Phase]] = {
    Phase.NEW: frozenset({Phase.INITIALIZING}),
    # The primary may never become ready: that ends in Failed after the deadline.
    Phase.INITIALIZING: frozenset({Phase.INITIALIZED, Phase.FAILED}),
    Phase.INITIALIZED: _START_NEW_REVISION,
    # A confirm-rollout gate holds a new revision here until it opens.
    Phase.WAITING: frozenset({Phase.PROGRESSING, Phase.PROMOTING, Phase.FAILED}),
    Phase.PROGRESSING: frozenset({Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FAILED, Phase.WAITING}),
    # Metrics keep running while a confirm-promotion gate is closed.
    # A new revision mid-rollout restarts the analysis, through Waiting when a confirm-rollout gate is closed.
    Phase.WAITING_PROMOTION: frozenset({Phase.PROMOTING, Phase.FAILED, Phase.PROGRESSING, Phase.WAITING}),
    Phase.PROMOTING: frozenset({Phase.FINALISING, Phase.PROGRESSING, Phase.WAITING}),
    # (a new revision with skipAnalysis set goes straight to Promoting, from here too)
    Phase.FINALISING: frozenset({Phase.SUCCEEDED, Phase.PROGRESSING, Phase.WAITING, Phase.PROMOTING}),
    Phase.SUCCEEDED: _START_NEW_REVISION,
    Phase.FAILED: _START_NEW_REVISION,
    Phase.TERMINATING: frozenset({Phase.TERMINATED}),
    Phase.TERMINATED: frozenset(),
}
# Deleting a Canary may start from any phase but the end of deletion itself.
for _phase in Phase:
    if _phase not in (Phase.TERMINATING, Phase.TERMINATED):
        TRANSITIONS[_phase] = TRANSITIONS[_phase] | {Phase.TERMINATING}


class IllegalTransition(ValueError):
    """The core tried to move between two phases the table does not connect."""


def can_transition(source: Phase, target: Phase) -> bool:
    """Whether ``source -> target`` is an allowed edge (staying put is always allowed)."""
    return source == target or target in TRANSITIONS[source]


def check_transition(source: Phase, target: Phase) -> Phase:
    """Return ``target`` if the edge is allowed, else raise :class:`IllegalTransition`."""
    if not can_transition(source, target):
        raise IllegalTransition(f"phase {source.value or '<new>'} cannot move to {target.value}")
    return target
