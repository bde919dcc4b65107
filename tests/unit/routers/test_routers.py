"""Every router, on realistic Canaries: reconcile, set/get routes, schema validity, idempotence, finalize.

The Canaries come from Flagger's own manifests (istio canary 002, istio A/B
001, linkerd 005, Gateway API 013, kubernetes blue/green 019) plus variants
that exercise the optional ``spec.service`` fields.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import pytest

from canary.core.routes import Routes
from canary.kube.api import JsonDict
from canary.kube.memory import MemoryApi
from canary.routers import WRITTEN_RESOURCES, RoutingError, router_for
from tests.unit.routers.conftest import StoreCanary, flagger_manifest, writes
from tests.unit.routers.schemas import schema_errors

MESH_KINDS = {resource.kind for resource in WRITTEN_RESOURCES if resource.group}  # every router's own kinds

FULL_SERVICE: JsonDict = {
    "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error,connect-failure"},
    "headers": {
        "request": {"add": {"x-canary": "yes"}, "set": {"x-env": "test"}, "remove": ["x-debug"]},
        "response": {"remove": ["x-envoy-upstream-service-time"]},
    },
    "corsPolicy": {
        "allowOrigins": [{"exact": "https://example.com"}],
        "allowMethods": ["GET", "POST"],
        "allowHeaders": ["x-custom"],
        "maxAge": "24h",
        "allowCredentials": True,
    },
    "trafficPolicy": {
        "tls": {"mode": "ISTIO_MUTUAL"},
        "connectionPool": {"http": {"http1MaxPendingRequests": 100, "h2UpgradePolicy": "UPGRADE"}},
        "loadBalancer": {"consistentHash": {"httpCookie": {"name": "user", "ttl": "0s"}}},
        "outlierDetection": {"consecutive5xxErrors": 5, "interval": "10s", "baseEjectionTime": "30s"},
    },
    "apex": {"labels": {"team": "web"}, "annotations": {"owner": "web@example.com"}},
    "primary": {"labels": {"side": "primary"}},
    "canary": {"labels": {"side": "canary"}},
}


@dataclass
class Case:
    """One Canary to route: a manifest number, edits to it, and the weights its router can set."""

    manifest: str
    changes: dict[str, Any] = field(default_factory=dict)
    weights: tuple[int, ...] = (0, 10, 50, 100)


def _with_service(**extra: Any) -> Any:
    service = copy.deepcopy(flagger_manifest("002")["spec"]["service"])
    service.update(copy.deepcopy(extra))
    return service


GATEWAY_SERVICE = {
    "port": 9898,
    "targetPort": 9898,
    "hosts": ["www.example.com"],
    "gatewayRefs": [{"name": "gateway", "namespace": "istio-ingress"}],
    "match": [{"uri": {"prefix": "/api"}, "headers": {"x-tier": {"exact": "gold"}}}],
    "timeout": "30s",
    "backendTimeout": "10s",
    "rewrite": {"uri": "/"},
    "headers": {"request": {"set": {"x-env": "test"}}, "response": {"add": {"x-served-by": "canary"}}},
}

CASES = {
    "istio-002": Case("002"),
    "istio-001-ab": Case("001", weights=(0, 100)),
    "istio-full": Case("002", {"spec__service": _with_service(**FULL_SERVICE)}),
    "istio-no-gateway": Case("002", {"spec__service": {"port": 9898, "portName": "http-podinfo"}}),
    "istio-tcp": Case(
        "002",
        {"spec__service": {"port": 9898, "appProtocol": "tcp", "match": [{"port": 9898}]}},
    ),
    "istio-delegate": Case(
        "002",
        {"spec__service": _with_service(delegation=True, hosts=[], gateways=[])},
    ),
    "istio-named-apex": Case("002", {"spec__service": _with_service(name="frontend")}),
    "linkerd-005": Case("005"),
    "smi-v1alpha1": Case("005", {"spec__provider": "smi:v1alpha1"}),
    "smi-v1alpha3": Case("005", {"spec__provider": "smi:v1alpha3"}),
    "gatewayapi-v1-013": Case("013", {"spec__provider": "gatewayapi:v1"}),
    "gatewayapi-v1beta1-013": Case("013", {"spec__provider": "gatewayapi:v1beta1"}),
    "gatewayapi-v1-full": Case("013", {"spec__provider": "gatewayapi:v1", "spec__service": GATEWAY_SERVICE}),
    "gatewayapi-v1-ab": Case(
        "013",
        {
            "spec__provider": "gatewayapi:v1",
            "spec__service": GATEWAY_SERVICE,
            "spec__analysis": {
                "interval": "1m",
                "threshold": 5,
                "iterations": 10,
                "match": [{"headers": {"cookie": {"regex": "^(.*?;)?(canary=always)(;.*)?$"}}}],
            },
        },
        weights=(0, 100),
    ),
    "kubernetes-019": Case("019", weights=(0, 100)),
}


def mesh_objects(api: MemoryApi) -> list[JsonDict]:
    """Every mesh object in the API."""
    return [obj for (resource, _, _), obj in api.objects.items() if resource.kind in MESH_KINDS]


def assert_schema_valid(api: MemoryApi) -> None:
    """Every mesh object validates against its mesh's CRD schema.

    The reference SMI CRD has no v1alpha3; its TrafficSplit backends have the
    same shape as v1alpha2's (integer weights), so v1alpha3 objects are
    checked against the v1alpha2 schema.
    """
    for obj in mesh_objects(api):
        checked = copy.deepcopy(obj)
        if checked["apiVersion"] == "split.smi-spec.io/v1alpha3":
            checked["apiVersion"] = "split.smi-spec.io/v1alpha2"
        assert schema_errors(checked) == [], f"{obj['kind']} {obj['metadata']['name']}"


@pytest.fixture(params=sorted(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    """Each Canary of the matrix."""
    return CASES[request.param]


async def test_reconcile_creates_valid_objects_owned_by_the_canary(
    api: MemoryApi, store_canary: StoreCanary, case: Case
) -> None:
    canary = await store_canary(flagger_manifest(case.manifest), **case.changes)
    router = router_for(canary.spec.provider, api)

    await router.reconcile(canary)

    assert_schema_valid(api)
    created = [obj for (resource, _, _), obj in api.objects.items() if resource.kind not in ("Canary", "Deployment")]
    assert {obj["kind"] for obj in created} >= {"Service"}
    for obj in created:
        owners = obj["metadata"]["ownerReferences"]
        assert owners == [
            {
                "apiVersion": "canary.dev/v1beta1",
                "kind": "Canary",
                "name": canary.metadata.name,
                "uid": canary.metadata.uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    assert await router.get_routes(canary) == Routes(primary=100, canary=0)


async def test_set_routes_round_trips_and_stays_valid(api: MemoryApi, store_canary: StoreCanary, case: Case) -> None:
    canary = await store_canary(flagger_manifest(case.manifest), **case.changes)
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)

    for weight in case.weights:
        await router.set_routes(canary, Routes.canary_at(weight))
        assert await router.get_routes(canary) == Routes.canary_at(weight)
        assert_schema_valid(api)


async def test_second_reconcile_writes_nothing(api: MemoryApi, store_canary: StoreCanary, case: Case) -> None:
    canary = await store_canary(flagger_manifest(case.manifest), **case.changes)
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)
    first = len(api.calls)
    assert writes(api), "the first reconcile creates the objects"

    await router.reconcile(canary)

    assert writes(api, first) == []


async def test_reconcile_keeps_the_weights_set(api: MemoryApi, store_canary: StoreCanary, case: Case) -> None:
    canary = await store_canary(flagger_manifest(case.manifest), **case.changes)
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)
    weight = case.weights[-1]
    await router.set_routes(canary, Routes.canary_at(weight))
    before = len(api.calls)

    await router.reconcile(canary)

    assert writes(api, before) == []
    assert await router.get_routes(canary) == Routes.canary_at(weight)


async def test_set_routes_twice_writes_once(api: MemoryApi, store_canary: StoreCanary, case: Case) -> None:
    canary = await store_canary(flagger_manifest(case.manifest), **case.changes)
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(case.weights[-1]))
    before = len(api.calls)

    await router.set_routes(canary, Routes.canary_at(case.weights[-1]))

    assert writes(api, before) == []


async def test_finalize_deletes_everything_it_created(api: MemoryApi, store_canary: StoreCanary, case: Case) -> None:
    canary = await store_canary(flagger_manifest(case.manifest), **case.changes)
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(case.weights[1]))

    await router.finalize(canary)

    left = sorted(obj["kind"] for obj in api.objects.values())
    assert left == ["Canary", "Deployment"]
    await router.finalize(canary)  # a second finalize finds nothing to do and does not fail


def _hand_edited(obj: JsonDict, primary: int, canary: int) -> None:
    """Set the split in a router's mesh object to these weights, as a hand edit would."""
    kind, spec = obj["kind"], obj["spec"]
    if kind == "VirtualService":
        route = spec["http"][0]["route"]
    elif kind == "HTTPRoute":
        route = spec["rules"][0]["backendRefs"]
    else:
        route = spec["backends"]
    for entry in route:
        name = (entry.get("destination") or {}).get("host") or entry.get("name") or entry.get("service")
        entry["weight"] = primary if str(name).endswith("-primary") else canary


@pytest.mark.parametrize("case", ["istio-002", "linkerd-005", "gatewayapi-v1-013"])
@pytest.mark.parametrize(("primary", "canary"), [(110, -10), (-50, 100)])
async def test_a_split_edited_out_of_range_is_a_routing_error_and_reconcile_repairs_it(
    api: MemoryApi, store_canary: StoreCanary, case: str, primary: int, canary: int
) -> None:
    spec = CASES[case]
    stored = await store_canary(flagger_manifest(spec.manifest), **spec.changes)
    router = router_for(stored.spec.provider, api)
    await router.reconcile(stored)
    await router.set_routes(stored, Routes.canary_at(10))
    [split] = [obj for obj in mesh_objects(api) if obj["kind"] in ("VirtualService", "HTTPRoute", "TrafficSplit")]
    _hand_edited(split, primary, canary)

    with pytest.raises(RoutingError, match=r"add up to 100|within 0\.\.100|negative") as refused:
        await router.get_routes(stored)
    assert split["metadata"]["name"] in refused.value.message  # it names the object
    await router.reconcile(stored)  # repairs it to the Canary's status weight (0 here), instead of raising
    assert await router.get_routes(stored) == Routes.canary_at(0)
