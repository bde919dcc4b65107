"""The Istio router: what the VirtualService and DestinationRules say, adoption, mirroring, refusals."""

from __future__ import annotations

import json

import pytest

from canary.core.routes import Routes
from canary.kube.api import DESTINATION_RULES, SERVICES, VIRTUAL_SERVICES, JsonDict
from canary.kube.memory import MemoryApi
from canary.routers import ORIGINAL_SPEC_ANNOTATION, IstioRouter, RoutingError
from tests.unit.routers.conftest import StoreCanary, flagger_manifest, writes
from tests.unit.routers.schemas import schema_errors


def vs(api: MemoryApi, name: str = "podinfo") -> JsonDict:
    obj = api.objects[(VIRTUAL_SERVICES, "test", name)]
    return obj


async def test_virtual_service_follows_flagger_istio_canary(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)

    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(10))

    spec = vs(api)["spec"]
    assert spec["hosts"] == ["app.example.com", "podinfo"]
    assert spec["gateways"] == ["istio-system/public-gateway", "mesh"]
    [route] = spec["http"]
    assert route["match"] == [{"uri": {"prefix": "/"}}]
    assert route["rewrite"] == {"uri": "/"}
    assert route["timeout"] == "30s"
    # portDiscovery behind an ingress gateway: Flagger names the port.
    assert route["route"] == [
        {"destination": {"host": "podinfo-primary", "port": {"number": 80}}, "weight": 90},
        {"destination": {"host": "podinfo-canary", "port": {"number": 80}}, "weight": 10},
    ]
    for name in ("podinfo-primary", "podinfo-canary"):
        rule = api.objects[(DESTINATION_RULES, "test", name)]
        assert rule["spec"] == {"host": name, "trafficPolicy": {"tls": {"mode": "DISABLE"}}}


async def test_mesh_gateway_and_no_port_by_default(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("005"), spec__provider="istio")

    await IstioRouter(api).reconcile(canary)

    spec = vs(api)["spec"]
    assert spec["hosts"] == ["podinfo"]
    assert spec["gateways"] == ["mesh"]
    assert [dest["destination"] for dest in spec["http"][0]["route"]] == [
        {"host": "podinfo-primary"},
        {"host": "podinfo-canary"},
    ]


async def test_ab_testing_routes_matching_requests_and_keeps_the_rest_on_primary(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    canary = await store_canary(flagger_manifest("001"))
    router = IstioRouter(api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes(primary=0, canary=100))

    first, rest = vs(api)["spec"]["http"]
    assert first["match"] == [
        {"uri": {"prefix": "/"}, "headers": {"cookie": {"regex": "^(.*?;)?(type=insider)(;.*)?$"}}},
        {"uri": {"prefix": "/"}, "headers": {"user-agent": {"regex": ".*Firefox.*"}}},
    ]
    assert [(d["destination"]["host"], d["weight"]) for d in first["route"]] == [
        ("podinfo-primary", 0),
        ("podinfo-canary", 100),
    ]
    assert rest["match"] == [{"uri": {"prefix": "/"}}]
    assert [(d["destination"]["host"], d["weight"]) for d in rest["route"]] == [("podinfo-primary", 100)]
    assert await router.get_routes(canary) == Routes(primary=0, canary=100)


async def test_mirroring_copies_traffic_to_the_canary(api: MemoryApi, store_canary: StoreCanary) -> None:
    manifest = flagger_manifest("002")
    manifest["spec"]["analysis"].update({"mirror": True, "mirrorWeight": 25})
    canary = await store_canary(manifest)
    router = IstioRouter(api)
    await router.reconcile(canary)

    await router.set_routes(canary, Routes(primary=100, canary=0, mirrored=True))

    route = vs(api)["spec"]["http"][0]
    assert route["mirror"] == {"host": "podinfo-canary"}
    assert route["mirrorPercentage"] == {"value": 25.0}
    assert schema_errors(vs(api)) == []
    assert await router.get_routes(canary) == Routes(primary=100, canary=0, mirrored=True)

    await router.set_routes(canary, Routes(primary=100, canary=0))

    assert "mirror" not in vs(api)["spec"]["http"][0]
    assert "mirrorPercentage" not in vs(api)["spec"]["http"][0]
    assert await router.get_routes(canary) == Routes(primary=100, canary=0)


async def test_tcp_service_gets_a_tcp_route_and_refuses_mirroring(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(
        flagger_manifest("002"), spec__service={"port": 6379, "appProtocol": "tcp", "match": [{"port": 6379}]}
    )
    router = IstioRouter(api)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(30))

    spec = vs(api)["spec"]
    assert "http" not in spec
    assert spec["tcp"][0]["match"] == [{"port": 6379}]
    assert [d["weight"] for d in spec["tcp"][0]["route"]] == [70, 30]
    with pytest.raises(RoutingError, match="cannot mirror TCP"):
        await router.set_routes(canary, Routes(100, 0, mirrored=True))


async def test_delegation_refuses_hosts(api: MemoryApi, store_canary: StoreCanary) -> None:
    service = flagger_manifest("002")["spec"]["service"] | {"delegation": True}
    canary = await store_canary(flagger_manifest("002"), spec__service=service)

    with pytest.raises(RoutingError, match=r"must be empty when spec\.service\.delegation"):
        await IstioRouter(api).reconcile(canary)


async def test_existing_virtual_service_is_adopted_and_restored(api: MemoryApi, store_canary: StoreCanary) -> None:
    original_spec = {
        "hosts": ["podinfo"],
        "http": [{"route": [{"destination": {"host": "podinfo"}}], "timeout": "5s"}],
    }
    await api.create(
        VIRTUAL_SERVICES,
        "test",
        {"metadata": {"name": "podinfo", "annotations": {"note": "hand-written"}}, "spec": original_spec},
    )
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)

    with pytest.raises(RoutingError, match="not managed by Canary podinfo"):
        await router.get_routes(canary)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(40))

    adopted = vs(api)
    assert "ownerReferences" not in adopted["metadata"], "deleting the Canary must not delete the user's object"
    assert json.loads(adopted["metadata"]["annotations"][ORIGINAL_SPEC_ANNOTATION]) == original_spec
    assert adopted["metadata"]["annotations"]["note"] == "hand-written"
    assert await router.get_routes(canary) == Routes.canary_at(40)
    assert schema_errors(adopted) == []

    await router.finalize(canary)

    restored = vs(api)
    assert restored["spec"] == original_spec
    assert restored["metadata"]["annotations"] == {"note": "hand-written"}
    assert (DESTINATION_RULES, "test", "podinfo-primary") not in api.objects
    assert (SERVICES, "test", "podinfo-primary") not in api.objects


async def test_object_controlled_by_someone_else_is_refused(api: MemoryApi, store_canary: StoreCanary) -> None:
    owner = {"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "podinfo", "uid": "1", "controller": True}
    await api.create(
        VIRTUAL_SERVICES,
        "test",
        {"metadata": {"name": "podinfo", "ownerReferences": [owner]}, "spec": {"hosts": ["podinfo"]}},
    )
    canary = await store_canary(flagger_manifest("002"))

    with pytest.raises(RoutingError, match="controlled by Rollout podinfo"):
        await IstioRouter(api).reconcile(canary)
    assert vs(api)["spec"] == {"hosts": ["podinfo"]}


async def test_drift_is_repaired_without_moving_the_weights(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)
    await router.reconcile(canary)
    await router.set_routes(canary, Routes.canary_at(20))
    await api.patch(VIRTUAL_SERVICES, "test", "podinfo", {"spec": {"gateways": ["mesh"], "tcp": [{"route": []}]}})
    await api.patch(DESTINATION_RULES, "test", "podinfo-canary", {"spec": {"trafficPolicy": None}})

    await router.reconcile(canary)

    spec = vs(api)["spec"]
    assert spec["gateways"] == ["istio-system/public-gateway", "mesh"]
    assert "tcp" not in spec
    assert await router.get_routes(canary) == Routes.canary_at(20)
    assert api.objects[(DESTINATION_RULES, "test", "podinfo-canary")]["spec"]["trafficPolicy"] == {
        "tls": {"mode": "DISABLE"}
    }


async def test_recreated_virtual_service_starts_from_the_status_weight(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    canary = await store_canary(flagger_manifest("002"), status={"canaryWeight": 35, "phase": "Progressing"})
    router = IstioRouter(api)

    await router.reconcile(canary)

    assert await router.get_routes(canary) == Routes.canary_at(35)


async def test_canary_recreated_under_the_same_name_takes_its_objects_back(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)
    await router.reconcile(canary)
    reborn = canary.model_copy(update={"metadata": canary.metadata.model_copy(update={"uid": "new-uid"})})

    await router.reconcile(reborn)

    assert [ref["uid"] for ref in vs(api)["metadata"]["ownerReferences"]] == ["new-uid"]


async def test_get_routes_without_virtual_service_is_a_temporary_error(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    canary = await store_canary(flagger_manifest("002"))

    with pytest.raises(RoutingError, match="VirtualService test/podinfo not found") as caught:
        await IstioRouter(api).get_routes(canary)
    assert caught.value.temporary


async def test_reconcile_without_target_is_a_temporary_error(api: MemoryApi, store_canary: StoreCanary) -> None:
    canary = await store_canary(flagger_manifest("002"), spec__targetRef__name="missing")
    await api.delete(*next(key for key in api.objects if key[0].kind == "Deployment"))
    before = len(api.calls)

    with pytest.raises(RoutingError, match="target Deployment test/missing not found") as caught:
        await IstioRouter(api).reconcile(canary)
    assert caught.value.temporary
    assert writes(api, before) == []


async def test_suffix_matches_istio_cannot_express_are_refused(api: MemoryApi, store_canary: StoreCanary) -> None:
    manifest = flagger_manifest("001")
    manifest["spec"]["analysis"]["match"] = [{"headers": {"user-agent": {"suffix": "Firefox"}}}]
    canary = await store_canary(manifest)

    with pytest.raises(
        RoutingError, match=r"spec\.analysis\.match\[0\]\.headers\.user-agent: Istio cannot match by suffix"
    ):
        await IstioRouter(api).reconcile(canary)


@pytest.mark.parametrize(("stored", "why"), [("{oops", "is not valid JSON"), ("[1, 2]", "is not a JSON object")])
async def test_an_adopted_object_whose_saved_spec_is_broken_is_left_as_it_is(
    api: MemoryApi, store_canary: StoreCanary, stored: str, why: str
) -> None:
    await api.create(VIRTUAL_SERVICES, "test", {"metadata": {"name": "podinfo"}, "spec": {"hosts": ["podinfo"]}})
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)
    await router.reconcile(canary)
    await api.patch(
        VIRTUAL_SERVICES, "test", "podinfo", {"metadata": {"annotations": {ORIGINAL_SPEC_ANNOTATION: stored}}}
    )
    before = vs(api)["spec"]

    with pytest.raises(RoutingError, match=f"annotation {ORIGINAL_SPEC_ANNOTATION} {why}"):
        await router.finalize(canary)
    assert vs(api)["spec"] == before  # still routing to the Services it needs, which are all still there
    assert (SERVICES, "test", "podinfo-primary") in api.objects
    assert (DESTINATION_RULES, "test", "podinfo-primary") in api.objects


async def test_a_spec_saved_at_adoption_survives_a_lost_adopted_by_annotation(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    original = {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}]}]}
    await api.create(VIRTUAL_SERVICES, "test", {"metadata": {"name": "podinfo"}, "spec": original})
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)
    await router.reconcile(canary)
    # someone removes the adopted-by mark by hand: the object looks unowned again, with our spec in it
    await api.patch(VIRTUAL_SERVICES, "test", "podinfo", {"metadata": {"annotations": {"canary.dev/adopted-by": None}}})
    await router.reconcile(canary)

    await router.finalize(canary)

    assert vs(api)["spec"] == original


async def test_a_broken_saved_spec_is_replaced_when_the_object_is_adopted_again(
    api: MemoryApi, store_canary: StoreCanary
) -> None:
    original = {"hosts": ["podinfo"], "http": [{"route": [{"destination": {"host": "podinfo"}}]}]}
    broken = {"name": "podinfo", "annotations": {ORIGINAL_SPEC_ANNOTATION: "{oops"}}
    await api.create(VIRTUAL_SERVICES, "test", {"metadata": broken, "spec": original})
    canary = await store_canary(flagger_manifest("002"))
    router = IstioRouter(api)
    await router.reconcile(canary)

    await router.finalize(canary)

    assert vs(api)["spec"] == original
