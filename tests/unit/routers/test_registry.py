"""The provider registry: every routed provider gets its router; the others fail loudly."""

from __future__ import annotations

import pytest

from canary.kube.memory import MemoryApi
from canary.models import PROVIDERS, support
from canary.routers import (
    ROUTED_PROVIDERS,
    GatewayApiRouter,
    IstioRouter,
    KubernetesRouter,
    SmiRouter,
    UnknownProvider,
    router_for,
)


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
    assert set(ROUTED_PROVIDERS) == support.ROUTED_PROVIDERS
    assert support.DEFAULT_PROVIDER == "istio"


@pytest.mark.parametrize("provider", [*sorted(set(PROVIDERS) - set(ROUTED_PROVIDERS)), "Istio", "smi"])
def test_other_providers_are_refused_naming_the_supported_ones(provider: str) -> None:
    with pytest.raises(UnknownProvider, match=rf"spec.provider '{provider}' is not routed.*supported: gatewayapi:v1"):
        router_for(provider, MemoryApi())
