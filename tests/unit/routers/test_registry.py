"""The provider registry: every routed provider gets its router; the others fail loudly."""

from __future__ import annotations

import pytest

from canary.kube.memory import MemoryApi
from canary.models import PROVIDERS, Canary, support
from canary.routers import (
    DECLARATIONS,
    METRIC_SERIES,
    PROVIDER_SUPPORT,
    ROUTED_PROVIDERS,
    WRITTEN_RESOURCES,
    GatewayApiRouter,
    IstioRouter,
    KubernetesRouter,
    SmiRouter,
    UnknownProvider,
    declaration_for,
    router_for,
    unsupported,
)
from canary_testbed.meshcrds import mesh_crds


@pytest.mark.parametrize("provider", [None, ""])
def test_no_provider_means_istio(provider: str | None) -> None:
    assert isinstance(router_for(provider, MemoryApi()), IstioRouter)


@pytest.mark.parametrize(
    ("provider", "kind", "api_version"),
    [
        ("istio", IstioRouter, None),
        ("kubernetes", KubernetesRouter, None),
        ("linkerd", SmiRouter, "split.smi-spec.io/v1alpha2"),
        ("smi:v1alpha1", SmiRouter, "split.smi-spec.io/v1alpha1"),
        ("smi:v1alpha2", SmiRouter, "split.smi-spec.io/v1alpha2"),
        ("smi:v1alpha3", SmiRouter, "split.smi-spec.io/v1alpha3"),
        ("gatewayapi:v1", GatewayApiRouter, "gateway.networking.k8s.io/v1"),
        ("gatewayapi:v1beta1", GatewayApiRouter, "gateway.networking.k8s.io/v1beta1"),
    ],
)
def test_each_provider_gets_its_router(provider: str, kind: type, api_version: str | None) -> None:
    router = router_for(provider, MemoryApi())

    assert isinstance(router, kind)
    if api_version is not None:
        assert isinstance(router, SmiRouter | GatewayApiRouter)
        assert router.resource.api_version == api_version


def test_routed_providers_are_names_the_model_accepts_and_reports_as_routed() -> None:
    assert set(ROUTED_PROVIDERS) <= set(PROVIDERS)
    assert set(ROUTED_PROVIDERS) == set(PROVIDER_SUPPORT)
    assert support.DEFAULT_PROVIDER == "istio"


@pytest.mark.parametrize("provider", [*sorted(set(PROVIDERS) - set(ROUTED_PROVIDERS)), "Istio", "smi"])
def test_other_providers_are_refused_naming_the_supported_ones(provider: str) -> None:
    with pytest.raises(UnknownProvider, match=rf"spec.provider '{provider}' is not routed.*supported: gatewayapi:v1"):
        router_for(provider, MemoryApi())


def test_each_name_has_one_declaration_and_the_tables_come_from_them() -> None:
    names = [name for declaration in DECLARATIONS for name in declaration.names]
    assert sorted(names) == list(ROUTED_PROVIDERS)
    for declaration in DECLARATIONS:
        for name in declaration.names:
            assert declaration_for(name) is declaration
            assert PROVIDER_SUPPORT[name] is declaration.support
    assert declaration_for(None) is declaration_for("istio")
    assert set(WRITTEN_RESOURCES) >= {resource for declaration in DECLARATIONS for resource in declaration.writes}


def test_every_declared_metric_series_is_one_the_metric_code_can_name() -> None:
    assert METRIC_SERIES == support.MESH_METRICS
    assert list(METRIC_SERIES) == ["istio", "linkerd"]


def test_without_the_declarations_the_models_check_nothing_provider_dependent() -> None:
    canary = Canary.model_validate(
        {
            "apiVersion": "canary.dev/v1beta1",
            "kind": "Canary",
            "metadata": {"name": "web", "namespace": "test"},
            "spec": {
                "provider": "nginx",
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "service": {"port": 80},
                "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
            },
        }
    )
    assert support.unsupported(canary) == []
    assert [problem.path for problem in unsupported(canary)] == ["spec.provider"]


def test_the_testbed_serves_every_kind_and_version_a_router_writes() -> None:
    served = {
        (crd["spec"]["group"], crd["spec"]["names"]["plural"], version["name"])
        for crd in mesh_crds()
        for version in crd["spec"]["versions"]
    }
    written = {(r.group, r.plural, r.version) for r in WRITTEN_RESOURCES if r.group}
    assert written <= served, sorted(written - served)
