"""From a Canary's metric to the query and backend that measure it."""

from __future__ import annotations

from typing import Any

import pytest

from canary.models import Canary
from canary.models.metric_template import MetricTemplate
from canary.providers.base import ProviderError, UnknownProviderError
from canary.providers.checks import ProviderPool, plan_metric, template_context, template_key
from canary.providers.prometheus import PrometheusProvider
from canary.providers.templates import TemplateError

DEFAULT = "http://prometheus.controller:9090"


def make_canary(metrics: list[dict[str, Any]], **spec: Any) -> Canary:
    return Canary.model_validate(
        {
            "apiVersion": "canary.dev/v1beta1",
            "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                "service": {"port": 9898},
                "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10, "metrics": metrics},
                **spec,
            },
        }
    )


def make_template(query: str, **provider: Any) -> MetricTemplate:
    return MetricTemplate.model_validate(
        {
            "apiVersion": "canary.dev/v1beta1",
            "kind": "MetricTemplate",
            "metadata": {"name": "not-found", "namespace": "monitoring"},
            "spec": {"provider": {"type": "prometheus", **provider}, "query": query},
        }
    )


def test_a_builtin_metric_runs_the_mesh_query_on_the_controllers_prometheus() -> None:
    canary = make_canary([{"name": "request-success-rate", "interval": "30s", "thresholdRange": {"min": 99}}])
    plan = plan_metric(canary, canary.spec.analysis.metrics[0], mesh="istio", default_address=DEFAULT)
    assert plan.address == DEFAULT and plan.provider_type == "prometheus"
    assert 'destination_workload="podinfo"' in plan.query and "[30s]" in plan.query


def test_spec_provider_and_metrics_server_override_the_controller() -> None:
    canary = make_canary(
        [{"name": "request-duration", "thresholdRange": {"max": 500}}],
        provider="linkerd",
        metricsServer="http://prometheus.linkerd-viz:9090",
    )
    plan = plan_metric(canary, canary.spec.analysis.metrics[0], mesh="istio", default_address=DEFAULT)
    assert plan.address == "http://prometheus.linkerd-viz:9090"
    assert "response_latency_ms_bucket" in plan.query and "[1m]" in plan.query


def test_a_template_is_rendered_with_the_canarys_values() -> None:
    canary = make_canary(
        [
            {
                "name": "404s",
                "templateRef": {"name": "not-found", "namespace": "monitoring"},
                "templateVariables": {"code": "404"},
                "interval": "2m",
                "thresholdRange": {"max": 5},
            }
        ]
    )
    metric = canary.spec.analysis.metrics[0]
    template = make_template(
        'sum(rate(istio_requests_total{destination_workload_namespace="{{ namespace }}",'
        'destination_workload="{{ target }}",response_code="{{ variables.code }}"}[{{ interval }}]))',
        address="http://prometheus.istio-system:9090",
        headers={"X-Scope-OrgID": ["tenant-1"]},
        secretRef={"name": "prom-auth"},
    )
    assert template_key(canary, metric) == ("monitoring", "not-found")
    plan = plan_metric(canary, metric, template=template, default_address=DEFAULT)
    assert plan.query == (
        'sum(rate(istio_requests_total{destination_workload_namespace="test",'
        'destination_workload="podinfo",response_code="404"}[2m]))'
    )
    assert plan.address == "http://prometheus.istio-system:9090"
    assert dict(plan.headers) == {"X-Scope-OrgID": ["tenant-1"]}
    assert (plan.secret_namespace, plan.secret_name) == ("monitoring", "prom-auth")


def test_a_template_without_address_uses_the_canarys_metrics_server() -> None:
    canary = make_canary([{"name": "m", "templateRef": {"name": "not-found"}}], metricsServer="http://prom.canary:9090")
    metric = canary.spec.analysis.metrics[0]
    assert template_key(canary, metric) == ("test", "not-found")
    plan = plan_metric(canary, metric, template=make_template("vector({{ interval }})"), default_address=DEFAULT)
    assert plan.address == "http://prom.canary:9090"


def test_context_defaults_service_to_the_target() -> None:
    canary = make_canary([{"name": "request-success-rate"}])
    context = template_context(canary, canary.spec.analysis.metrics[0])
    assert (context.name, context.namespace, context.target, context.service) == (
        "podinfo",
        "test",
        "podinfo",
        "podinfo",
    )
    assert context.interval == "1m" and context.ingress == ""


def test_injection_through_template_variables_is_refused_when_planning() -> None:
    canary = make_canary(
        [{"name": "m", "templateRef": {"name": "not-found"}, "templateVariables": {"code": '404"} or vector(1) #'}}]
    )
    template = make_template('x{code="{{ variables.code }}"}')
    with pytest.raises(TemplateError, match=r"variables\.code"):
        plan_metric(canary, canary.spec.analysis.metrics[0], template=template, default_address=DEFAULT)


def test_a_missing_template_is_a_permanent_error_naming_it() -> None:
    canary = make_canary([{"name": "m", "templateRef": {"name": "gone"}}])
    with pytest.raises(ProviderError, match="MetricTemplate test/gone, which does not exist") as missing:
        plan_metric(canary, canary.spec.analysis.metrics[0], template=None, default_address=DEFAULT)
    assert missing.value.temporary is False


def test_an_inline_query_runs_as_written() -> None:
    canary = make_canary([{"name": "custom", "query": "sum(up)", "threshold": 1}])
    plan = plan_metric(canary, canary.spec.analysis.metrics[0], default_address=DEFAULT)
    assert (plan.query, plan.address) == ("sum(up)", DEFAULT)


def test_the_pool_reuses_one_provider_per_backend_and_refuses_unknown_types() -> None:
    canary = make_canary([{"name": "request-success-rate"}, {"name": "request-duration"}])
    plans = [plan_metric(canary, metric, default_address=DEFAULT) for metric in canary.spec.analysis.metrics]
    pool = ProviderPool()
    first, second = (pool.get(plan) for plan in plans)
    assert first is second and isinstance(first, PrometheusProvider)
    datadog = make_canary([{"name": "m", "templateRef": {"name": "dd"}}])
    template = make_template("avg:x{*}", type="datadog", address="https://api.datadoghq.com")
    plan = plan_metric(datadog, datadog.spec.analysis.metrics[0], template=template)
    with pytest.raises(UnknownProviderError, match="datadog"):
        pool.get(plan)
    pool.close()
