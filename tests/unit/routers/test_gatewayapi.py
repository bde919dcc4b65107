"""The Gateway API router: parentRefs, matches, filters, mirroring, refusals."""

from __future__ import annotations

import pytest

from canary.core.routes import Routes
from canary.kube.api import JsonDict
from canary.kube.memory import MemoryApi
from canary.routers import GatewayApiRouter, RoutingError, router_for
from canary.routers.gatewayapi import http_route_resource, map_matches
from tests.unit.routers.conftest import StoreCanary, flagger_manifest
from tests.unit.routers.schemas import schema_errors


def http_route(api: MemoryApi, version: str = "v1") -> JsonDict:
    return api.objects[(http_route_resource(version), "test", "podinfo")]


async def test_http_route_follows_flagger_gatewayapi_tutorial(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("013"), spec__provider="gatewayapi:v1")
    router = router_for(canary.spec.provider, api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes.canary_at(10))

    spec = http_route(api)["spec"]
    assert spec["parentRefs"] == [
        {"name": "gateway", "namespace": "istio-ingress", "group": "gateway.networking.k8s.io", "kind": "Gateway"}
    ]
    assert spec["hostnames"] == ["www.example.com"]
    [rule] = spec["rules"]
    assert rule["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    # Gateway API requires a port on Service backends (a CEL rule jsonschema does not run).
    assert rule["backendRefs"] == [
        {"group": "", "kind": "Service", "name": "podinfo-primary", "port": 9898, "weight": 90},
        {"group": "", "kind": "Service", "name": "podinfo-canary", "port": 9898, "weight": 10},
    ]


async def test_v1beta1_provider_writes_v1beta1(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("013"), spec__provider="gatewayapi:v1beta1")

    await router_for(canary.spec.provider, api).reconcile(canary)

    assert http_route(api, "v1beta1")["apiVersion"] == "gateway.networking.k8s.io/v1beta1"


def test_istio_style_matches_map_to_gateway_api() -> None:
    conditions: list[JsonDict] = [
        {"uri": {"regex": "/api/v[0-9]+"}, "method": {"exact": "GET"}},
        {"headers": {"x-b": {"exact": "2"}, "x-a": {"regex": "1.*"}}, "queryParams": {"debug": {"exact": "1"}}},
    ]

    assert map_matches(conditions) == [
        {"path": {"type": "RegularExpression", "value": "/api/v[0-9]+"}, "method": "GET"},
        {
            "headers": [
                {"name": "x-a", "type": "RegularExpression", "value": "1.*"},
                {"name": "x-b", "type": "Exact", "value": "2"},
            ],
            "queryParams": [{"name": "debug", "type": "Exact", "value": "1"}],
        },
    ]


@pytest.mark.parametrize(
    ("condition", "message"),
    [
        ({"headers": {"x-a": {"prefix": "a"}}}, "cannot match header 'x-a' with prefix"),
        ({"sourceLabels": {"app": "x"}}, "cannot match on sourceLabels"),
        ({"method": {"regex": "GET|POST"}}, "cannot match method with regex"),
    ],
)
def test_matches_gateway_api_cannot_express_are_refused(condition: JsonDict, message: str) -> None:
    with pytest.raises(RoutingError, match=message):
        map_matches([condition])


async def test_missing_gateway_refs_are_refused(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("005"), spec__provider="gatewayapi:v1")

    with pytest.raises(RoutingError, match=r"spec\.service\.gatewayRefs is required"):
        await router_for(canary.spec.provider, api).reconcile(canary)


async def test_mirroring_adds_a_request_mirror_filter(api: MemoryApi, store_canary: StoreCanary) -> None:
    manifest = flagger_manifest("013")
    manifest["spec"]["analysis"] = {
        "interval": "1m",
        "threshold": 5,
        "iterations": 10,
        "mirror": True,
        "mirrorWeight": 50,
    }
    canary = await store_canary(manifest, spec__provider="gatewayapi:v1")
    router = GatewayApiRouter(api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes(100, 0, mirrored=True))

    [rule] = http_route(api)["spec"]["rules"]
    assert rule["filters"] == [
        {
            "type": "RequestMirror",
            "requestMirror": {
                "backendRef": {"group": "", "kind": "Service", "name": "podinfo-canary", "port": 9898},
                "percent": 50,
            },
        }
    ]
    assert schema_errors(http_route(api)) == []
    assert await router.get_routes(canary) == Routes(100, 0, mirrored=True)


async def test_ab_rule_unites_service_and_analysis_headers(api: MemoryApi, store_canary: StoreCanary) -> None:
    manifest = flagger_manifest("013")
    manifest["spec"]["service"]["match"] = [{"uri": {"prefix": "/api"}, "headers": {"x-tier": {"exact": "gold"}}}]
    manifest["spec"]["analysis"] = {
        "interval": "1m",
        "threshold": 5,
        "iterations": 10,
        "match": [{"headers": {"x-canary": {"exact": "insider"}}}],
    }
    canary = await store_canary(manifest, spec__provider="gatewayapi:v1")
    router = GatewayApiRouter(api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes(0, 100))

    ab_rule, rest = http_route(api)["spec"]["rules"]
    assert ab_rule["matches"] == [
        {
            "path": {"type": "PathPrefix", "value": "/api"},
            "headers": [
                {"name": "x-canary", "type": "Exact", "value": "insider"},
                {"name": "x-tier", "type": "Exact", "value": "gold"},
            ],
        }
    ]
    assert [(b["name"], b["weight"]) for b in ab_rule["backendRefs"]] == [
        ("podinfo-primary", 0),
        ("podinfo-canary", 100),
    ]
    assert [(b["name"], b["weight"]) for b in rest["backendRefs"]] == [("podinfo-primary", 100)]


async def test_service_filters_and_timeouts(api: MemoryApi, store_canary: StoreCanary) -> None:
    manifest = flagger_manifest("013")
    manifest["spec"]["service"].update(
        {
            "timeout": "30s",
            "backendTimeout": "10s",
            "rewrite": {"uri": "/v2/index.html", "authority": "internal.example.com", "type": "ReplaceFullPath"},
            "headers": {"request": {"add": {"x-b": "2", "x-a": "1"}, "remove": ["x-debug"]}},
            "mirror": [{"backendRef": {"name": "podinfo-shadow", "port": 9898}}],
        }
    )
    canary = await store_canary(manifest, spec__provider="gatewayapi:v1")

    await GatewayApiRouter(api).reconcile(canary)

    [rule] = http_route(api)["spec"]["rules"]
    assert rule["timeouts"] == {"request": "30s", "backendRequest": "10s"}
    assert rule["filters"] == [
        {
            "type": "RequestHeaderModifier",
            "requestHeaderModifier": {
                "add": [{"name": "x-a", "value": "1"}, {"name": "x-b", "value": "2"}],
                "remove": ["x-debug"],
            },
        },
        {
            "type": "URLRewrite",
            "urlRewrite": {
                "hostname": "internal.example.com",
                "path": {"type": "ReplaceFullPath", "replaceFullPath": "/v2/index.html"},
            },
        },
        {
            "type": "RequestMirror",
            "requestMirror": {"backendRef": {"name": "podinfo-shadow", "port": 9898, "group": "", "kind": "Service"}},
        },
    ]
    assert schema_errors(http_route(api)) == []
