"""The reconcile shell on the in-memory API with a recording router: what it writes, in what order."""

from __future__ import annotations

from typing import Any

import pytest

from canary.kube.api import CANARIES, DEPLOYMENTS, EVENTS, ApiError
from canary.models import Canary
from canary.operator.reconcile import Reconciler, ReconcilerSettings
from canary.operator.status import plan_from
from canary.routers import RoutingError
from tests.unit.operator.harness import NS, Harness, canary_body, deployment


async def test_initialization_creates_the_primary_and_scales_the_target_down() -> None:
    h = Harness()
    await h.setup()
    assert (await h.tick())["phase"] == "Initializing"
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["selector"]["matchLabels"] == {"app": "podinfo-primary"}
    assert primary["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo-primary"
    assert primary["metadata"]["ownerReferences"][0]["kind"] == "Canary"
    status = await h.tick()
    assert status["phase"] == "Initialized"
    promoted = next(c for c in status["conditions"] if c["type"] == "Promoted")
    assert (promoted["status"], promoted["reason"]) == ("True", "Initialized")
    target = await h.api.get(DEPLOYMENTS, NS, "podinfo")
    assert target is not None and target["spec"]["replicas"] == 0
    assert "reconcile" in h.router.calls


async def test_a_full_rollout_promotes_the_new_template_into_the_primary() -> None:
    h = Harness()
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    phases = []
    for _ in range(10):
        phases.append((await h.tick())["phase"])
        if phases[-1] == "Succeeded":
            break
    assert phases[-1] == "Succeeded", phases
    assert h.router.history == [25, 50, 0], h.router.history  # written only when it changes
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2"
    assert primary["spec"]["template"]["metadata"]["labels"]["app"] == "podinfo-primary"
    target = await h.api.get(DEPLOYMENTS, NS, "podinfo")
    assert target is not None and target["spec"]["replicas"] == 0
    reasons = [e["reason"] for e in await h.api.list(EVENTS, NS)]
    assert {"Progressing", "Promoting", "Finalising", "Succeeded"} <= set(reasons)


async def test_step_weight_promotion_routes_traffic_back_to_the_primary_in_steps() -> None:
    h = Harness(canary_body(stepWeightPromotion=20))
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    phases = []
    for _ in range(12):
        phases.append((await h.tick())["phase"])
        if phases[-1] == "Succeeded":
            break
    assert phases[-1] == "Succeeded", phases
    # up in stepWeight steps, then, the primary running podinfo:2, back in stepWeightPromotion steps
    assert h.router.history == [25, 50, 30, 10, 0], h.router.history
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2"


def test_a_provider_that_switches_all_traffic_at_once_promotes_at_once() -> None:
    canary = Canary.from_kube(canary_body(stepWeightPromotion=20))
    assert plan_from(canary, 1.0).promotion_step == 20
    assert plan_from(canary, 1.0, weighted=False).promotion_step is None
    assert plan_from(Canary.from_kube(canary_body()), 1.0).promotion_step is None


async def test_a_restart_between_persist_and_converge_resumes_without_moving_weights_back() -> None:
    h = Harness()
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    await h.tick()  # Progressing at 0
    await h.tick()  # analysis starts: 25
    # A new controller (fresh Reconciler, same API state) continues from status alone.
    fresh = Harness()
    fresh.api, fresh.router, fresh.clock = h.api, h.router, h.clock
    fresh.reconciler = Reconciler(
        h.api,
        ReconcilerSettings(min_interval=1.0),
        clock=h.clock,
        router_factory=lambda p, a: h.router,  # type: ignore[arg-type, return-value]
    )
    status = await fresh.tick()
    assert status["canaryWeight"] == 50
    assert h.router.history == sorted(h.router.history)


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"analysis": {"stepWeight": 0}}, "spec.analysis.stepWeight"),
        ({"analysis": {"maxWeight": 150}}, "spec.analysis.maxWeight"),
        ({"targetRef": None}, "spec.targetRef"),
        ({"analysis": {"metrics": [{"name": "cpu-usage"}]}}, "spec.analysis.metrics"),
        (
            {"analysis": {"judge": {"errorRate": {"enabled": False}, "latency": {"enabled": False}}}},
            "spec.analysis.judge",
        ),
    ],
)
async def test_an_invalid_canary_gets_a_condition_and_one_event_and_no_crash(patch: dict[str, Any], field: str) -> None:
    body = canary_body()
    for key, value in patch.items():
        if value is None:
            del body["spec"][key]
        elif isinstance(value, dict):
            body["spec"][key].update(value)
    h = Harness(body)
    await h.setup()
    status = await h.tick()
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False"
    assert field in valid["message"]
    await h.tick()  # the same problem again: no second Event
    events = [e for e in await h.api.list(EVENTS, NS) if e["type"] == "Warning"]
    assert len(events) == 1
    assert field in events[0]["message"]
    assert await h.api.get(DEPLOYMENTS, NS, "podinfo-primary") is None


async def test_an_unsupported_provider_is_refused_by_name() -> None:
    body = canary_body()
    body["spec"]["provider"] = "contour"
    h = Harness(body)
    await h.setup()
    status = await h.tick()
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False" and "contour" in valid["message"]


async def test_fields_not_built_yet_are_reported_not_ignored() -> None:
    h = Harness(canary_body(sessionAffinity={"cookieName": "flagger-cookie"}))
    await h.setup()
    status = await h.tick()
    supported = next(c for c in status["conditions"] if c["type"] == "Supported")
    assert supported["status"] == "False"
    assert "sessionAffinity" in supported["message"]


@pytest.mark.parametrize(
    "patch",
    [
        {"canaryWeight": 150},
        {"canaryWeight": -10, "failedChecks": -5, "iterations": -1},
        {"lastAnalysisTime": "2026-01-01T00:00:00", "lastTransitionTime": "2026-01-01T00:00:00"},  # no time zone
        {"conditions": ["bogus"]},
        {"conditions": [{"status": "True"}]},
    ],
)
async def test_a_hand_edited_status_never_stops_the_rollout(patch: dict[str, Any]) -> None:
    h = Harness()
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    await h.tick()
    assert (await h.tick())["canaryWeight"] == 25
    await h.api.patch(CANARIES, NS, "podinfo", {"status": patch}, subresource="status")
    seen = [await h.tick() for _ in range(3)]  # never an exception
    messages = [s.get("message") for s in seen]
    # the rollout goes on: it advances or promotes (the weight is read within 0..100), never stalls or fails
    assert [s["phase"] for s in seen] != ["Progressing"] * 3 or seen[-1]["canaryWeight"] > 25, messages
    assert all(s["phase"] in ("Progressing", "Promoting", "Finalising", "Succeeded") for s in seen), messages
    assert all(0 <= s["canaryWeight"] <= 100 for s in seen)
    assert all(isinstance(c, dict) and "type" in c for c in seen[-1]["conditions"])  # repaired by the next write


FLAGGERS = {"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo", "uid": "u-1", "controller": True}


@pytest.mark.parametrize(
    ("owners", "selector", "why"),
    [
        (
            [FLAGGERS],
            None,
            "controlled by Canary podinfo (flagger.app/v1beta1, uid u-1); remove it, or delete its owner",
        ),
        (
            [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "x", "uid": "u-2", "controller": True}],
            None,
            "controlled by ReplicaSet x (apps/v1, uid u-2)",
        ),
        # no controller, but it could never be the target's primary: a selector cannot be changed
        (None, {"app": "something-else"}, 'its selector {"matchLabels": {"app": "something-else"}} is not the primary'),
    ],
)
async def test_a_primary_name_taken_by_another_deployment_is_refused_and_left_alone(
    owners: list[dict[str, Any]] | None, selector: dict[str, str] | None, why: str
) -> None:
    h = Harness()
    other = deployment("podinfo-primary", image="something-else:1")
    if owners:
        other["metadata"]["ownerReferences"] = owners
    if selector:
        other["spec"]["selector"] = {"matchLabels": selector}
    await h.api.create(DEPLOYMENTS, NS, other)
    await h.setup()
    for _ in range(2):
        status = await h.tick(300)
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert (valid["status"], valid["reason"]) == ("False", "PrimaryNotOwned")
    assert f"Deployment {NS}/podinfo-primary exists and is not this Canary's: {why}" in valid["message"]
    warnings = [e for e in await h.api.list(EVENTS, NS) if e["reason"] == "PrimaryNotOwned"]
    assert len(warnings) == 1
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "something-else:1"
    assert primary["metadata"].get("ownerReferences") == owners
    assert h.router.history == []  # no traffic was moved


@pytest.mark.parametrize(
    "leftover",
    [
        # orphaned (an earlier Canary, ours or Flagger's, deleted with --cascade=orphan): no owner
        {},
        # an earlier Canary of this name, deleted and created again before the garbage collector ran
        {"ownerReferences": [{"apiVersion": "canary.dev/v1beta1", "kind": "Canary", "name": "podinfo", "uid": "old",
                              "controller": True, "blockOwnerDeletion": True}]},
    ],
)  # fmt: skip
async def test_the_primary_of_an_earlier_canary_of_the_same_name_is_adopted(leftover: dict[str, Any]) -> None:
    h = Harness()
    primary = deployment("podinfo-primary", image="podinfo:0")  # it ran the version before
    primary["metadata"].update(leftover)
    await h.api.create(DEPLOYMENTS, NS, primary)
    await h.setup()
    status = await h.tick()
    assert all(c["status"] == "True" for c in status["conditions"] if c["type"] == "Valid")
    canary = await h.api.get(CANARIES, NS, "podinfo")
    adopted = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert canary is not None and adopted is not None
    [owner] = [r for r in adopted["metadata"]["ownerReferences"] if r.get("controller")]
    assert (owner["kind"], owner["name"], owner["uid"]) == ("Canary", "podinfo", canary["metadata"]["uid"])
    [adoption] = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "PrimaryAdopted"]
    assert adoption.startswith(f"adopted Deployment {NS}/podinfo-primary (it was controlled by ")
    # initialization then gives it the target's template, and the Canary is ready for its first rollout
    for _ in range(3):
        status = await h.tick()
    assert status["phase"] == "Initialized", status.get("message")
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    target = await h.api.get(DEPLOYMENTS, NS, "podinfo")
    assert primary is not None and target is not None
    assert primary["spec"]["template"]["spec"] == target["spec"]["template"]["spec"]


async def test_a_change_the_api_server_refuses_for_good_is_reported_once_and_retried() -> None:
    h = Harness()
    create = h.api.create
    refusing = True

    async def forbidden_primary(resource: Any, namespace: str | None, body: dict[str, Any]) -> dict[str, Any]:
        if refusing and resource is DEPLOYMENTS and body["metadata"]["name"] == "podinfo-primary":
            message = 'deployments.apps "podinfo-primary" is forbidden: exceeded quota: compute-resources'
            raise ApiError(403, "Forbidden", message)
        return await create(resource, namespace, body)

    h.api.create = forbidden_primary  # type: ignore[method-assign]
    await h.setup()
    for _ in range(3):
        status = await h.tick()  # never an exception: the handler would retry it forever, unseen
    refused = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "KubernetesRefused"]
    assert refused == [
        "the API server refused a change: 403 Forbidden: "
        'deployments.apps "podinfo-primary" is forbidden: exceeded quota: compute-resources'
    ]
    assert status["phase"] == "Initializing"
    refusing = False  # the quota is raised: the next tick creates the primary
    await h.tick()
    assert await h.api.get(DEPLOYMENTS, NS, "podinfo-primary") is not None


async def test_a_finalize_the_router_cannot_complete_keeps_the_canary_and_says_why_once() -> None:
    h = Harness()
    await h.setup()
    await h.tick()

    async def cannot_restore(canary: Any) -> None:
        raise RoutingError("VirtualService test/podinfo: annotation canary.dev/original-spec is not valid JSON")

    h.router.finalize = cannot_restore  # type: ignore[method-assign]
    body = await h.api.get(CANARIES, NS, "podinfo")
    assert body is not None
    for _ in range(2):  # the handler retries the deletion
        with pytest.raises(RoutingError):
            await h.reconciler.finalize(body)
    blocked = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "FinalizeBlocked"]
    assert blocked == [
        "VirtualService test/podinfo: annotation canary.dev/original-spec is not valid JSON;"
        " the Canary is kept until that is fixed"
    ]
