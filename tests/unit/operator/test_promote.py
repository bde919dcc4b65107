"""Promote now through the Canary's annotations: checked (once the checks pass) or forced (at once)."""

from __future__ import annotations

from typing import Any

from canary.core import Phase, PromoteRequest, State
from canary.kube.api import CANARIES, EVENTS
from canary.models import Canary
from canary.operator.gates import PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY, Manual, spent_annotations
from tests.unit.operator.harness import NS, Harness, canary_body


async def analysing(h: Harness) -> dict[str, Any]:
    """A rollout of podinfo:2 at its first weight step."""
    await h.setup()
    await h.tick()
    await h.tick()  # Initialized
    await h.new_revision("podinfo:2")
    await h.tick()  # Progressing
    status = await h.tick()  # the analysis starts at 25
    assert status["phase"] == "Progressing" and status["canaryWeight"] > 0
    return status


async def annotate(h: Harness, annotations: dict[str, str | None]) -> None:
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": annotations}})


async def annotations(h: Harness) -> dict[str, str]:
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None
    return dict(canary["metadata"].get("annotations") or {})


async def events(h: Harness, reason: str) -> list[dict[str, Any]]:
    return [e for e in await h.api.list(EVENTS, NS) if e["reason"] == reason]


async def test_a_promote_request_skips_the_remaining_steps_after_one_passing_check() -> None:
    h = Harness(canary_body(stepWeight=10, maxWeight=50))
    status = await analysing(h)
    await annotate(h, {PROMOTE: status["lastAppliedSpec"], PROMOTE_REQUESTED_BY: "alice"})
    status = await h.tick()
    assert (status["phase"], status["canaryWeight"]) == ("Promoting", 10)
    assert "promotion requested by alice" in status["message"]
    assert not set(await annotations(h)) & {PROMOTE, PROMOTE_REQUESTED_BY}  # used: removed
    phases = [(await h.tick())["phase"] for _ in range(2)]
    assert phases == ["Finalising", "Succeeded"]


async def test_a_forced_promotion_is_a_warning_naming_who_asked_and_its_annotations_go() -> None:
    h = Harness()
    status = await analysing(h)
    await annotate(h, {PROMOTE: status["lastAppliedSpec"], PROMOTE_FORCE: "true", PROMOTE_REQUESTED_BY: "alice"})
    status = await h.tick(seconds=1)  # no analysis interval needed
    assert status["phase"] == "Promoting"
    (forced,) = await events(h, "PromotionForced")
    assert forced["type"] == "Warning"
    assert "promotion forced by alice" in forced["message"]
    assert not set(await annotations(h)) & {PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY}


async def test_a_promotion_for_another_revision_is_removed_with_a_warning() -> None:
    h = Harness()
    status = await analysing(h)
    await annotate(h, {PROMOTE: "not-this-one", PROMOTE_FORCE: "true"})
    status = await h.tick()
    assert status["phase"] == "Progressing"
    assert not set(await annotations(h)) & {PROMOTE, PROMOTE_FORCE}
    (ignored,) = await events(h, "ApprovalIgnored")
    assert ignored["message"] == (
        f"canary.dev/promote: 'not-this-one' is not the revision under analysis ({status['lastAppliedSpec']}):"
        " removed; promote with that revision"
    )


def _canary(values: dict[str, str]) -> Canary:
    body = canary_body()
    body["metadata"]["annotations"] = values
    return Canary.from_kube(body)


def test_the_request_is_read_for_the_current_revision_only() -> None:
    canary = _canary({PROMOTE: "r2", PROMOTE_FORCE: "yes", PROMOTE_REQUESTED_BY: " alice "})
    assert Manual.read(canary, "r2").promote == PromoteRequest(force=True, requested_by="alice")
    assert Manual.read(canary, "r3").promote is None
    assert Manual.read(_canary({PROMOTE: "r2", PROMOTE_FORCE: "false"}), "r2").promote == PromoteRequest()


def test_the_request_stays_while_its_revision_is_under_analysis_and_goes_after() -> None:
    canary = _canary({PROMOTE: "r2", PROMOTE_REQUESTED_BY: "alice"})
    for phase in (Phase.PROGRESSING, Phase.WAITING_PROMOTION, Phase.WAITING):
        assert spent_annotations(canary, frozenset(), State(phase=phase, last_applied_spec="r2")) == (frozenset(), None)
    for phase in (Phase.PROMOTING, Phase.FAILED, Phase.SUCCEEDED):
        drop, ignored = spent_annotations(canary, frozenset(), State(phase=phase, last_applied_spec="r2"))
        assert (drop, ignored) == ({PROMOTE, PROMOTE_REQUESTED_BY}, None)


def test_companions_without_a_request_are_removed() -> None:
    canary = _canary({PROMOTE_FORCE: "true"})
    drop, _ = spent_annotations(canary, frozenset(), State(phase=Phase.PROGRESSING, last_applied_spec="r2"))
    assert drop == {PROMOTE_FORCE}
