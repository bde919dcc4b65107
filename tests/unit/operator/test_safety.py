"""What must hold when things go wrong: stale reads, crashes between writes, routing failures, no data."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from canary.core import Routes
from canary.kube.api import CANARIES, DEPLOYMENTS, EVENTS, Conflict, JsonDict, Resource
from canary.kube.memory import MemoryApi
from canary.models import Canary
from canary.operator.gates import ABORT
from canary.operator.reconcile import Reconciler, ReconcilerSettings
from canary.routers.base import RoutingError
from tests.unit.operator.conftest import HookServer
from tests.unit.operator.harness import NS, Harness, canary_body


async def initialized(h: Harness) -> None:
    await h.setup()
    await h.tick()
    await h.tick()


async def test_a_tick_on_a_stale_body_cannot_overwrite_newer_status() -> None:
    h = Harness()
    await initialized(h)
    await h.new_revision("podinfo:2")
    await h.tick()
    await h.tick()
    stale = await h.api.get(CANARIES, NS, "podinfo")
    assert stale is not None
    status = await h.tick()  # a later tick moves on: weight 50
    assert status["canaryWeight"] == 50
    h.clock.now = h.clock.now.replace(minute=h.clock.now.minute + 1)
    with pytest.raises(Conflict):
        await h.reconciler.tick(stale)  # kopf handed over an old copy (a lagging watch)
    after = await h.api.get(CANARIES, NS, "podinfo")
    assert after is not None and after["status"]["canaryWeight"] == 50
    assert h.router.history == sorted(h.router.history)


class CrashAfterStatus(MemoryApi):
    """An API that lets the status write through and then 'crashes' the controller on its next write."""

    armed = False

    async def patch(
        self, resource: Resource, namespace: str | None, name: str, patch: JsonDict, *, subresource: str | None = None
    ) -> JsonDict:
        result = await super().patch(resource, namespace, name, patch, subresource=subresource)
        if subresource == "status" and self.armed:
            self.armed = False
            raise SystemExit("controller killed after persisting, before converging")
        return result


@pytest.mark.parametrize("crash_at", [3, 4, 5, 6, 7])
async def test_a_controller_killed_between_persist_and_converge_ends_the_same(crash_at: int) -> None:
    h = Harness()
    h.api = CrashAfterStatus()
    h.reconciler = Reconciler(
        h.api, ReconcilerSettings(min_interval=1.0), clock=h.clock, router_factory=lambda p, a: h.router
    )  # type: ignore[arg-type, return-value]
    await initialized(h)
    await h.new_revision("podinfo:2")
    phases = []
    for tick in range(12):
        if tick == crash_at:
            h.api.armed = True  # type: ignore[attr-defined]
            with pytest.raises(SystemExit):
                await h.tick()
            # a new controller process: nothing survives but the API's objects
            h.reconciler = Reconciler(
                h.api, ReconcilerSettings(min_interval=1.0), clock=h.clock, router_factory=lambda p, a: h.router
            )  # type: ignore[arg-type, return-value]
            continue
        phases.append((await h.tick())["phase"])
        if phases[-1] == "Succeeded":
            break
    assert phases[-1] == "Succeeded", phases
    assert h.router.history == [*sorted(h.router.history[:-1]), 0]  # rising, then back to the primary once
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None and primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2"


class BrokenRouter:
    async def reconcile(self, canary: Canary) -> None:
        raise RoutingError("the VirtualService podinfo is owned by another controller")

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        raise RoutingError("cannot write routes")

    async def get_routes(self, canary: Canary) -> Routes:
        raise RoutingError("no routing object")

    async def finalize(self, canary: Canary) -> None:
        return None


async def test_nothing_is_scaled_down_while_traffic_cannot_be_routed() -> None:
    h = Harness()
    h.reconciler = Reconciler(
        h.api, ReconcilerSettings(min_interval=1.0), clock=h.clock, router_factory=lambda p, a: BrokenRouter()
    )  # type: ignore[arg-type, return-value]
    await h.setup()
    for _ in range(4):
        await h.tick()
    target = await h.api.get(DEPLOYMENTS, NS, "podinfo")
    assert target is not None and target["spec"]["replicas"] == 2  # still serving whoever reaches it
    routing = [e for e in await h.api.list(EVENTS, NS) if e["reason"] == "RoutingFailed"]
    assert len(routing) == 1 and "owned by another controller" in routing[0]["message"]


async def test_a_deciding_judge_without_data_never_promotes() -> None:
    body = canary_body(judge={"alpha": 0.01}, threshold=2)
    body["spec"]["metricsServer"] = "http://127.0.0.1:9"  # nothing listens there
    h = Harness(body)
    await initialized(h)
    await h.new_revision("podinfo:2")
    phases = [(await h.tick())["phase"] for _ in range(8)]
    assert "Succeeded" not in phases and "Promoting" not in phases
    assert phases[-1] == "Failed"
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and "judge: no evidence" in canary["status"]["message"]


async def test_promotion_replaces_the_primary_template_whole() -> None:
    h = Harness()
    await h.setup()
    await h.api.patch(DEPLOYMENTS, NS, "podinfo", {"spec": {"template": {"spec": {"nodeSelector": {"disk": "ssd"}}}}})
    await h.tick()
    await h.tick()
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None and primary["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}
    target = await h.api.get(DEPLOYMENTS, NS, "podinfo")
    assert target is not None
    template = copy.deepcopy(target["spec"]["template"])
    del template["spec"]["nodeSelector"]
    template["spec"]["containers"][0]["image"] = "podinfo:2"
    target["spec"]["template"] = template
    await h.api.replace(DEPLOYMENTS, NS, "podinfo", target)
    for _ in range(8):
        if (await h.tick())["phase"] == "Succeeded":
            break
    primary = await h.api.get(DEPLOYMENTS, NS, "podinfo-primary")
    assert primary is not None
    assert "nodeSelector" not in primary["spec"]["template"]["spec"]
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:2"


async def test_suspend_keeps_manual_requests_for_later() -> None:
    h = Harness()
    await initialized(h)
    await h.new_revision("podinfo:2")
    await h.tick()
    await h.tick()
    annotations: dict[str, Any] = {"canary.dev/suspend": "true", ABORT: "true"}
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": annotations}})
    for _ in range(3):
        assert (await h.tick())["phase"] == "Progressing"
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and ABORT in canary["metadata"]["annotations"]
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {"canary.dev/suspend": None}}})
    assert (await h.tick())["phase"] == "Failed"  # the abort asked for while suspended


async def test_a_revision_arriving_mid_rollout_waits_at_the_confirm_rollout_gate(hooks: HookServer) -> None:
    h = Harness(canary_body(webhooks=[hooks.hook("gate", "confirm-rollout")]))
    await initialized(h)
    await h.new_revision("podinfo:2")
    assert (await h.tick())["phase"] == "Progressing"
    await h.tick()
    hooks.answers["gate"] = (403, "freeze")
    await h.new_revision("podinfo:3")
    status = await h.tick()
    assert status["phase"] == "Waiting"
    assert hooks.called("gate")[-1]["checksum"] == status["lastAppliedSpec"]  # the gate is asked about the new one


async def test_a_target_without_selector_labels_is_reported_once_not_crash_looped() -> None:
    h = Harness()
    await h.setup()
    await h.api.patch(DEPLOYMENTS, NS, "podinfo", {"spec": {"selector": {"matchLabels": {"app": None, "tier": "web"}}}})
    for _ in range(3):
        status = await h.tick()
    valid = next(c for c in status["conditions"] if c["type"] == "Valid")
    assert valid["status"] == "False" and "app, name, app.kubernetes.io/name" in valid["message"]
    assert len([e for e in await h.api.list(EVENTS, NS) if e["type"] == "Warning"]) == 1
    assert await h.api.get(DEPLOYMENTS, NS, "podinfo-primary") is None
