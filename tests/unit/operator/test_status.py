"""The one mapping between the Canary's status and the core's State, both ways."""

from __future__ import annotations

from datetime import UTC, datetime

from canary.core import Decision, Phase, State
from canary.models import Canary, CanaryCheck, JudgeStatus
from canary.operator.checks import TickChecks
from canary.operator.status import state_from, status_of, tick_status
from tests.unit.operator.harness import canary_body

NOW = datetime(2026, 1, 1, 12, 0, 5, tzinfo=UTC)


def test_a_state_written_to_status_reads_back_the_same() -> None:
    state = State(
        phase=Phase.PROGRESSING, canary_weight=25, failed_checks=1, iterations=0, last_applied_spec="b",
        last_promoted_spec="a", last_transition_time=NOW, last_analysis_time=NOW, message="advancing",
    )  # fmt: skip
    body = {**canary_body(), "status": status_of(state)}
    assert state_from(Canary.from_kube(body)) == state


def test_a_tick_writes_the_state_conditions_checks_and_judge_and_nothing_when_nothing_changed() -> None:
    canary = Canary.from_kube(canary_body())
    state = State(phase=Phase.PROGRESSING, canary_weight=25, last_applied_spec="b", message="advancing")
    record = CanaryCheck(name="request-success-rate", value=99.5, min=99.0, unit="%", outcome="pass", reason="ok")
    measured = TickChecks(records=(record,), checks=(), judge_status=JudgeStatus(revision="b"))
    patch = tick_status(canary, Decision(state, previous=State()), measured, [], NOW)
    assert patch["phase"] == "Progressing" and patch["canaryWeight"] == 25
    assert {c["type"] for c in patch["conditions"]} == {"Promoted", "Ready", "Reconciling", "Stalled", "Supported", "Valid"}
    assert patch["checks"] == [record.model_dump(mode="json", exclude_none=True)]
    assert patch["judge"]["revision"] == "b"
    settled = Canary.from_kube({**canary_body(), "status": patch})
    assert tick_status(settled, Decision(state_from(settled), previous=state_from(settled)), None, [], NOW) == {}
