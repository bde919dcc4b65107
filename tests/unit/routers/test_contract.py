"""The contract every registered router keeps, and every declared metric series: a new one passes by being registered.

For each ``spec.provider`` name of :data:`canary.routers.DECLARATIONS` (so
every router and every API version it writes), on a Canary built from its
own declaration (its strategies, the route settings it carries):

- every object it writes is of a kind it declares (what RBAC grants and the
  testbed serves) and valid: mesh objects against the provider's CRD schema
  from the shared reference CRDs, Services against Kubernetes' own schema
  (kubernetes-validate);
- weights round-trip: ``set_routes`` then ``get_routes`` for a range of
  splits (0..100 by 5 with weighted steps; 0 and 100 for blue/green only);
  mirroring, A/B routing (``spec.analysis.match``) and each of
  ``spec.service``'s route settings work exactly when they are declared,
  and the built-in metrics read the series it declares;
- ``finalize`` gives a user's pre-existing objects (the apex Service, and
  the routing object of a router that has one) their original spec back,
  after the rollout changed them.

For each declared metric series, the prometheus provider (the one metric
source) runs its built-in checks and the judge's window queries on a real
Prometheus: each parses and, with no series, answers "no data".
"""

from __future__ import annotations

import copy
import json
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest

from canary.core.routes import Routes
from canary.kube.api import CANARIES, DEPLOYMENTS, SERVICES, JsonDict, Resource
from canary.kube.memory import MemoryApi
from canary.models import Canary
from canary.models.support import ROUTE_FIELDS, MetricSeries, ProviderSupport
from canary.providers import NoDataError, PrometheusProvider
from canary.providers.builtin import BUILTIN_METRICS, UnknownMeshError, builtin_query, metrics_mesh, window_queries
from canary.routers import (
    METRIC_SERIES,
    ORIGINAL_SPEC_ANNOTATION,
    ROUTED_PROVIDERS,
    ObjectRouter,
    Router,
    RoutingError,
    declaration_for,
    refusals,
    router_for,
    unsupported,
)
from canary_testbed.prom import PrometheusServer
from tests.unit.providers.support import require_prometheus
from tests.unit.routers.conftest import deployment
from tests.unit.routers.schemas import schema_errors

KUBERNETES_VERSION = "1.25"
"""The oldest Kubernetes the controller targets (as in tests/unit/deploy): Services must be valid there."""

SCHEMA_STAND_INS = {"split.smi-spec.io/v1alpha3": "split.smi-spec.io/v1alpha2"}
"""Versions without a reference CRD, checked against the one of the same shape: SMI's reference CRD
stops at v1alpha2, and v1alpha3's TrafficSplit backends are v1alpha2's (integer weights)."""

NAMESPACE = "test"
USER_ANNOTATION = {"team": "web"}

ROUTE_FIELD_SAMPLES: dict[str, Any] = {
    "gateways": ["istio-ingress/public-gateway"],
    "delegation": True,
    "corsPolicy": {"allowOrigins": [{"exact": "https://example.com"}], "allowMethods": ["GET"]},
    "retries": {"attempts": 3, "perTryTimeout": "1s", "retryOn": "gateway-error"},
    "trafficPolicy": {"tls": {"mode": "ISTIO_MUTUAL"}},
    "gatewayRefs": [{"name": "other-gateway", "namespace": "istio-ingress"}],
    "backendTimeout": "10s",
    "mirror": [{"backendRef": {"name": "podinfo-shadow", "port": 9898}}],
    "hosts": ["www.example.com"],
    "match": [{"uri": {"prefix": "/api"}}],
    "headers": {"request": {"set": {"x-env": "test"}}},
    "rewrite": {"uri": "/"},
    "timeout": "30s",
}
"""A value for each of ``spec.service``'s route settings (``ROUTE_FIELDS``), valid for every provider carrying it."""


def _canary_spec(
    provider: str, support: ProviderSupport, *, ab_testing: bool = False, service: JsonDict | None = None
) -> JsonDict:
    """A Canary spec this provider can run as declared: weighted steps if it has them, else iterations;
    with ``ab_testing``, iterations for the requests that match a header."""
    service = {"port": 9898, "targetPort": 9898, **(service or {})}
    if "gatewayRefs" in support.route_fields:
        service.setdefault("gatewayRefs", [{"name": "gateway", "namespace": "istio-ingress"}])
    analysis: JsonDict = {"interval": "1m", "threshold": 5}
    if ab_testing:
        analysis.update(iterations=10, match=[{"headers": {"x-canary": {"exact": "insider"}}}])
    elif "canary" in support.strategies:
        analysis.update(stepWeight=10, maxWeight=50)
    else:
        analysis["iterations"] = 10
    return {
        "provider": provider,
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": service,
        "analysis": analysis,
    }


def _canary_body(provider: str, *, ab_testing: bool = False, service: JsonDict | None = None) -> JsonDict:
    """The contract's Canary for ``provider``, as a user writes it."""
    support = declaration_for(provider).support
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NAMESPACE},
        "spec": _canary_spec(provider, support, ab_testing=ab_testing, service=service),
    }


async def _stored_canary(
    api: MemoryApi, provider: str, *, ab_testing: bool = False, service: JsonDict | None = None
) -> Canary:
    """The provider's Canary as the controller reads it (with a uid), and its target Deployment."""
    stored = await api.create(CANARIES, NAMESPACE, _canary_body(provider, ab_testing=ab_testing, service=service))
    await api.create(DEPLOYMENTS, NAMESPACE, deployment("podinfo", NAMESPACE))
    canary = Canary.model_validate(stored)
    assert refusals(canary) == [], "the contract's Canary must be one the provider's declaration accepts"
    return canary


def _splits(support: ProviderSupport) -> list[int]:
    return list(range(0, 101, 5)) if "canary" in support.strategies else [0, 100, 0]


def _written(api: MemoryApi) -> list[tuple[Resource, JsonDict]]:
    return [(resource, obj) for (resource, _, _), obj in api.objects.items() if resource not in (CANARIES, DEPLOYMENTS)]


def _assert_declared_and_valid(api: MemoryApi, provider: str) -> None:
    declared = {SERVICES, *declaration_for(provider).writes}
    for resource, obj in _written(api):
        where = f"{obj['kind']} {obj['metadata']['name']}"
        assert resource in declared, f"{provider} wrote {where} ({resource.api_version}), a kind it does not declare"
        if resource.group == "":
            try:
                kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as error:
                pytest.fail(f"{where} is not a valid Kubernetes object: {error.message}")
            continue
        checked = copy.deepcopy(obj)
        checked["apiVersion"] = SCHEMA_STAND_INS.get(checked["apiVersion"], checked["apiVersion"])
        assert schema_errors(checked) == [], where


@pytest.fixture(params=ROUTED_PROVIDERS)
def provider(request: pytest.FixtureRequest) -> str:
    """Every ``spec.provider`` name a registered router answers to."""
    name: str = request.param
    return name


async def test_objects_are_declared_and_valid_and_weights_round_trip(provider: str) -> None:
    api = MemoryApi()
    canary = await _stored_canary(api, provider)
    support = declaration_for(provider).support
    router = router_for(provider, api)

    await router.reconcile(canary)
    assert await router.get_routes(canary) == Routes(primary=100, canary=0)
    _assert_declared_and_valid(api, provider)
    for weight in _splits(support):
        await router.set_routes(canary, Routes.canary_at(weight))
        assert await router.get_routes(canary) == Routes.canary_at(weight), weight
        _assert_declared_and_valid(api, provider)


async def test_mirroring_works_exactly_when_declared(provider: str) -> None:
    api = MemoryApi()
    canary = await _stored_canary(api, provider)
    router = router_for(provider, api)
    await router.reconcile(canary)
    mirrored = Routes(primary=100, canary=0, mirrored=True)

    if declaration_for(provider).support.mirroring:
        await router.set_routes(canary, mirrored)
        assert await router.get_routes(canary) == mirrored
        _assert_declared_and_valid(api, provider)
    else:
        with pytest.raises(RoutingError, match="cannot mirror"):
            await router.set_routes(canary, mirrored)
        assert await router.get_routes(canary) == Routes(primary=100, canary=0)


async def test_ab_testing_routes_exactly_when_declared(provider: str) -> None:
    support = declaration_for(provider).support
    if "ab-testing" not in support.strategies:
        canary = Canary.model_validate(_canary_body(provider, ab_testing=True))
        assert "spec.analysis.match" in [problem.path for problem in refusals(canary)]
        return
    api = MemoryApi()
    canary = await _stored_canary(api, provider, ab_testing=True)
    router = router_for(provider, api)
    await router.reconcile(canary)
    for weight in (0, 100, 0):
        await router.set_routes(canary, Routes.canary_at(weight))
        assert await router.get_routes(canary) == Routes.canary_at(weight), weight
        _assert_declared_and_valid(api, provider)
    assert "insider" in json.dumps([obj for _, obj in _written(api)]), "the A/B match is not in the routing object"


async def _reconciled_objects(provider: str, service: JsonDict | None = None) -> list[JsonDict]:
    """Everything the provider's router writes on a first reconcile, without the server's stamps."""
    api = MemoryApi()
    canary = await _stored_canary(api, provider, service=service)
    await router_for(provider, api).reconcile(canary)
    _assert_declared_and_valid(api, provider)
    objects = []
    for _, obj in _written(api):
        obj = copy.deepcopy(obj)
        for stamp in ("uid", "resourceVersion", "creationTimestamp", "ownerReferences"):
            obj["metadata"].pop(stamp, None)
        objects.append(obj)
    return objects


async def test_route_settings_are_carried_exactly_when_declared(provider: str) -> None:
    """A declared route setting changes what is written; any other is accepted, reported, and ignored."""
    support = declaration_for(provider).support
    plain = await _reconciled_objects(provider)
    assert set(ROUTE_FIELD_SAMPLES) == set(ROUTE_FIELDS)
    for field, value in ROUTE_FIELD_SAMPLES.items():
        written = await _reconciled_objects(provider, {field: value})
        if field in support.route_fields:
            assert written != plain, f"{provider} declares spec.service.{field} but writes nothing of it"
        else:
            assert written == plain, f"{provider} does not declare spec.service.{field} but writes it"
            canary = Canary.model_validate(_canary_body(provider, service={field: value}))
            assert f"spec.service.{field}" in [problem.path for problem in unsupported(canary)], field


def test_the_builtin_metrics_read_the_series_each_provider_declares(provider: str) -> None:
    """What ``canary.providers.builtin.metrics_mesh`` answers (it may not import the routers) is declared."""
    metrics = declaration_for(provider).support.metrics
    if metrics is None:
        with pytest.raises(UnknownMeshError):
            metrics_mesh(provider)
        return
    for default in METRIC_SERIES:
        expected = default if metrics == "mesh" else metrics.mesh
        assert metrics_mesh(provider, default) == expected


async def _user_objects(api: MemoryApi, router: Router, canary: Canary) -> dict[Resource, JsonDict]:
    """A user's own apex Service, and the routing object if the router has one, as they were before."""
    originals: dict[Resource, JsonDict] = {
        SERVICES: {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "podinfo", "annotations": dict(USER_ANNOTATION)},
            "spec": {"type": "ClusterIP", "selector": {"app": "podinfo"}, "ports": [{"port": 80, "targetPort": 9898}]},
        }
    }
    if isinstance(router, ObjectRouter):
        # (the user's own split: everything to the primary, as their object would be before a rollout)
        routing = router.build(canary, Routes(primary=100, canary=0))
        routing["metadata"] = {"name": routing["metadata"]["name"], "annotations": dict(USER_ANNOTATION)}
        originals[router.resource] = routing
    for resource, body in originals.items():
        await api.create(resource, NAMESPACE, copy.deepcopy(body))
    return originals


async def test_finalize_gives_adopted_objects_their_original_spec_back(provider: str) -> None:
    api = MemoryApi()
    canary = await _stored_canary(api, provider)
    router = router_for(provider, api)
    originals = await _user_objects(api, router, canary)

    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(_splits(declaration_for(provider).support)[-2]))
    for resource, original in originals.items():
        adopted = await api.get(resource, NAMESPACE, original["metadata"]["name"])
        assert adopted is not None
        assert ORIGINAL_SPEC_ANNOTATION in adopted["metadata"]["annotations"], f"{resource.kind} was not adopted"
        assert adopted["spec"] != original["spec"], f"the rollout did not change the {resource.kind}"

    await router.finalize(canary)

    for resource, original in originals.items():
        given_back = await api.get(resource, NAMESPACE, original["metadata"]["name"])
        assert given_back is not None, f"the user's {resource.kind} was deleted"
        assert given_back["spec"] == original["spec"], resource.kind
        assert given_back["metadata"]["annotations"] == USER_ANNOTATION, resource.kind
        assert "ownerReferences" not in given_back["metadata"], resource.kind
    left = {obj["kind"] for _, obj in _written(api)} - {original["kind"] for original in originals.values()}
    assert left == set(), f"finalize left objects it created: {left}"


@pytest.fixture(scope="module")
def prometheus() -> Any:
    """A real Prometheus on a free 127.0.0.1 port, scraping nothing (module-scoped)."""
    require_prometheus()
    with PrometheusServer() as server:
        yield server


@pytest.mark.parametrize("series", list(METRIC_SERIES.values()), ids=list(METRIC_SERIES))
async def test_the_prometheus_provider_runs_every_query_of_a_declared_series(
    prometheus: PrometheusServer, series: MetricSeries
) -> None:
    provider = PrometheusProvider(prometheus.url)
    try:
        for name in BUILTIN_METRICS:
            query = builtin_query(name, series.mesh, NAMESPACE, "podinfo", "1m")
            assert series.selector(NAMESPACE, "podinfo") in query
            with pytest.raises(NoDataError):
                await provider.query(query)
        queries = window_queries(series.mesh, NAMESPACE, "podinfo", "1m")
        for promql in (queries.requests, queries.errors):
            with pytest.raises(NoDataError):
                await provider.query(promql)
        assert await provider.query_vector(queries.latency) == {}
    finally:
        provider.close()
