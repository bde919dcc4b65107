"""The pure decision: a whole rollout walked tick by tick without a cluster."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from canary.core import (
    Check,
    JudgeSignal,
    Phase,
    Plan,
    PromoteRequest,
    Replicas,
    Routes,
    State,
    WeightPlan,
    World,
    decide,
    desired,
    needs_checks,
    needs_pre_rollout,
    new_revision,
    pending_gate,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PLAN = Plan(interval=60, threshold=2, weights=WeightPlan((20, 40, 60)), progress_deadline=600)
OK = (Check("request-success-rate", True, "request-success-rate 99.9 % >= 99 %"),)
BAD = (Check("request-success-rate", False, "request-success-rate 97.2 % < 99 %"),)


def world(target: str = "v2", primary: str = "v1", canary_ready: bool = True, **kw: object) -> World:
    return World(target_hash=target, primary_ready=True, primary_hash=primary, canary_ready=canary_ready, **kw)  # type: ignore[arg-type]


class Walker:
    """Feeds ticks one interval apart, running checks when the core asks for them."""

    def __init__(self, plan: Plan = PLAN, state: State | None = None) -> None:
        self.plan = plan
        self.state = state or State(
            phase=Phase.SUCCEEDED, last_applied_spec="v1", last_promoted_spec="v1", last_transition_time=T0
        )
        self.now = T0
        self.events: list[str] = []
        self.weights: list[int] = []

    def tick(self, w: World, checks: tuple[Check, ...] = OK, judge: JudgeSignal | None = None) -> State:
        self.now += timedelta(seconds=self.plan.interval)
        if needs_checks(self.plan, self.state, w, self.now):
            w = replace(w, checks=checks, judge=judge)
        decision = decide(self.plan, self.state, w, self.now)
        self.state = decision.state
        self.events += [e.message for e in decision.events]
        self.weights.append(self.state.canary_weight)
        return self.state


def test_initialization_creates_primary_then_initializes() -> None:
    walker = Walker(state=State())
    assert walker.tick(World("v1", False, None, False)).phase == Phase.INITIALIZING
    assert desired(walker.state).ensure_primary
    assert desired(walker.state).canary_replicas == Replicas.KEEP
    assert walker.tick(World("v1", False, "v1", False)).phase == Phase.INITIALIZING
    state = walker.tick(World("v1", True, "v1", False))
    assert state.phase == Phase.INITIALIZED
    assert state.last_applied_spec == state.last_promoted_spec == "v1"
    assert desired(state).canary_replicas == Replicas.ZERO
    assert desired(state).routes == Routes(100, 0)


def test_healthy_rollout_walks_every_step_then_promotes() -> None:
    walker = Walker()
    phases = [walker.tick(world()).phase for _ in range(5)]
    # new revision, start at 20, pass -> 40, pass -> 60, pass at the top -> promote
    assert phases == [Phase.PROGRESSING] * 4 + [Phase.PROMOTING]
    assert walker.weights == [0, 20, 40, 60, 60]
    assert walker.tick(world(primary="v2")).phase == Phase.FINALISING
    assert desired(walker.state).routes == Routes(100, 0)
    final = walker.tick(world(primary="v2"))
    assert final.phase == Phase.SUCCEEDED
    assert final.last_promoted_spec == "v2"
    assert desired(final).canary_replicas == Replicas.ZERO


def test_promotion_waits_for_the_primary_to_run_the_new_revision() -> None:
    walker = Walker()
    for _ in range(6):
        walker.tick(world())
    assert walker.state.phase == Phase.PROMOTING
    assert desired(walker.state).primary_from_target
    assert walker.tick(world(primary="v1")).phase == Phase.PROMOTING


def test_failed_checks_reach_the_threshold_and_roll_back() -> None:
    walker = Walker()
    walker.tick(world())  # new revision
    walker.tick(world())  # analysis starts at the first step
    assert walker.tick(world(), checks=BAD).phase == Phase.PROGRESSING
    assert walker.state.failed_checks == 1
    assert walker.state.canary_weight == 20  # a failed check halts advancement
    state = walker.tick(world(), checks=BAD)
    assert state.phase == Phase.FAILED
    assert desired(state).routes == Routes(100, 0)
    assert desired(state).canary_replicas == Replicas.ZERO
    assert "request-success-rate 97.2 % < 99 %" in walker.events[-1]


def test_a_failed_revision_stays_failed_until_a_new_one() -> None:
    walker = Walker(state=State(phase=Phase.FAILED, last_applied_spec="v2", last_promoted_spec="v1"))
    assert walker.tick(world()).phase == Phase.FAILED
    assert walker.tick(world(target="v3")).phase == Phase.PROGRESSING


def test_checks_are_not_run_before_the_interval_has_passed() -> None:
    walker = Walker()
    walker.tick(world())
    walker.tick(world())
    early = walker.now + timedelta(seconds=10)
    assert not needs_checks(PLAN, walker.state, world(), early)
    assert needs_checks(PLAN, walker.state, world(), walker.now + timedelta(seconds=60))
    with pytest.raises(ValueError, match="not run"):
        decide(PLAN, walker.state, world(), walker.now + timedelta(seconds=60))


def test_revision_change_mid_rollout_restarts_the_analysis() -> None:
    walker = Walker()
    for _ in range(3):
        walker.tick(world())
    assert walker.state.canary_weight == 40
    state = walker.tick(world(target="v3"))
    assert state.phase == Phase.PROGRESSING
    assert state.canary_weight == 0
    assert state.last_applied_spec == "v3"
    assert "restarting" in walker.events[-1]


def test_canary_never_ready_fails_after_the_progress_deadline() -> None:
    plan = replace(PLAN, progress_deadline=300)
    walker = Walker(plan=plan)
    phases = [walker.tick(world(canary_ready=False)).phase for _ in range(7)]
    assert phases[:5] == [Phase.PROGRESSING] * 5
    assert phases[-1] == Phase.FAILED
    assert "progressDeadlineSeconds" in walker.events[-1]


def test_skip_analysis_promotes_a_new_revision_directly() -> None:
    walker = Walker(plan=replace(PLAN, skip_analysis=True))
    assert walker.tick(world()).phase == Phase.PROMOTING


@pytest.mark.parametrize("during", [Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.PROMOTING, Phase.FINALISING])
def test_skip_analysis_promotes_a_revision_that_arrives_during_a_rollout(during: Phase) -> None:
    plan = replace(PLAN, skip_analysis=True)
    state = State(phase=during, last_applied_spec="v2", last_promoted_spec="v1", last_transition_time=T0)
    walker = Walker(plan=plan, state=state)
    after = walker.tick(world(target="v3", primary="v2" if during == Phase.FINALISING else "v1"))
    assert after.phase == Phase.PROMOTING
    assert after.last_applied_spec == "v3"
    assert walker.events == ["revision changed during the rollout, restarting the analysis: skipAnalysis is set,"
                             " promoting without analysis"]  # fmt: skip


def test_suspend_changes_nothing() -> None:
    walker = Walker(plan=replace(PLAN, suspend=True))
    before = walker.state
    assert walker.tick(world()) == before
    assert walker.events == []


def test_iterations_count_passing_checks_at_weight_zero() -> None:
    walker = Walker(plan=replace(PLAN, iterations=3))
    phases = [walker.tick(world()).phase for _ in range(5)]
    assert phases == [Phase.PROGRESSING] * 4 + [Phase.PROMOTING]
    assert set(walker.weights) == {0}


def test_ab_testing_sends_the_matching_requests_to_the_canary_during_the_analysis() -> None:
    plan = replace(PLAN, iterations=3, ab_testing=True)
    walker = Walker(plan=plan)
    walker.tick(world())
    state = walker.tick(world())
    assert desired(state, plan).routes == Routes(0, 100)
    assert desired(replace(state, phase=Phase.SUCCEEDED), plan).routes == Routes(100, 0)


def test_blue_green_mirrors_during_the_analysis_and_serves_from_the_canary_while_promoting() -> None:
    plan = replace(PLAN, iterations=2, mirror=True)
    analysing = State(phase=Phase.PROGRESSING, iterations=1)
    assert desired(analysing, plan).routes == Routes(100, 0, mirrored=True)
    assert desired(replace(analysing, phase=Phase.PROMOTING), plan).routes == Routes(0, 100)


def test_a_primary_that_never_initializes_fails_without_starting_a_rollout() -> None:
    walker = Walker(plan=replace(PLAN, progress_deadline=120), state=State())
    phases = [walker.tick(World("v1", False, None, False)).phase for _ in range(5)]
    assert Phase.FAILED in phases
    assert phases[-1] == Phase.FAILED  # not "new revision detected"


def test_a_stalled_promotion_holds_instead_of_rolling_back_to_the_new_template() -> None:
    walker = Walker(plan=replace(PLAN, progress_deadline=120))
    for _ in range(5):
        walker.tick(world())
    assert walker.state.phase == Phase.PROMOTING
    phases = [walker.tick(world(primary="v1")).phase for _ in range(4)]
    assert set(phases) == {Phase.PROMOTING}
    assert "holding in Promoting" in walker.events[-1]


def test_judge_failure_rolls_back_at_once_and_pass_may_promote_early() -> None:
    walker = Walker()
    walker.tick(world())
    walker.tick(world())
    fail = JudgeSignal("fail", "error rate +0.9 pp")
    assert walker.tick(world(), judge=fail).phase == Phase.FAILED
    assert "error rate +0.9 pp" in walker.events[-1]

    early = Walker(plan=replace(PLAN, promote_on_pass=True))
    early.tick(world())
    early.tick(world())
    assert early.tick(world(), judge=JudgeSignal("pass", "no regression")).phase == Phase.PROMOTING


def test_dry_run_judge_never_decides() -> None:
    walker = Walker(plan=replace(PLAN, promote_on_pass=True))
    walker.tick(world())
    walker.tick(world())
    state = walker.tick(world(), judge=JudgeSignal("fail", "regression", decides=False))
    assert state.phase == Phase.PROGRESSING
    assert state.canary_weight == 40


def test_confirm_promotion_gate_holds_in_waiting_promotion_with_metrics_running() -> None:
    walker = Walker()
    for _ in range(4):
        walker.tick(world())
    state = walker.tick(world(promotion_gate_open=False))
    assert state.phase == Phase.WAITING_PROMOTION
    assert needs_checks(PLAN, state, world(), walker.now + timedelta(seconds=60))
    assert walker.tick(world(promotion_gate_open=False), checks=BAD).failed_checks == 1
    assert walker.tick(world()).phase == Phase.PROMOTING


def test_weights_never_move_backwards_except_on_rollback() -> None:
    walker = Walker()
    script = [OK, OK, BAD, OK, OK, OK]
    for checks in script:
        walker.tick(world(), checks=checks)
    assert walker.weights == sorted(walker.weights)


def test_desired_world_follows_the_phase() -> None:
    progressing = State(phase=Phase.PROGRESSING, canary_weight=40)
    assert desired(progressing).routes == Routes(60, 40)
    assert desired(progressing).canary_replicas == Replicas.UP
    assert not desired(progressing).primary_from_target


def test_pre_rollout_failure_counts_as_a_failed_check_and_holds_the_start() -> None:
    walker = Walker()
    walker.tick(world())  # new revision
    bad = Check("pre-rollout", False, "pre-rollout hook smoke-test: 500 boom")
    state = walker.tick(world(pre_rollout=bad))
    assert (state.phase, state.canary_weight, state.failed_checks) == (Phase.PROGRESSING, 0, 1)
    assert "smoke-test" in walker.events[-1]
    assert needs_pre_rollout(PLAN, state, world(), walker.now + timedelta(seconds=60))
    assert walker.tick(world(pre_rollout=Check("pre-rollout", True, "ok"))).canary_weight == 20
    state = Walker(plan=replace(PLAN, threshold=1))
    state.tick(world())
    assert state.tick(world(pre_rollout=bad)).phase == Phase.FAILED


def test_confirm_traffic_increase_holds_the_weight_without_failing() -> None:
    walker = Walker()
    walker.tick(world())
    walker.tick(world())
    assert pending_gate(PLAN, walker.state) == "traffic"
    state = walker.tick(world(traffic_gate_open=False))
    assert (state.canary_weight, state.failed_checks) == (20, 0)
    assert "confirm-traffic-increase" in walker.events[-1]
    assert walker.tick(world()).canary_weight == 40


def test_retry_runs_the_failed_revision_again() -> None:
    walker = Walker(state=State(phase=Phase.FAILED, last_applied_spec="v2", last_promoted_spec="v1", failed_checks=2))
    state = walker.tick(world(retry_requested=True))
    assert (state.phase, state.failed_checks, state.canary_weight) == (Phase.PROGRESSING, 0, 0)
    assert state.last_applied_spec == "v2"


def test_each_rollback_names_its_cause_in_the_event_reason() -> None:
    analysing = State(
        phase=Phase.PROGRESSING, canary_weight=20, failed_checks=1, last_applied_spec="v2",
        last_transition_time=T0, last_analysis_time=T0,
    )  # fmt: skip
    later = T0 + timedelta(seconds=60)
    failed = decide(PLAN, analysing, replace(world(), checks=BAD), later)
    assert (failed.state.phase, [e.reason for e in failed.events]) == (Phase.FAILED, ["FailedChecks"])
    stuck = decide(PLAN, analysing, world(canary_ready=False), T0 + timedelta(seconds=601))
    assert (stuck.state.phase, [e.reason for e in stuck.events]) == (Phase.FAILED, ["ProgressDeadlineExceeded"])
    aborted = decide(PLAN, analysing, world(abort_requested=True), later)
    assert [e.reason for e in aborted.events] == ["RolledBack"]


def test_a_new_revision_is_one_after_the_first_that_the_decision_will_roll_out() -> None:
    running = State(phase=Phase.PROGRESSING, canary_weight=20, last_applied_spec="v1")
    assert new_revision(running, world(target="v2"))
    assert not new_revision(running, world(target="v1"))
    assert not new_revision(running, world(target=None))  # type: ignore[arg-type]
    for first in (Phase.NEW, Phase.INITIALIZING):  # initialization adopts the first revision
        assert not new_revision(State(phase=first), world(target="v1"))
    assert decide(PLAN, running, world(target="v2"), T0).state.last_applied_spec == "v2"


def test_a_step_whose_weight_never_reached_the_routes_is_held_and_its_interval_restarts() -> None:
    at_40 = State(
        phase=Phase.PROGRESSING,
        canary_weight=40,
        last_applied_spec="v2",
        last_promoted_spec="v1",
        last_transition_time=T0,
        last_analysis_time=T0,
    )
    later = T0 + timedelta(seconds=PLAN.interval * 2)
    misrouted = world(misrouted="the routing object sends 20% to the canary where the step says 40%")
    assert not needs_checks(PLAN, at_40, misrouted, later)  # that interval's traffic ran at 20 %: judge none of it
    decision = decide(PLAN, at_40, misrouted, later)
    assert decision.state.canary_weight == 40  # neither advanced nor stepped back
    assert decision.state.last_analysis_time == later  # the step's interval starts when its weight is written
    assert decision.state.failed_checks == 0
    [event] = decision.events
    assert (event.type, event.reason) == ("Warning", "RoutesRepaired")
    assert "20%" in event.message and "40%" in event.message
    again = decide(PLAN, decision.state, misrouted, later + timedelta(seconds=5))
    assert again.events == ()  # said once while it lasts
    assert again.state.last_analysis_time == later + timedelta(seconds=5)
    held = world()
    assert not needs_checks(PLAN, again.state, held, later + timedelta(seconds=30))
    assert needs_checks(PLAN, again.state, held, later + timedelta(seconds=5 + PLAN.interval))


# stepWeightPromotion: after the template copy, traffic moves back to the primary step by step (Flagger's
# runPromotionTrafficShift), one step an interval once the primary runs the new revision and is ready.

STEPPED = replace(PLAN, promotion_step=25)


def _promoting(plan: Plan) -> Walker:
    walker = Walker(plan=plan)
    while walker.state.phase != Phase.PROMOTING:
        walker.tick(world())
    return walker


def test_stepped_promotion_moves_traffic_back_to_the_primary_an_interval_at_a_time() -> None:
    walker = _promoting(STEPPED)
    assert walker.state.canary_weight == 60
    assert desired(walker.state, STEPPED).routes == Routes(40, 60)  # the template copy first, at the top weight
    assert walker.tick(world(primary="v1")).canary_weight == 60  # the primary still runs the old revision
    phases = [walker.tick(world(primary="v2")).phase for _ in range(4)]
    assert phases == [Phase.PROMOTING, Phase.PROMOTING, Phase.FINALISING, Phase.SUCCEEDED]
    assert walker.weights[-4:] == [35, 10, 10, 0]
    assert walker.events[-4:-2] == [
        "the primary runs the new revision: advancing the primary weight to 65",
        "the primary runs the new revision: advancing the primary weight to 90",
    ]
    assert "primary weight 100, finalising" in walker.events[-2]
    assert walker.state.last_promoted_spec == "v2"


def test_each_promotion_step_routes_what_the_state_says() -> None:
    walker = _promoting(STEPPED)
    walker.tick(world(primary="v2"))
    want = desired(walker.state, STEPPED)
    assert (want.routes, want.canary_replicas, want.primary_from_target) == (Routes(65, 35), Replicas.UP, True)


def test_a_promotion_step_waits_for_the_interval() -> None:
    walker = _promoting(STEPPED)
    now = walker.now + timedelta(seconds=10)
    assert decide(STEPPED, walker.state, world(primary="v2"), now).state == walker.state


def test_a_promotion_step_waits_for_the_primary_to_be_ready() -> None:
    walker = _promoting(STEPPED)
    walker.tick(world(primary="v2"))
    unready = replace(world(primary="v2"), primary_ready=False)
    assert walker.tick(unready).canary_weight == 35
    assert walker.tick(world(primary="v2")).canary_weight == 10


def test_a_stalled_stepped_promotion_counts_its_deadline_from_the_last_step() -> None:
    walker = _promoting(replace(STEPPED, progress_deadline=120))
    walker.tick(world(primary="v2"))
    unready = replace(world(primary="v2"), primary_ready=False)
    walker.tick(unready)
    assert not any("holding in Promoting" in e for e in walker.events)
    walker.tick(unready)
    assert "holding in Promoting" in walker.events[-1]
    assert walker.state.phase == Phase.PROMOTING and walker.state.canary_weight == 35


@pytest.mark.parametrize("ab_testing", [False, True])
def test_blue_green_and_ab_testing_step_back_from_all_traffic_on_the_canary(ab_testing: bool) -> None:
    plan = replace(PLAN, iterations=2, ab_testing=ab_testing, promotion_step=50)
    walker = _promoting(plan)
    assert walker.state.canary_weight == 100
    assert desired(walker.state, plan).routes == Routes(0, 100)
    assert walker.tick(world(primary="v2")).canary_weight == 50
    assert desired(walker.state, plan).routes == Routes(50, 50)
    assert walker.tick(world(primary="v2")).phase == Phase.FINALISING
    assert desired(walker.state, plan).routes == Routes(100, 0)


def test_a_step_larger_than_the_canary_weight_finalises_at_once() -> None:
    plan = replace(PLAN, promotion_step=100)
    walker = _promoting(plan)
    assert walker.tick(world(primary="v2")).phase == Phase.FINALISING


def test_skip_analysis_with_stepped_promotion_has_no_traffic_to_step_back() -> None:
    plan = replace(STEPPED, skip_analysis=True)
    walker = Walker(plan=plan)
    assert walker.tick(world()).phase == Phase.PROMOTING
    assert desired(walker.state, plan).routes == Routes(100, 0)
    assert walker.tick(world(primary="v2")).phase == Phase.FINALISING


def test_a_new_revision_during_a_stepped_promotion_restarts_the_analysis() -> None:
    walker = _promoting(STEPPED)
    walker.tick(world(primary="v2"))
    state = walker.tick(world(target="v3", primary="v2"))
    assert (state.phase, state.canary_weight, state.last_applied_spec) == (Phase.PROGRESSING, 0, "v3")


# A dryRun metric is measured and reported like any check, and never counts as a failed one.

DRY_BAD = Check("latency", False, "latency 700 ms > 500 ms (dry run)", dry_run=True)


def test_a_failing_dry_run_check_never_halts_nor_rolls_back() -> None:
    walker = Walker()
    walker.tick(world())
    walker.tick(world())
    for _ in range(3):
        walker.tick(world(), checks=(*OK, DRY_BAD))
    assert walker.state.phase == Phase.PROMOTING
    assert walker.state.failed_checks == 0
    assert "latency 700 ms > 500 ms (dry run)" in walker.events[-2]  # the step's Event shows it


def test_a_dry_run_check_does_not_excuse_a_failing_one() -> None:
    walker = Walker()
    walker.tick(world())
    walker.tick(world())
    state = walker.tick(world(), checks=(*BAD, DRY_BAD))
    assert (state.phase, state.failed_checks) == (Phase.PROGRESSING, 1)
    assert "(dry run)" not in walker.events[-1]  # the halt names only what counted


# Promote now: a request skips the remaining steps; checked, once the checks pass; forced, at once.


def _analysing(plan: Plan = PLAN) -> Walker:
    walker = Walker(plan=plan)
    walker.tick(world())  # new revision
    walker.tick(world())  # the analysis starts at the first step
    assert (walker.state.phase, walker.state.canary_weight) == (Phase.PROGRESSING, 20)
    return walker


def test_a_promote_request_promotes_once_the_checks_pass() -> None:
    walker = _analysing()
    asked = world(promote=PromoteRequest(requested_by="alice"))
    assert needs_checks(walker.plan, walker.state, asked, walker.now + timedelta(seconds=60))
    state = walker.tick(asked)
    assert (state.phase, state.canary_weight) == (Phase.PROMOTING, 20)
    assert walker.events[-1].startswith("promotion requested by alice: its checks passed")


def test_a_promote_request_waits_for_passing_checks() -> None:
    walker = _analysing()
    asked = world(promote=PromoteRequest(requested_by="alice"))
    state = walker.tick(asked, checks=BAD)
    assert (state.phase, state.failed_checks) == (Phase.PROGRESSING, 1)
    assert walker.tick(asked).phase == Phase.PROMOTING


def test_a_promote_request_still_asks_the_confirm_promotion_gate() -> None:
    walker = _analysing()
    assert pending_gate(walker.plan, walker.state) == "traffic"
    assert pending_gate(walker.plan, walker.state, promote_requested=True) == "promotion"
    closed = world(promote=PromoteRequest(), promotion_gate_open=False)
    assert walker.tick(closed).phase == Phase.WAITING_PROMOTION
    assert walker.tick(world(promote=PromoteRequest())).phase == Phase.PROMOTING


def test_a_forced_promotion_skips_the_checks_with_a_warning_naming_who_asked() -> None:
    walker = _analysing()
    forced = world(promote=PromoteRequest(force=True, requested_by="alice"))
    now = walker.now + timedelta(seconds=5)  # not even an analysis interval later
    assert not needs_checks(walker.plan, walker.state, forced, now)
    decision = decide(walker.plan, walker.state, replace(forced, promotion_gate_open=False), now)
    assert decision.state.phase == Phase.PROMOTING
    (event,) = decision.events
    assert (event.type, event.reason) == ("Warning", "PromotionForced")
    assert "forced by alice" in event.message


def test_a_forced_promotion_waits_for_the_canary_to_be_ready() -> None:
    walker = _analysing()
    forced = world(canary_ready=False, promote=PromoteRequest(force=True))
    assert walker.tick(forced).phase == Phase.PROGRESSING
    assert walker.tick(replace(forced, canary_ready=True)).phase == Phase.PROMOTING
    assert "an unnamed requester" in walker.events[-1]


def test_a_forced_promotion_skips_the_pre_rollout_hooks_of_an_analysis_not_started() -> None:
    walker = Walker()
    walker.tick(world())  # new revision: Progressing, the analysis starts next tick
    forced = world(promote=PromoteRequest(force=True))
    assert not needs_pre_rollout(walker.plan, walker.state, forced, walker.now + timedelta(seconds=60))
    assert walker.tick(forced).phase == Phase.PROMOTING
