"""The SMI router (Linkerd): TrafficSplit versions, weight formats, refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from canary.core.routes import Routes
from canary.kube.api import JsonDict
from canary.kube.memory import MemoryApi
from canary.routers import RoutingError, SmiRouter, router_for
from canary.routers.smi import parse_quantity, traffic_split_resource
from tests.unit.routers.conftest import StoreCanary, flagger_manifest


def traffic_split(api: MemoryApi, version: str) -> JsonDict:
    return api.objects[(traffic_split_resource(version), "test", "podinfo")]


async def test_linkerd_writes_a_v1alpha2_traffic_split(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("005"))
    router = router_for("linkerd", api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes.canary_at(15))

    split = traffic_split(api, "v1alpha2")
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha2"
    assert split["spec"] == {
        "service": "podinfo",
        "backends": [{"service": "podinfo-canary", "weight": 15}, {"service": "podinfo-primary", "weight": 85}],
    }


async def test_v1alpha1_writes_quantities(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("005"), spec__provider="smi:v1alpha1")
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes.canary_at(15))

    split = traffic_split(api, "v1alpha1")
    assert split["apiVersion"] == "split.smi-spec.io/v1alpha1"
    assert [backend["weight"] for backend in split["spec"]["backends"]] == ["15", "85"]


async def test_v1alpha1_relative_quantities_read_as_percentages(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("005"), spec__provider="smi:v1alpha1")
    router = SmiRouter(api, "v1alpha1")
    await router.reconcile(canary)
    await api.patch(
        traffic_split_resource("v1alpha1"),
        "test",
        "podinfo",
        {
            "spec": {
                "backends": [
                    {"service": "podinfo-canary", "weight": "500m"},
                    {"service": "podinfo-primary", "weight": "1"},
                ]
            }
        },
    )

    assert await router.get_routes(canary) == Routes(primary=67, canary=33)


@pytest.mark.parametrize(
    ("text", "value"), [("500m", Decimal("0.5")), ("1", Decimal(1)), ("2k", Decimal(2000)), (90, Decimal(90))]
)
def test_parse_quantity(text: object, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["ten", "5Mi", "-1", True])
def test_parse_quantity_refuses_what_is_not_a_decimal_quantity(text: object) -> None:
    with pytest.raises(RoutingError, match="invalid TrafficSplit weight"):
        parse_quantity(text)


async def test_foreign_traffic_split_is_not_read_as_ours(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("005"))
    await api.create(
        traffic_split_resource("v1alpha2"),
        "test",
        {
            "metadata": {"name": "podinfo"},
            "spec": {"service": "podinfo", "backends": [{"service": "podinfo-v1", "weight": 100}]},
        },
    )

    with pytest.raises(RoutingError, match="has backends podinfo-v1, not podinfo-primary and podinfo-canary"):
        await SmiRouter(api).get_routes(canary)
