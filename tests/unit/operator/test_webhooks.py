"""Webhooks and gates against a real local HTTP server, driven through the reconcile shell."""

from __future__ import annotations

import pytest

from canary.kube.api import CANARIES, EVENTS
from canary.operator.gates import ABORT, APPROVE, RETRY, SUSPEND
from tests.unit.operator.conftest import HookServer
from tests.unit.operator.harness import NS, Harness, canary_body


async def started(h: Harness) -> None:
    await h.setup()
    await h.tick()
    await h.tick()  # Initialized
    await h.new_revision("podinfo:2")


async def warnings(h: Harness) -> list[str]:
    return [e["message"] for e in await h.api.list(EVENTS, NS) if e["type"] == "Warning"]


async def test_confirm_rollout_holds_a_new_revision_in_waiting(hooks: HookServer) -> None:
    hooks.answers["gate"] = (403, "change freeze until Monday")
    h = Harness(canary_body(webhooks=[hooks.hook("gate", "confirm-rollout")]))
    await started(h)
    assert (await h.tick())["phase"] == "Waiting"
    assert any("change freeze until Monday" in w for w in await warnings(h))
    assert (await h.tick())["phase"] == "Waiting"
    hooks.answers["gate"] = (200, "ok")
    assert (await h.tick())["phase"] == "Progressing"
    payload = hooks.called("gate")[0]
    assert set(payload) == {"name", "namespace", "phase", "checksum", "metadata"}
    assert (payload["name"], payload["namespace"]) == ("podinfo", NS)


async def test_pre_rollout_and_rollout_failures_are_failed_checks(hooks: HookServer) -> None:
    hooks.answers["smoke"] = (500, "smoke test: 3/10 requests failed")
    h = Harness(canary_body(threshold=3, webhooks=[hooks.hook("smoke", "pre-rollout"), hooks.hook("load", "rollout")]))
    await started(h)
    await h.tick()  # Progressing at 0
    status = await h.tick()
    assert (status["canaryWeight"], status["failedChecks"]) == (0, 1)
    assert "smoke test: 3/10 requests failed" in status["message"]
    hooks.answers["smoke"] = (200, "ok")
    assert (await h.tick())["canaryWeight"] == 25
    hooks.answers["load"] = (502, "load generator down")
    status = await h.tick()
    assert status["failedChecks"] == 2
    assert any(c["name"] == "webhook load" and c["outcome"] == "fail" for c in status["checks"])
    assert "load generator down" in status["message"]


async def test_confirm_promotion_waits_with_metrics_running_and_manual_approval_opens_it_once(
    hooks: HookServer,
) -> None:
    hooks.answers["approve"] = (403, "waiting for QA")
    h = Harness(canary_body(webhooks=[hooks.hook("approve", "confirm-promotion")]))
    await started(h)
    for _ in range(3):
        await h.tick()
    status = await h.tick()
    assert (status["phase"], status["canaryWeight"]) == ("WaitingPromotion", 50)
    assert (await h.tick())["phase"] == "WaitingPromotion"
    revision = status["lastAppliedSpec"]
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {APPROVE: revision}}})
    assert (await h.tick())["phase"] == "Promoting"
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and APPROVE not in (canary["metadata"].get("annotations") or {})


async def test_confirm_traffic_increase_holds_each_step(hooks: HookServer) -> None:
    hooks.answers["step"] = (409, "not now")
    h = Harness(canary_body(webhooks=[hooks.hook("step", "confirm-traffic-increase")]))
    await started(h)
    await h.tick()
    assert (await h.tick())["canaryWeight"] == 25
    status = await h.tick()
    assert (status["canaryWeight"], status["failedChecks"]) == (25, 0)
    hooks.answers["step"] = (200, "ok")
    assert (await h.tick())["canaryWeight"] == 50


async def test_a_rollback_hook_answering_2xx_rolls_back_now(hooks: HookServer) -> None:
    hooks.answers["kill"] = (404, "no")
    h = Harness(canary_body(webhooks=[hooks.hook("kill", "rollback")]))
    await started(h)
    await h.tick()
    assert (await h.tick())["canaryWeight"] == 25
    hooks.answers["kill"] = (200, "roll it back")
    status = await h.tick()
    assert status["phase"] == "Failed"
    assert h.router.routes.canary == 0


async def test_event_and_post_rollout_hooks_are_told_and_their_failure_changes_nothing(hooks: HookServer) -> None:
    hooks.answers["post"] = (500, "report service down")
    h = Harness(canary_body(webhooks=[hooks.hook("events", "event"), hooks.hook("post", "post-rollout")]))
    await started(h)
    phases = [(await h.tick())["phase"] for _ in range(8)]
    assert phases[-1] == "Succeeded", phases
    await h.reconciler.drain()  # notices are sent in the background
    messages = [body["metadata"]["eventMessage"] for body in hooks.called("events")]
    assert any("promotion completed" in m for m in messages)
    assert all(body["metadata"]["eventType"] in ("Normal", "Warning") for body in hooks.called("events"))
    assert [b["phase"] for b in hooks.called("post")] == ["Succeeded"]
    assert any("report service down" in w for w in await warnings(h))


async def test_retries_then_gives_up_with_the_body_in_the_reason(hooks: HookServer) -> None:
    hooks.answers["gate"] = (503, "overloaded")
    h = Harness(canary_body(webhooks=[hooks.hook("gate", "confirm-rollout", retries=2)]))
    await started(h)
    assert (await h.tick())["phase"] == "Waiting"
    assert len(hooks.called("gate")) == 3


async def test_abort_and_retry_annotations(hooks: HookServer) -> None:
    h = Harness()
    await started(h)
    await h.tick()
    await h.tick()
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {ABORT: "true"}}})
    status = await h.tick()
    assert status["phase"] == "Failed"
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and ABORT not in (canary["metadata"].get("annotations") or {})
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {RETRY: "true"}}})
    assert (await h.tick())["phase"] == "Progressing"
    phases = [(await h.tick())["phase"] for _ in range(6)]
    assert "Succeeded" in phases


@pytest.mark.parametrize("value", ["true", "True", "yes", "1", "on", " TRUE "])
async def test_suspend_annotation_pauses_the_canary(value: str) -> None:
    h = Harness()
    await started(h)
    await h.tick()
    before = await h.tick()
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {"canary.dev/suspend": value}}})
    for _ in range(3):
        assert (await h.tick())["canaryWeight"] == before["canaryWeight"]
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {"canary.dev/suspend": None}}})
    assert (await h.tick())["canaryWeight"] > before["canaryWeight"]


@pytest.mark.parametrize("value", ["false", "False ", "off", "no", "0", "n", "none", ""])
async def test_an_annotation_that_says_no_neither_aborts_nor_suspends(value: str) -> None:
    h = Harness()
    await started(h)
    await h.tick()
    before = await h.tick()
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {ABORT: value, SUSPEND: value}}})
    after = await h.tick()
    assert after["phase"] == "Progressing"
    assert after["canaryWeight"] > before["canaryWeight"]


async def test_an_approval_naming_another_revision_is_removed_with_a_warning(hooks: HookServer) -> None:
    hooks.answers["approve"] = (403, "waiting for QA")
    h = Harness(canary_body(webhooks=[hooks.hook("approve", "confirm-promotion")]))
    await started(h)
    for _ in range(4):
        status = await h.tick()
    assert status["phase"] == "WaitingPromotion"
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {APPROVE: "true"}}})
    assert (await h.tick())["phase"] == "WaitingPromotion"
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and APPROVE not in (canary["metadata"].get("annotations") or {})
    ignored = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "ApprovalIgnored"]
    assert ignored == [
        f"canary.dev/approve: 'true' is not the revision under analysis ({status['lastAppliedSpec']}): removed;"
        " approve with that revision"
    ]
