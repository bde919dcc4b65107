"""What we refuse and what we accept but do not act on yet, field by field."""

from __future__ import annotations

from typing import Any

import pytest

from canary.models import AlertProvider, Canary, MetricTemplate
from canary.routers import ROUTED_PROVIDERS, refusals, unsupported
from tests.unit.models.conftest import minimal_canary


def _canary(**spec: Any) -> Canary:
    obj = minimal_canary()
    obj["spec"].update(spec)
    return Canary.model_validate(obj)


def test_a_plain_istio_canary_has_no_problems() -> None:
    assert unsupported(_canary(provider="istio")) == []
    assert unsupported(_canary()) == []


def _routable(provider: str) -> Canary:
    """A Canary each routed provider can run: Gateway API needs gatewayRefs, kubernetes blue/green iterations."""
    obj = minimal_canary()
    obj["spec"]["provider"] = provider
    if provider.startswith("gatewayapi"):
        obj["spec"]["service"]["gatewayRefs"] = [{"name": "gateway", "namespace": "istio-ingress"}]
    if provider == "kubernetes":
        obj["spec"]["analysis"] = {"iterations": 5, "metrics": [{"name": "errors", "templateRef": {"name": "e"}}]}
    return Canary.model_validate(obj)


@pytest.mark.parametrize("provider", sorted(ROUTED_PROVIDERS))
def test_routed_providers_are_not_refused(provider: str) -> None:
    assert unsupported(_routable(provider)) == []


def test_the_default_provider_is_the_controllers() -> None:
    c = _canary(analysis={"stepWeight": 10})
    assert refusals(c) == []
    assert [p.path for p in refusals(c, default_provider="kubernetes")] == ["spec.analysis.stepWeight"]
    assert [p.path for p in refusals(c, default_provider="nginx")] == ["spec.provider"]


@pytest.mark.parametrize("provider", ["nginx", "contour", "gloo", "appmesh", "kuma", "traefik", "osm", "apisix"])
def test_unrouted_providers_are_refused_naming_the_provider(provider: str) -> None:
    (problem,) = unsupported(_canary(provider=provider))
    assert problem.severity == "refuse"
    assert problem.path == "spec.provider"
    assert problem.message.startswith(f"spec.provider {provider} is not supported: we route ")


def test_only_deployments_are_rolled_out() -> None:
    c = _canary(targetRef={"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"})
    assert [(p.path, p.severity) for p in unsupported(c)] == [("spec.targetRef.kind", "refuse")]
    assert "DaemonSet is not supported" in unsupported(c)[0].message


def test_a_canary_without_service_is_refused() -> None:
    obj = minimal_canary()
    del obj["spec"]["service"]
    problems = unsupported(Canary.model_validate(obj))
    assert [(p.path, p.severity) for p in problems] == [("spec.service", "refuse")]


def test_builtin_metrics_need_a_mesh() -> None:
    obj = minimal_canary(
        stepWeight=None,
        iterations=5,
        metrics=[{"name": "request-success-rate"}, {"name": "latency", "templateRef": {"name": "l"}}],
    )
    obj["spec"]["provider"] = "kubernetes"
    problems = unsupported(Canary.model_validate(obj))
    assert [(p.path, p.severity) for p in problems] == [("spec.analysis.metrics[0].name", "refuse")]
    assert problems[0].message == (
        "spec.analysis.metrics[0].name: built-in metric request-success-rate is not available for provider "
        "kubernetes (it needs a mesh's proxy metrics); use a MetricTemplate"
    )


def test_the_judge_needs_a_mesh_or_a_template_pair() -> None:
    obj = minimal_canary(stepWeight=None, iterations=5, judge={})
    obj["spec"]["provider"] = "kubernetes"
    problems = unsupported(Canary.model_validate(obj))
    assert [(p.path, p.severity) for p in problems] == [("spec.analysis.judge", "refuse")]
    assert "provider kubernetes has none of" in problems[0].message
    obj["spec"]["analysis"]["judge"] = {"templates": {"requests": {"name": "r"}, "errors": {"name": "e"}}}
    assert unsupported(Canary.model_validate(obj)) == []


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("analysis", "sessionAffinity", {"cookieName": "c"}),
        ("spec", "autoscalerRef", {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "name": "h"}),
        ("spec", "ingressRef", {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "name": "i"}),
        ("spec", "routeRef", {"apiVersion": "apisix.apache.org/v2", "kind": "ApisixRoute", "name": "r"}),
        ("spec", "upstreamRef", {"apiVersion": "gloo.solo.io/v1", "kind": "Upstream", "name": "u"}),
        ("service", "meshName", "global"),
        ("service", "backends", ["backend"]),
        ("service", "unmanagedMetadata", {"labels": ["a"]}),
    ],
)
def test_accepted_but_not_built_fields_are_reported_not_yet(where: str, field: str, value: Any) -> None:
    obj = minimal_canary()
    target = {"analysis": obj["spec"]["analysis"], "spec": obj["spec"], "service": obj["spec"]["service"]}[where]
    target[field] = value
    problems = unsupported(Canary.model_validate(obj))
    path = {"analysis": "spec.analysis", "spec": "spec", "service": "spec.service"}[where] + f".{field}"
    assert [(p.path, p.severity) for p in problems] == [(path, "not-yet")]
    assert problems[0].message.startswith(f"{path} is not supported yet (")
    assert refusals(Canary.model_validate(obj)) == []


@pytest.mark.parametrize(
    ("where", "field", "value"),
    [
        ("analysis", "mirror", True),
        ("analysis", "mirrorWeight", 20),
        ("analysis", "match", [{"headers": {"x": {"exact": "1"}}}]),
        ("analysis", "primaryReadyThreshold", 50),
        ("analysis", "canaryReadyThreshold", 50),
        ("analysis", "stepWeightPromotion", 20),
        ("spec", "revertOnDeletion", True),
        ("service", "portDiscovery", True),
        ("service", "appProtocol", "http"),
        ("service", "trafficDistribution", "PreferClose"),
        ("service", "headless", True),
        ("service", "delegation", True),
        ("service", "rewrite", {"uri": "/"}),
        ("service", "corsPolicy", {"allowOrigins": [{"exact": "https://a"}]}),
        ("service", "trafficPolicy", {"tls": {"mode": "ISTIO_MUTUAL"}}),
        ("service", "apex", {"labels": {"a": "b"}}),
        ("service", "primary", {"annotations": {"a": "b"}}),
        ("service", "canary", {"labels": {"a": "b"}}),
    ],
)
def test_built_fields_are_not_reported_with_istio(where: str, field: str, value: Any) -> None:
    obj = minimal_canary()
    target = {"analysis": obj["spec"]["analysis"], "spec": obj["spec"], "service": obj["spec"]["service"]}[where]
    target[field] = value
    assert unsupported(Canary.model_validate(obj)) == []


@pytest.mark.parametrize("provider", ["linkerd", "smi:v1alpha3", "kubernetes"])
def test_mirroring_and_request_match_need_an_l7_router(provider: str) -> None:
    obj = minimal_canary(mirror=True, match=[{"headers": {"x": {"exact": "1"}}}])
    obj["spec"]["provider"] = provider
    obj["spec"]["analysis"] = {**obj["spec"]["analysis"], "stepWeight": None, "iterations": 3}
    problems = refusals(Canary.model_validate(obj))
    assert [p.message for p in problems] == [
        f"spec.analysis.mirror: provider {provider} cannot mirror traffic (use gatewayapi:v1, gatewayapi:v1beta1, istio)",
        f"spec.analysis.match: provider {provider} cannot route by request match "
        "(use gatewayapi:v1, gatewayapi:v1beta1, istio)",
    ]


def test_kubernetes_blue_green_cannot_step_weights() -> None:
    obj = minimal_canary(stepWeight=None, stepWeights=[20, 100])
    obj["spec"]["provider"] = "kubernetes"
    (problem,) = unsupported(Canary.model_validate(obj))
    assert problem.path == "spec.analysis.stepWeights"
    assert "switches all traffic at once" in problem.message
    obj["spec"]["analysis"]["stepWeights"] = [100]
    assert unsupported(Canary.model_validate(obj)) == []


def test_kubernetes_promotes_at_once_whatever_step_weight_promotion_says() -> None:
    obj = minimal_canary(stepWeight=None, iterations=5, stepWeightPromotion=20)
    obj["spec"]["provider"] = "kubernetes"
    (problem,) = unsupported(Canary.model_validate(obj))
    assert (problem.path, problem.severity) == ("spec.analysis.stepWeightPromotion", "not-yet")
    assert "with provider kubernetes (it switches all traffic at once" in problem.message


def test_gateway_api_needs_gateway_refs() -> None:
    obj = minimal_canary()
    obj["spec"]["provider"] = "gatewayapi:v1"
    (problem,) = unsupported(Canary.model_validate(obj))
    assert problem.message == "spec.service.gatewayRefs: required with provider gatewayapi:v1"


def test_route_settings_another_provider_would_use_are_reported() -> None:
    obj = minimal_canary()
    obj["spec"]["provider"] = "linkerd"
    obj["spec"]["service"].update(hosts=["app.example.com"], retries={"attempts": 3}, gatewayRefs=[{"name": "gw"}])
    problems = unsupported(Canary.model_validate(obj))
    assert [(p.path, p.severity) for p in problems] == [
        ("spec.service.retries", "not-yet"),
        ("spec.service.gatewayRefs", "not-yet"),
        ("spec.service.hosts", "not-yet"),
    ]
    assert problems[0].message == (
        "spec.service.retries is not supported yet with provider linkerd (only istio routing uses it)"
    )


def test_false_and_empty_values_are_not_reported() -> None:
    obj = minimal_canary(mirror=False, webhooks=[], match=[])
    obj["spec"]["service"]["portDiscovery"] = False
    assert unsupported(Canary.model_validate(obj)) == []


def _template(provider: dict[str, Any]) -> MetricTemplate:
    return MetricTemplate.model_validate(
        {"apiVersion": "canary.dev/v1beta1", "kind": "MetricTemplate", "spec": {"provider": provider, "query": "q"}}
    )


def test_only_prometheus_templates_are_queried() -> None:
    assert unsupported(_template({"type": "prometheus", "address": "http://prom:9090"})) == []
    (problem,) = unsupported(_template({"type": "datadog"}))
    assert (problem.path, problem.severity) == ("spec.provider.type", "refuse")
    assert problem.message == "spec.provider.type datadog is not supported: we query prometheus"


def test_template_backend_settings_are_used() -> None:
    template = _template(
        {"type": "prometheus", "secretRef": {"name": "auth"}, "headers": {"X-Org": ["1"]}, "insecureSkipVerify": True}
    )
    assert unsupported(template) == []


def test_alert_providers_have_no_problems_of_their_own() -> None:
    provider = AlertProvider.model_validate(
        {"apiVersion": "canary.dev/v1beta1", "kind": "AlertProvider", "spec": {"type": "slack", "address": "http://h"}}
    )
    assert unsupported(provider) == []


def test_a_delegate_virtual_service_has_no_hosts() -> None:
    obj = minimal_canary()
    obj["spec"]["service"].update(delegation=True, hosts=["app.example.com"])
    (problem,) = unsupported(Canary.model_validate(obj))
    assert (problem.path, problem.severity) == ("spec.service.delegation", "refuse")
    del obj["spec"]["service"]["hosts"]
    assert unsupported(Canary.model_validate(obj)) == []
