"""The kubernetes (blue/green) router: the apex Service's selector is the switch."""

from __future__ import annotations

import pytest

from canary.core.routes import Routes
from canary.kube.api import SERVICES
from canary.kube.memory import MemoryApi
from canary.routers import KubernetesRouter, RoutingError
from tests.unit.routers.conftest import StoreCanary, flagger_manifest


async def test_switches_the_apex_between_primary_and_canary(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("019"))
    router = KubernetesRouter(api)
    await router.reconcile(canary)
    assert api.objects[(SERVICES, "test", "podinfo")]["spec"]["selector"] == {"app": "podinfo-primary"}

    await router.set_routes(canary, Routes(0, 100))

    assert api.objects[(SERVICES, "test", "podinfo")]["spec"]["selector"] == {"app": "podinfo"}
    assert await router.get_routes(canary) == Routes(0, 100)

    await router.set_routes(canary, Routes(100, 0))

    assert api.objects[(SERVICES, "test", "podinfo")]["spec"]["selector"] == {"app": "podinfo-primary"}
    assert await router.get_routes(canary) == Routes(100, 0)


@pytest.mark.parametrize("routes", [Routes(50, 50), Routes(99, 1), Routes(100, 0, mirrored=True)])
async def test_refuses_splits_it_cannot_make(api: MemoryApi, store_canary: StoreCanary, routes: Routes) -> None:
    canary = await store_canary(flagger_manifest("019"))
    router = KubernetesRouter(api)
    await router.reconcile(canary)

    with pytest.raises(RoutingError, match="kubernetes provider"):
        await router.set_routes(canary, routes)
    assert await router.get_routes(canary) == Routes(100, 0)


async def test_apex_selecting_other_pods_is_reported(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("019"))
    router = KubernetesRouter(api)
    await router.reconcile(canary)
    await api.patch(SERVICES, "test", "podinfo", {"spec": {"selector": {"app": "legacy"}}})

    with pytest.raises(RoutingError, match="neither the primary pods"):
        await router.get_routes(canary)
