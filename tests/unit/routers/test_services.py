"""The apex, primary and canary Services: selectors, ports, metadata, adoption, drift."""

from __future__ import annotations

import json

import pytest

from canary.kube.api import SERVICES, JsonDict
from canary.kube.memory import MemoryApi
from canary.routers import ORIGINAL_SPEC_ANNOTATION, RoutingError, ServiceReconciler, selector_label
from canary.routers.services import _keep_node_ports
from tests.unit.routers.conftest import StoreCanary, deployment, flagger_manifest, writes


def service(api: MemoryApi, name: str) -> JsonDict:
    return api.objects[(SERVICES, "test", name)]


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"app": "web", "name": "other", "app.kubernetes.io/name": "x"}, ("app", "web")),
        ({"name": "web", "app.kubernetes.io/name": "x"}, ("name", "web")),
        ({"app.kubernetes.io/name": "web", "tier": "front"}, ("app.kubernetes.io/name", "web")),
    ],
)
def test_selector_label_follows_flaggers_order(labels: dict[str, str], expected: tuple[str, str]) -> None:
    assert selector_label(deployment(selector=labels)) == expected


def test_selector_label_without_a_known_label_names_them() -> None:
    with pytest.raises(ValueError, match=r"app, name, app\.kubernetes\.io/name"):
        selector_label(deployment(selector={"tier": "front"}))


async def test_three_services_select_primary_and_canary_pods(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"))

    await ServiceReconciler(api).reconcile(canary)

    assert service(api, "podinfo")["spec"]["selector"] == {"app": "podinfo-primary"}
    assert service(api, "podinfo-primary")["spec"]["selector"] == {"app": "podinfo-primary"}
    assert service(api, "podinfo-canary")["spec"]["selector"] == {"app": "podinfo"}
    for name in ("podinfo", "podinfo-primary", "podinfo-canary"):
        spec = service(api, name)["spec"]
        assert spec["type"] == "ClusterIP"
        assert spec["ports"] == [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9898}]
        assert service(api, name)["metadata"]["labels"]["app"] == name


async def test_initialize_creates_only_primary_and_canary(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"))

    await ServiceReconciler(api).initialize(canary)

    assert sorted(name for (res, _, name) in api.objects if res == SERVICES) == ["podinfo-canary", "podinfo-primary"]


async def test_port_settings_and_metadata(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(
        flagger_manifest("002"),
        deployment(selector={"app.kubernetes.io/name": "podinfo"}),
        spec__service={
            "port": 8080,
            "portName": "grpc",
            "targetPort": "grpc-port",
            "appProtocol": "grpc",
            "headless": True,
            "trafficDistribution": "PreferClose",
            "apex": {"labels": {"team": "web"}, "annotations": {"a": "1"}},
            "canary": {"annotations": {"c": "3"}},
        },
    )

    await ServiceReconciler(api).reconcile(canary)

    apex = service(api, "podinfo")
    assert apex["spec"]["ports"] == [
        {"name": "grpc", "protocol": "TCP", "port": 8080, "targetPort": "grpc-port", "appProtocol": "grpc"}
    ]
    assert apex["spec"]["clusterIP"] == "None"
    assert apex["spec"]["trafficDistribution"] == "PreferClose"
    assert apex["spec"]["selector"] == {"app.kubernetes.io/name": "podinfo-primary"}
    assert apex["metadata"]["labels"] == {"team": "web", "app.kubernetes.io/name": "podinfo"}
    assert apex["metadata"]["annotations"] == {"a": "1"}
    assert service(api, "podinfo-canary")["metadata"]["annotations"] == {"c": "3"}
    assert "annotations" not in service(api, "podinfo-primary")["metadata"]


async def test_port_discovery_adds_container_ports_but_not_the_proxies(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    containers: list[JsonDict] = [
        {
            "name": "podinfod",
            "ports": [
                {"name": "http", "containerPort": 9898},
                {"name": "http-metrics", "containerPort": 9797},
                {"containerPort": 9999},
            ],
        },
        {"name": "istio-proxy", "ports": [{"name": "http-envoy-prom", "containerPort": 15090}]},
    ]
    canary = await store_canary(flagger_manifest("002"), deployment(containers=containers))

    await ServiceReconciler(api).reconcile(canary)

    assert service(api, "podinfo-primary")["spec"]["ports"] == [
        {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9898},
        {"name": "http-metrics", "protocol": "TCP", "port": 9797, "targetPort": 9797},
        {"name": "tcp-podinfod-2", "protocol": "TCP", "port": 9999, "targetPort": 9999},
    ]


async def test_target_without_selector_label_is_refused(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"), deployment(selector={"tier": "front"}))

    with pytest.raises(RoutingError, match="none of the labels app, name"):
        await ServiceReconciler(api).reconcile(canary)
    assert not any(res == SERVICES for (res, _, _) in api.objects)


async def test_drift_is_repaired(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"))
    services = ServiceReconciler(api)
    await services.reconcile(canary)
    await api.patch(SERVICES, "test", "podinfo-primary", {"spec": {"selector": {"app": "podinfo", "x": "y"}}})
    before = len(api.calls)

    await services.reconcile(canary)

    assert writes(api, before) == [("patch", "services", "test", "podinfo-primary")]
    assert service(api, "podinfo-primary")["spec"]["selector"] == {"app": "podinfo-primary"}


# ours is named "http": another name, or none, is matched by number, and a lone port to ours
@pytest.mark.parametrize(("port_name", "number"), [("http", 80), ("web", 80), (None, 80), ("web", 8080)])
async def test_users_apex_service_is_adopted_and_given_back(
    api: MemoryApi, store_canary: StoreCanary, port_name: str | None, number: int
) -> None:
    port = {"protocol": "TCP", "port": number, "targetPort": 9898, "nodePort": 30080} | (
        {"name": port_name} if port_name else {}
    )
    users = {"type": "NodePort", "selector": {"app": "podinfo"}, "ports": [port], "clusterIP": "10.0.0.7"}
    await api.create(SERVICES, "test", {"metadata": {"name": "podinfo"}, "spec": users})
    canary = await store_canary(flagger_manifest("002"))
    services = ServiceReconciler(api)

    await services.reconcile(canary)
    before = len(api.calls)
    await services.reconcile(canary)

    assert writes(api, before) == []
    apex = service(api, "podinfo")
    assert apex["spec"]["selector"] == {"app": "podinfo-primary"}
    assert apex["spec"]["ports"][0]["nodePort"] == 30080, "an allocated node port must survive"
    assert apex["spec"]["type"] == "NodePort"
    assert apex["spec"]["clusterIP"] == "10.0.0.7"
    assert "ownerReferences" not in apex["metadata"]
    assert json.loads(apex["metadata"]["annotations"][ORIGINAL_SPEC_ANNOTATION]) == users

    await services.finalize(canary)

    assert service(api, "podinfo")["spec"] == users
    assert "annotations" not in service(api, "podinfo")["metadata"]
    assert (SERVICES, "test", "podinfo-primary") not in api.objects
    assert (SERVICES, "test", "podinfo-canary") not in api.objects


async def test_apex_switched_to_the_canary_stays_switched(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("019"))
    services = ServiceReconciler(api)
    await services.reconcile(canary)
    await services.point_apex(canary, to_canary=True)
    before = len(api.calls)

    await services.reconcile(canary)

    assert writes(api, before) == []
    assert service(api, "podinfo")["spec"]["selector"] == {"app": "podinfo"}


async def test_daemonset_targets_are_refused_clearly(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"), spec__targetRef__kind="DaemonSet")

    with pytest.raises(RoutingError, match=r"targetRef\.kind DaemonSet is not supported"):
        await ServiceReconciler(api).reconcile(canary)


def test_each_allocated_node_port_is_carried_over_once() -> None:
    current = {"spec": {"ports": [{"name": "web", "port": 80, "nodePort": 30080}]}}
    desired = {"spec": {"ports": [{"name": "http", "port": 80}, {"name": "web", "port": 8080}]}}
    kept = _keep_node_ports(desired, current)["spec"]["ports"]
    assert kept == [{"name": "http", "port": 80}, {"name": "web", "port": 8080, "nodePort": 30080}]  # by name first
