"""Deleting a Canary with ``revertOnDeletion``: the target serves again before the routes are given back.

Flagger's meaning (``DeploymentController.Finalize``): the target, scaled to
zero while the primary served, is scaled back to the primary's replicas (from
zero to one when there is no primary, ``ScaleFromZero``), then the routers
finalize; without the flag the target is left as it is.
"""

from __future__ import annotations

from typing import Any

from canary.kube.api import CANARIES, DEPLOYMENTS
from tests.unit.operator.harness import NS, Harness, canary_body


def reverting(revert: bool) -> dict[str, Any]:
    body = canary_body()
    body["spec"]["revertOnDeletion"] = revert
    return body


async def initialized(h: Harness, primary_replicas: int = 3) -> dict[str, Any]:
    """An initialized Canary (the target at zero) whose primary runs ``primary_replicas``; its body as read."""
    await h.setup()
    await h.tick()
    assert (await h.tick())["phase"] == "Initialized"
    await h.api.patch(DEPLOYMENTS, NS, "podinfo-primary", {"spec": {"replicas": primary_replicas}})
    assert await replicas(h, "podinfo") == 0
    body = await h.api.get(CANARIES, NS, "podinfo")
    assert body is not None
    return body


async def replicas(h: Harness, name: str) -> int | None:
    deployment = await h.api.get(DEPLOYMENTS, NS, name)
    return None if deployment is None else int(deployment["spec"]["replicas"])


def record_scaling(h: Harness) -> None:
    """Note each write of the target's replicas in the router's call log, to see the order of the two."""
    patch = h.api.patch

    async def recording(resource: Any, namespace: str | None, name: str, body: Any, **kw: Any) -> Any:
        if resource is DEPLOYMENTS and name == "podinfo" and "replicas" in (body.get("spec") or {}):
            h.router.calls.append(f"scale target to {body['spec']['replicas']}")
        return await patch(resource, namespace, name, body, **kw)

    h.api.patch = recording  # type: ignore[method-assign]


async def test_the_target_is_scaled_to_the_primarys_replicas_before_the_routers_finalize() -> None:
    h = Harness(reverting(True))
    body = await initialized(h, primary_replicas=3)
    record_scaling(h)
    h.router.calls.clear()
    await h.reconciler.finalize(body)
    assert await replicas(h, "podinfo") == 3
    assert h.router.calls == ["scale target to 3", "finalize"]


async def test_without_a_primary_the_target_is_scaled_from_zero_to_one() -> None:
    h = Harness(reverting(True))
    body = await initialized(h)
    await h.api.delete(DEPLOYMENTS, NS, "podinfo-primary")
    await h.reconciler.finalize(body)
    assert await replicas(h, "podinfo") == 1
    assert h.router.calls[-1] == "finalize"


async def test_without_a_primary_a_target_that_runs_keeps_its_replicas() -> None:
    h = Harness(reverting(True))
    body = await initialized(h)
    await h.api.delete(DEPLOYMENTS, NS, "podinfo-primary")
    await h.api.patch(DEPLOYMENTS, NS, "podinfo", {"spec": {"replicas": 3}})
    await h.reconciler.finalize(body)
    assert await replicas(h, "podinfo") == 3


async def test_without_revert_on_deletion_the_target_is_left_alone() -> None:
    h = Harness(reverting(False))
    body = await initialized(h)
    record_scaling(h)
    h.router.calls.clear()
    await h.reconciler.finalize(body)
    assert await replicas(h, "podinfo") == 0
    assert h.router.calls == ["finalize"]


async def test_a_missing_target_is_not_created_and_the_routers_still_finalize() -> None:
    h = Harness(reverting(True))
    body = await initialized(h)
    await h.api.delete(DEPLOYMENTS, NS, "podinfo")
    h.router.calls.clear()
    await h.reconciler.finalize(body)
    assert await h.api.get(DEPLOYMENTS, NS, "podinfo") is None
    assert h.router.calls == ["finalize"]
