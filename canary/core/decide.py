"""The rollout decision as a pure function of what was persisted and what was observed.

One reconcile tick of the controller is::

    observe -> (run checks if :func:`needs_checks`) -> decide -> persist -> converge

:func:`decide` maps (plan, persisted state, observed world, now) to the next
state and the events that explain it. :func:`desired` maps a state to the
world it wants (routes, canary replicas, which template the primary runs);
the shell converges the cluster to it with idempotent writes after the state
is persisted. Because the desired world is derived from the persisted state
alone, a controller killed between any two writes converges to the same end
when it restarts, and a weight only moves backwards on a rollback.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Final, Literal

from canary.core.phases import TERMINAL, Phase, check_transition
from canary.core.routes import Routes
from canary.core.steps import WeightPlan

__all__ = [
    "ABORTABLE",
    "ANALYSING",
    "Check",
    "Decision",
    "Desired",
    "Event",
    "JudgeSignal",
    "Plan",
    "PromoteRequest",
    "Replicas",
    "State",
    "World",
    "decide",
    "desired",
    "needs_checks",
    "needs_pre_rollout",
    "new_revision",
    "pending_gate",
]

#: The phases an abort request (an annotation, a rollback hook) rolls back from: a rollout in flight.
ABORTABLE: Final = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.WAITING})

#: The phases whose ticks run the analysis (checks at the step's weight).
ANALYSING: Final = frozenset({Phase.PROGRESSING, Phase.WAITING_PROMOTION})


@dataclass(frozen=True)
class Plan:
    """What the Canary's spec asks for, reduced to what the decision needs."""

    interval: float  # seconds between analysis ticks
    threshold: int  # failed checks before a rollback
    weights: WeightPlan
    iterations: int | None = None  # A/B testing and blue/green: count passing checks instead of stepping weights
    progress_deadline: float = 600.0
    skip_analysis: bool = False
    suspend: bool = False
    promote_on_pass: bool = False  # a judge "pass" may promote before the last weight step
    ab_testing: bool = False  # iterations with match conditions: matching requests go to the canary
    mirror: bool = False  # blue/green: the canary gets a copy of the primary's traffic during the analysis
    # stepWeightPromotion: once the primary runs the promoted revision, traffic moves back to it this many
    # points an interval (Flagger's); None moves it all at once
    promotion_step: int | None = None


@dataclass(frozen=True)
class State:
    """The persisted part of a Canary's status that the decision reads and writes."""

    phase: Phase = Phase.NEW
    canary_weight: int = 0
    failed_checks: int = 0
    iterations: int = 0
    last_applied_spec: str | None = None
    last_promoted_spec: str | None = None
    last_transition_time: datetime | None = None
    # When the analysis of the current revision last ticked; None before it started.
    last_analysis_time: datetime | None = None
    message: str = ""


@dataclass(frozen=True)
class Check:
    """One metric check's result for this tick; ``reason`` carries the measured values."""

    name: str
    ok: bool
    reason: str
    dry_run: bool = False  # reported only: never a failed check


@dataclass(frozen=True)
class JudgeSignal:
    """The statistical judge's verdict for this tick, and whether it may decide."""

    outcome: Literal["pass", "fail", "inconclusive"]
    reason: str
    decides: bool = True  # False in dryRun: report only


@dataclass(frozen=True)
class PromoteRequest:
    """A request to promote the revision under analysis now, skipping its remaining steps.

    Without ``force`` the revision is promoted once its checks pass on an
    analysis tick (and the confirm-promotion gate, if any, opens); with
    ``force`` at once, its checks skipped. Either way the canary must be ready.
    """

    force: bool = False
    requested_by: str | None = None  # who asked, as the request says (shown in the Events)

    def who(self) -> str:
        """Who asked, for an Event's message."""
        return self.requested_by or "an unnamed requester"


@dataclass(frozen=True)
class World:
    """What the controller observed this tick.

    ``target_hash`` is the hash of the target's pod template (None when the
    target is missing); ``primary_hash`` the hash the primary was last
    rendered from. ``checks`` is None when checks were not run this tick.
    """

    target_hash: str | None
    primary_ready: bool
    primary_hash: str | None
    canary_ready: bool
    checks: tuple[Check, ...] | None = None
    judge: JudgeSignal | None = None
    pre_rollout: Check | None = None  # the pre-rollout hooks' result on the tick that starts the analysis
    rollout_gate_open: bool = True
    traffic_gate_open: bool = True
    promotion_gate_open: bool = True
    abort_requested: bool = False
    retry_requested: bool = False
    promote: PromoteRequest | None = None  # a promote-now request for the revision under analysis
    # Why the routing object does not hold the weight the state says (a route write that did not land:
    # a crash or an API fault between persist and converge); None when it does, or was not looked at.
    misrouted: str | None = None


@dataclass(frozen=True)
class Event:
    """A Kubernetes Event to record on the Canary after the state is persisted."""

    type: Literal["Normal", "Warning"]
    reason: str
    message: str


@dataclass(frozen=True)
class Decision:
    """The next persisted state and the events that explain the move."""

    state: State
    events: tuple[Event, ...] = ()
    previous: State | None = None

    @property
    def changed(self) -> bool:
        """Whether anything must be persisted: the state moved, or something is worth an Event."""
        return bool(self.events) or (self.previous is not None and self.state != self.previous)


class Replicas(StrEnum):
    """What the canary (the target Deployment) should be scaled to."""

    KEEP = "keep"  # leave as the user set it (before initialization)
    UP = "up"  # as many replicas as the primary
    ZERO = "zero"


@dataclass(frozen=True)
class Desired:
    """The world a state wants; converged to with idempotent writes."""

    ensure_primary: bool  # create the primary Deployment, Services and mesh objects if missing
    routes: Routes | None
    canary_replicas: Replicas
    primary_from_target: bool  # render the primary from the target's current template


_ALL_PRIMARY = Routes(primary=100, canary=0)


def _analysis_routes(state: State, plan: Plan | None) -> Routes:
    """Where traffic goes while a revision is analysed, by strategy (Flagger's)."""
    if plan is not None and plan.ab_testing:
        return Routes(primary=0, canary=100)  # on the match route only; everything else stays on the primary
    if plan is not None and plan.iterations:
        return Routes(primary=100, canary=0, mirrored=plan.mirror)  # blue/green: tested beside, not in, the traffic
    return Routes.canary_at(state.canary_weight)


def desired(state: State, plan: Plan | None = None) -> Desired:
    """The world implied by ``state`` and the spec's strategy (nothing else: that is what makes restarts safe)."""
    phase = state.phase
    if phase in (Phase.NEW, Phase.INITIALIZING):
        return Desired(True, _ALL_PRIMARY, Replicas.KEEP, primary_from_target=True)
    if phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
        return Desired(True, _analysis_routes(state, plan), Replicas.UP, primary_from_target=False)
    if phase == Phase.PROMOTING:
        routes = _analysis_routes(state, plan)
        if plan is not None and plan.iterations and not plan.ab_testing:
            routes = Routes(primary=0, canary=100)  # blue/green: the canary serves while the primary is replaced
        if plan is not None and plan.promotion_step:
            # stepping back to the primary: the state's weight is the canary's share left (where A/B
            # testing routes by match, the share of the matching requests)
            routes = Routes.canary_at(state.canary_weight)
        return Desired(True, routes, Replicas.UP, primary_from_target=True)
    if phase == Phase.FINALISING:
        return Desired(True, _ALL_PRIMARY, Replicas.UP, primary_from_target=True)
    if phase in (Phase.TERMINATING, Phase.TERMINATED):
        return Desired(False, None, Replicas.KEEP, primary_from_target=False)
    # Initialized, Waiting, Succeeded, Failed: the primary serves everything.
    return Desired(True, _ALL_PRIMARY, Replicas.ZERO, primary_from_target=False)


def _elapsed(since: datetime | None, now: datetime) -> float:
    return (now - since).total_seconds() if since is not None else 0.0


def _analysis_due(plan: Plan, state: State, now: datetime) -> bool:
    """Whether an analysis interval has passed since the last analysis tick (or there was none).

    A last tick in the future (a controller whose clock is behind the one that
    wrote it) is waited for: running early would also find the judge's window
    ending after now, a tick without evidence.
    """
    last = state.last_analysis_time
    return last is None or _elapsed(last, now) >= plan.interval


def needs_checks(plan: Plan, state: State, world: World, now: datetime) -> bool:
    """Whether this tick must run the metric checks (and feed the judge) before deciding."""
    if plan.suspend or plan.skip_analysis or not world.canary_ready or _forced(world):
        return False
    if state.phase not in ANALYSING:
        return False
    if world.target_hash != state.last_applied_spec:
        return False  # a new revision restarts the analysis instead
    if not _started(state):
        return False  # the first tick only starts the analysis: no traffic reached the canary yet
    if world.misrouted is not None:
        return False  # the traffic of this interval did not run at this step's weight: judge none of it
    return _analysis_due(plan, state, now)


class _Builder:
    """Accumulates one decision: phase moves are checked against the transition table."""

    def __init__(self, state: State, now: datetime) -> None:
        self.original = state
        self.state = state
        self.now = now
        self.events: list[Event] = []

    def move(self, phase: Phase, **fields: object) -> None:
        check_transition(self.state.phase, phase)
        if phase != self.state.phase:
            fields.setdefault("last_transition_time", self.now)
        self.state = replace(self.state, phase=phase, **fields)  # type: ignore[arg-type]

    def update(self, **fields: object) -> None:
        self.state = replace(self.state, **fields)  # type: ignore[arg-type]

    def event(self, message: str, reason: str = "Synced", warning: bool = False) -> None:
        self.events.append(Event("Warning" if warning else "Normal", reason, message))
        self.state = replace(self.state, message=message)

    def done(self) -> Decision:
        return Decision(self.state, tuple(self.events), self.original)


def decide(plan: Plan, state: State, world: World, now: datetime) -> Decision:
    """The next state for one tick, with the events that explain it.

    Raises ValueError when checks were due (see :func:`needs_checks`) but
    ``world.checks`` is None: the shell must run them first.
    """
    b = _Builder(state, now)
    if plan.suspend:
        return b.done()
    if world.target_hash is None:
        if state.message != "target not found":
            b.event("target not found", reason="TargetMissing", warning=True)
        return b.done()

    phase = state.phase
    if phase == Phase.NEW:
        b.move(Phase.INITIALIZING)
        b.event("initialization started: creating the primary deployment", reason="Initializing")
        return b.done()

    if phase == Phase.INITIALIZING:
        _initializing(b, plan, world)
        return b.done()

    if phase in (Phase.TERMINATING, Phase.TERMINATED):
        return b.done()

    if new_revision(state, world):
        _start_revision(b, plan, world, restart=phase not in TERMINAL)
        return b.done()
    if phase == Phase.FAILED and world.retry_requested:
        b.move(Phase.PROGRESSING, canary_weight=0, failed_checks=0, iterations=0, last_analysis_time=None)
        b.event("retrying the analysis of the failed revision, as requested", reason="Progressing")
        return b.done()
    if phase in TERMINAL:
        return b.done()

    if world.abort_requested and phase in ABORTABLE:
        _roll_back(b, "rollout aborted by request")
        return b.done()

    if phase == Phase.WAITING:
        if world.rollout_gate_open:
            b.move(Phase.PROGRESSING, last_analysis_time=None)
            b.event("confirm-rollout gate opened: starting the analysis", reason="Progressing")
        return b.done()

    if phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION):
        _progress(b, plan, world)
    elif phase == Phase.PROMOTING:
        _promoting(b, plan, world)
    elif phase == Phase.FINALISING:
        b.move(Phase.SUCCEEDED, canary_weight=0, last_promoted_spec=state.last_applied_spec)
        b.event("promotion completed: the canary is scaled to zero", reason="Succeeded")
    return b.done()


def _initializing(b: _Builder, plan: Plan, world: World) -> None:
    """The first primary becomes ready (Initialized), or the progress deadline passes (Failed)."""
    if world.primary_ready and world.primary_hash == world.target_hash:
        b.move(
            Phase.INITIALIZED,
            canary_weight=0,
            last_applied_spec=world.target_hash,
            last_promoted_spec=world.target_hash,
        )
        b.event("initialization done: the primary serves all traffic", reason="Initialized")
    elif _elapsed(b.state.last_transition_time, b.now) >= plan.progress_deadline:
        # Recorded as applied, so this revision is not mistaken for a new one to roll out.
        b.move(Phase.FAILED, last_applied_spec=world.target_hash)
        b.event(
            f"the primary deployment did not become ready within {plan.progress_deadline:g}s",
            reason="ProgressDeadlineExceeded",
            warning=True,
        )


def _promoting(b: _Builder, plan: Plan, world: World) -> None:
    """Once the primary runs the analysed revision: traffic back to it (at once, or by stepWeightPromotion)."""
    state = b.state
    if world.primary_ready and world.primary_hash == state.last_applied_spec:
        if plan.promotion_step:
            _step_promotion(b, plan)
        else:
            b.move(Phase.FINALISING)
            b.event("the primary runs the new revision: routing all traffic to the primary", reason="Finalising")
    elif _elapsed(_last_progress(state, b.now), b.now) >= plan.progress_deadline:
        # No rollback from here: the primary already runs the new template, so routing "back" to
        # it would be no rollback at all. Hold, keep the canary serving, and say so once.
        stuck = f"the promoted primary is not ready after {plan.progress_deadline:g}s: holding in Promoting"
        if state.message != stuck:
            b.event(stuck, reason="PromotionStalled", warning=True)


def new_revision(state: State, world: World) -> bool:
    """Whether this tick starts the rollout of a revision other than the one last applied (after the first).

    The decision restarts the analysis then, and the shell asks the
    confirm-rollout gate for it; an abort or a retry is for the revision
    under analysis only, so neither applies. Initialization adopts the first
    revision without a rollout, a terminating Canary moves no more, and
    without a target there is no revision.
    """
    if world.target_hash is None or state.phase in (Phase.NEW, Phase.INITIALIZING, Phase.TERMINATING, Phase.TERMINATED):
        return False
    return world.target_hash != state.last_applied_spec


def _start_revision(b: _Builder, plan: Plan, world: World, restart: bool) -> None:
    fresh = {"canary_weight": 0, "failed_checks": 0, "iterations": 0, "last_analysis_time": None}
    prefix = "revision changed during the rollout, restarting the analysis" if restart else "new revision detected"
    if plan.skip_analysis:
        b.move(Phase.PROMOTING, last_applied_spec=world.target_hash, **fresh)
        b.event(f"{prefix}: skipAnalysis is set, promoting without analysis", reason="Promoting")
    elif not world.rollout_gate_open:
        b.move(Phase.WAITING, last_applied_spec=world.target_hash, **fresh)
        b.event(f"{prefix}: waiting for the confirm-rollout gate", reason="Waiting")
    else:
        b.move(Phase.PROGRESSING, last_applied_spec=world.target_hash, **fresh)
        b.event(f"{prefix}: scaling up the canary", reason="Progressing")


def _roll_back(b: _Builder, why: str, reason: str = "RolledBack") -> None:
    """Move to Failed; ``reason`` (the Event's) tells the cause apart for alerts and dashboards."""
    b.move(Phase.FAILED, canary_weight=0)
    b.event(f"rolling back: {why}; all traffic on the primary, canary scaled to zero", reason=reason, warning=True)


def _progress(b: _Builder, plan: Plan, world: World) -> None:
    """One tick of an analysis (Progressing, WaitingPromotion): hold, judge, advance or promote."""
    state = b.state
    if not world.canary_ready:
        _canary_not_ready(b, plan)
        return
    if plan.skip_analysis:
        _promote(b, plan)
        b.event("skipAnalysis is set: promoting", reason="Promoting")
        return
    if world.promote is not None and world.promote.force:
        _promote(b, plan)
        b.event(
            f"promotion forced by {world.promote.who()}: skipping the remaining steps and the checks",
            reason="PromotionForced",
            warning=True,
        )
        return
    if world.misrouted is not None and _started(state):
        # The step's weight never took effect: the shell writes it after this decision, and the step's
        # analysis interval starts then, so every check of the step covers traffic at its weight.
        b.update(last_analysis_time=b.now)
        repairing = f"{world.misrouted}: routing the step's weight again; its analysis starts once it holds"
        if state.message != repairing:
            b.event(repairing, reason="RoutesRepaired", warning=True)
        return
    if not _analysis_due(plan, state, b.now):
        return
    if not _started(state):
        _start_analysis(b, plan, world)
        return
    if world.checks is None:
        raise ValueError("checks are due this tick but were not run")
    b.update(last_analysis_time=b.now)
    if not _failed(b, plan, world):
        _passed(b, plan, world, world.checks)


def _canary_not_ready(b: _Builder, plan: Plan) -> None:
    """Wait for the canary's pods, until the progress deadline (then roll back)."""
    if _elapsed(_last_progress(b.state, b.now), b.now) >= plan.progress_deadline:
        _roll_back(
            b,
            f"the canary did not become ready within progressDeadlineSeconds ({plan.progress_deadline:g}s)",
            reason="ProgressDeadlineExceeded",
        )
    elif b.state.message != "waiting for the canary deployment to become ready":
        b.event("waiting for the canary deployment to become ready", reason="Waiting")


def _failed(b: _Builder, plan: Plan, world: World) -> bool:
    """A judge that found a regression, or failed checks (dry-run ones aside): hold or roll back; True if so."""
    judge = world.judge
    if judge is not None and judge.decides and judge.outcome == "fail":
        _roll_back(b, f"the judge found a regression: {judge.reason}")
        return True
    failed = [c for c in world.checks or () if not c.ok and not c.dry_run]
    if not failed:
        return False
    count = b.state.failed_checks + 1
    b.update(failed_checks=count)
    reasons = "; ".join(c.reason for c in failed)
    if count >= plan.threshold:
        _roll_back(b, f"failed checks threshold reached {count}/{plan.threshold} ({reasons})", reason="FailedChecks")
    else:
        b.event(
            f"halting advancement, failed checks {count}/{plan.threshold}: {reasons}", reason="Halted", warning=True
        )
    return True


def _passed(b: _Builder, plan: Plan, world: World, checks: tuple[Check, ...]) -> None:
    """The checks passed: promote (last step, judge's early pass, a promote request), iterate, or step up."""
    state, judge, requested = b.state, world.judge, world.promote
    passed = "; ".join(c.reason for c in checks) or "no checks configured"
    early = judge is not None and judge.decides and judge.outcome == "pass" and plan.promote_on_pass
    finished = _at_last_step(plan, state)
    if finished or early or requested is not None:
        why = f"the judge found no meaningful regression: {judge.reason}" if early and judge else "all checks passed"
        if requested is not None and not finished and not early:
            why = f"promotion requested by {requested.who()}: its checks passed"
        if not world.promotion_gate_open:
            if state.phase != Phase.WAITING_PROMOTION:
                b.move(Phase.WAITING_PROMOTION)
                b.event(f"{why}; waiting for the confirm-promotion gate", reason="WaitingPromotion")
            return
        _promote(b, plan)
        b.event(f"{why} ({passed}): promoting the canary to the primary", reason="Promoting")
        return
    if plan.iterations:
        b.update(iterations=state.iterations + 1)
        b.event(f"iteration {state.iterations}/{plan.iterations} passed: {passed}", reason="Progressing")
        return
    weight = plan.weights.next_weight(state.canary_weight)
    if not world.traffic_gate_open:
        waiting = f"checks passed; waiting for the confirm-traffic-increase gate before weight {weight}"
        if state.message != waiting:
            b.event(waiting, reason="Waiting")
        return
    b.update(canary_weight=weight)
    b.event(f"advancing the canary weight to {weight} ({passed})", reason="Progressing")


def _last_progress(state: State, now: datetime) -> datetime:
    """The last sign of progress a deadline counts from: the phase change or the last analysis (or promotion) tick."""
    marks = [t for t in (state.last_transition_time, state.last_analysis_time) if t is not None]
    return max(marks) if marks else now


def _promote(b: _Builder, plan: Plan) -> None:
    """Move to Promoting (the primary gets the canary's template); with ``promotion_step``, from the
    canary's share of the analysis routes, which blue/green and A/B testing hold at 100 when promoting."""
    if plan.promotion_step and plan.iterations:
        b.move(Phase.PROMOTING, canary_weight=100)
    else:
        b.move(Phase.PROMOTING)


def _step_promotion(b: _Builder, plan: Plan) -> None:
    """One interval of stepWeightPromotion: the primary, running the new revision, takes another step.

    As Flagger's ``runPromotionTrafficShift``: the canary's weight drops by the
    step each interval; once the primary has all the traffic the promotion
    finalises. The steps are spaced by the analysis interval, counted from the
    tick that promoted.
    """
    assert plan.promotion_step
    state = b.state
    if not _analysis_due(plan, state, b.now):
        return
    weight = max(state.canary_weight - plan.promotion_step, 0)
    if weight == 0:
        b.move(Phase.FINALISING)
        b.event("the primary runs the new revision: primary weight 100, finalising", reason="Finalising")
        return
    b.update(canary_weight=weight, last_analysis_time=b.now)
    b.event(f"the primary runs the new revision: advancing the primary weight to {100 - weight}", reason="Promoting")


def _started(state: State) -> bool:
    """Whether the current revision's analysis has begun (Flagger: weight or iterations above 0)."""
    return state.canary_weight > 0 or state.iterations > 0


def _at_last_step(plan: Plan, state: State) -> bool:
    if plan.iterations:
        return state.iterations >= plan.iterations
    return plan.weights.is_last(state.canary_weight)


def _start_analysis(b: _Builder, plan: Plan, world: World) -> None:
    """The first analysis tick: pre-rollout hooks, then the first step (no traffic was judged yet)."""
    state = b.state
    b.update(last_analysis_time=b.now)
    if world.pre_rollout is not None and not world.pre_rollout.ok:
        count = state.failed_checks + 1
        b.update(failed_checks=count)
        why = f"pre-rollout check failed {count}/{plan.threshold}: {world.pre_rollout.reason}"
        if count >= plan.threshold:
            _roll_back(b, why)
        else:
            b.event(why, reason="Halted", warning=True)
        return
    if plan.iterations:
        b.update(iterations=1)
        b.event(f"starting the analysis: iteration 1/{plan.iterations}", reason="Progressing")
        return
    weight = plan.weights.next_weight(0)
    b.update(canary_weight=weight)
    b.event(f"starting the analysis: canary weight {weight}", reason="Progressing")


def pending_gate(plan: Plan, state: State, promote_requested: bool = False) -> Literal["traffic", "promotion"]:
    """Which confirm gate the next passing check would ask: another weight step, or promotion.

    ``promote_requested``: a promote-now request skips the remaining steps, so promotion.
    """
    at_top = state.phase == Phase.WAITING_PROMOTION or _at_last_step(plan, state)
    return "promotion" if at_top or promote_requested else "traffic"


def _forced(world: World) -> bool:
    return world.promote is not None and world.promote.force


def needs_pre_rollout(plan: Plan, state: State, world: World, now: datetime) -> bool:
    """Whether this tick starts the analysis, so the pre-rollout hooks must run first."""
    if plan.suspend or plan.skip_analysis or not world.canary_ready or state.phase != Phase.PROGRESSING:
        return False
    if _forced(world):
        return False
    if world.target_hash != state.last_applied_spec or _started(state):
        return False
    return _analysis_due(plan, state, now)
