"""What of a valid resource we cannot do: refused outright, or accepted but not built yet.

The models accept all of Flagger's v1beta1 fields. :func:`unsupported` lists
the ones this controller does not act on, field by field, so the controller
can say so in a status condition ("spec.analysis.mirror is not supported yet")
instead of silently ignoring them. Two severities:

- ``refuse``: the rollout cannot run at all (a provider we do not route, a
  target kind we do not manage, a metrics backend we do not query);
- ``not-yet``: the field is accepted and ignored for now.

The tables below are the single place to update when a feature lands.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from canary.models.alert_provider import AlertProvider
from canary.models.canary import Canary, CanaryAnalysis, CanaryService, CanarySpec
from canary.models.metric_template import MetricTemplate

__all__ = [
    "BUILTIN_METRIC_PROVIDERS",
    "DEFAULT_PROVIDER",
    "ROUTED_PROVIDERS",
    "SUPPORTED_METRIC_PROVIDERS",
    "SUPPORTED_TARGET_KINDS",
    "Problem",
    "Severity",
    "refusals",
    "unsupported",
]

Severity = Literal["refuse", "not-yet"]
"""``refuse``: cannot run at all; ``not-yet``: accepted and ignored for now."""

ROUTED_PROVIDERS: frozenset[str] = frozenset(
    {
        "istio",
        "linkerd",
        "smi:v1alpha1",
        "smi:v1alpha2",
        "smi:v1alpha3",
        "gatewayapi:v1",
        "gatewayapi:v1beta1",
        "kubernetes",
    }
)
"""``spec.provider`` values we have a router for (an absent provider means the controller's default)."""

DEFAULT_PROVIDER = "istio"
"""The provider assumed when ``spec.provider`` is absent (the controller may be configured otherwise)."""

BUILTIN_METRIC_PROVIDERS: frozenset[str] = frozenset(
    {"istio", "linkerd", "smi:v1alpha1", "smi:v1alpha2", "smi:v1alpha3", "gatewayapi:v1", "gatewayapi:v1beta1"}
)
"""Providers for which ``request-success-rate`` and ``request-duration`` have built-in PromQL:
Istio's and Linkerd's proxy metrics (SMI is Linkerd's SMI extension; Gateway API routes run
through the controller's mesh). Not ``kubernetes``: plain blue/green has no proxy metrics."""

SUPPORTED_TARGET_KINDS: frozenset[str] = frozenset({"Deployment"})
"""``spec.targetRef.kind`` values we roll out."""

SUPPORTED_METRIC_PROVIDERS: frozenset[str] = frozenset({"prometheus"})
"""MetricTemplate ``spec.provider.type`` values we query."""


@dataclass(frozen=True)
class Problem:
    """One thing of a resource that this controller does not do, with the field it comes from."""

    path: str
    """Field path, e.g. ``spec.analysis.mirror``."""
    message: str
    """What is not supported, in words, starting with the path."""
    severity: Severity
    """``refuse`` or ``not-yet``."""

    def __str__(self) -> str:
        return self.message


def _set(value: Any) -> bool:
    """Whether a field carries something (Flagger's omitempty: false, 0, "" and empty lists mean unset)."""
    return value not in (None, False, 0, "", [], {})


# Fields accepted but not acted on yet, by name below the owning model.
_SPEC_NOT_YET: dict[str, str] = {
    "autoscalerRef": "the primary does not get a copy of the target's autoscaler",
    "ingressRef": "ingress controller routing is not built",
    "routeRef": "APISIX routing is not built",
    "upstreamRef": "Gloo upstreams are not built",
}
_SERVICE_NOT_YET: dict[str, str] = {
    "meshName": "App Mesh is not routed",
    "backends": "App Mesh is not routed",
    "unmanagedMetadata": "all metadata of the generated objects is managed",
}
_ANALYSIS_NOT_YET: dict[str, str] = {
    "stepWeightPromotion": "promotion moves all traffic at once",
    "primaryReadyThreshold": "all primary pods must be ready",
    "canaryReadyThreshold": "all canary pods must be ready",
    "sessionAffinity": "session affinity is not built",
}
_METRIC_TEMPLATE_NOT_YET: dict[str, str] = {}

_ISTIO = frozenset({"istio"})
_GATEWAY_API = frozenset({"gatewayapi:v1", "gatewayapi:v1beta1"})
_L7 = _ISTIO | _GATEWAY_API

# Route settings of spec.service and the providers whose routing objects carry them; with any
# other provider they are accepted and ignored (as Flagger ignores them).
_SERVICE_ROUTE_FIELDS: dict[str, frozenset[str]] = {
    "gateways": _ISTIO,
    "delegation": _ISTIO,
    "corsPolicy": _ISTIO,
    "retries": _ISTIO,
    "trafficPolicy": _ISTIO,
    "gatewayRefs": _GATEWAY_API,
    "backendTimeout": _GATEWAY_API,
    "mirror": _GATEWAY_API,
    "hosts": _L7,
    "match": _L7,
    "headers": _L7,
    "rewrite": _L7,
    "timeout": _L7,
}


def _not_yet(owner: object, prefix: str, table: dict[str, str]) -> list[Problem]:
    problems = []
    for field, why in table.items():
        if _set(getattr(owner, field)):
            path = f"{prefix}.{field}"
            problems.append(Problem(path, f"{path} is not supported yet ({why})", "not-yet"))
    return problems


def _refuse(path: str, message: str) -> Problem:
    return Problem(path, f"{path}: {message}", "refuse")


def _provider_problems(canary: Canary, provider: str) -> list[Problem]:
    """What the chosen (routed) provider cannot do with this spec."""
    spec = canary.spec
    analysis = spec.analysis
    problems: list[Problem] = []
    l7 = ", ".join(sorted(_L7))
    if analysis.mirror and provider not in _L7:
        problems.append(_refuse("spec.analysis.mirror", f"provider {provider} cannot mirror traffic (use {l7})"))
    if analysis.match and provider not in _L7:
        problems.append(_refuse("spec.analysis.match", f"provider {provider} cannot route by request match (use {l7})"))
    if provider == "kubernetes" and any(weight != 100 for weight in canary.step_weights()):
        field = "stepWeights" if analysis.stepWeights else "stepWeight"
        problems.append(
            _refuse(
                f"spec.analysis.{field}",
                "provider kubernetes switches all traffic at once (blue/green): use iterations, "
                "or a mesh provider for weighted steps",
            )
        )
    service = spec.service
    if provider in _ISTIO and service is not None and service.delegation and (service.hosts or service.gateways):
        problems.append(
            _refuse(
                "spec.service.delegation",
                "a delegate VirtualService has no hosts nor gateways: leave spec.service.hosts and "
                "spec.service.gateways empty",
            )
        )
    if provider in _GATEWAY_API and spec.service is not None and not spec.service.gatewayRefs:
        problems.append(_refuse("spec.service.gatewayRefs", f"required with provider {provider}"))
    if spec.service is not None:
        for field, providers in _SERVICE_ROUTE_FIELDS.items():
            if _set(getattr(spec.service, field)) and provider not in providers:
                path = f"spec.service.{field}"
                problems.append(
                    Problem(
                        path,
                        f"{path} is not supported yet with provider {provider} "
                        f"(only {', '.join(sorted(providers))} routing uses it)",
                        "not-yet",
                    )
                )
    if analysis.judge is not None and analysis.judge.templates is None and provider not in BUILTIN_METRIC_PROVIDERS:
        problems.append(
            _refuse(
                "spec.analysis.judge",
                f"the judge reads a mesh's proxy metrics, which provider {provider} has none of; "
                "give it a MetricTemplate pair (judge.templates: requests, errors)",
            )
        )
    for index, metric in enumerate(analysis.metrics):
        if metric.kind() == "builtin" and provider not in BUILTIN_METRIC_PROVIDERS:
            problems.append(
                _refuse(
                    f"spec.analysis.metrics[{index}].name",
                    f"built-in metric {metric.name} is not available for provider {provider} "
                    "(it needs a mesh's proxy metrics); use a MetricTemplate",
                )
            )
    return problems


def _canary_problems(canary: Canary, default_provider: str) -> list[Problem]:
    spec: CanarySpec = canary.spec
    problems: list[Problem] = []
    provider = spec.provider or default_provider
    if provider not in ROUTED_PROVIDERS:
        problems.append(
            Problem(
                "spec.provider",
                f"spec.provider {provider} is not supported: we route " + ", ".join(sorted(ROUTED_PROVIDERS)),
                "refuse",
            )
        )
    if spec.targetRef.kind not in SUPPORTED_TARGET_KINDS:
        problems.append(
            Problem(
                "spec.targetRef.kind",
                f"spec.targetRef.kind {spec.targetRef.kind} is not supported: we roll out "
                + ", ".join(sorted(SUPPORTED_TARGET_KINDS)),
                "refuse",
            )
        )
    service: CanaryService | None = spec.service
    if service is None:
        problems.append(
            Problem("spec.service", "spec.service is required: the Services and routes are generated from it", "refuse")
        )
    else:
        problems += _not_yet(service, "spec.service", _SERVICE_NOT_YET)
    problems += _not_yet(spec, "spec", _SPEC_NOT_YET)
    analysis: CanaryAnalysis = spec.analysis
    problems += _not_yet(analysis, "spec.analysis", _ANALYSIS_NOT_YET)
    if provider in ROUTED_PROVIDERS:
        problems += _provider_problems(canary, provider)
    return problems


def _metric_template_problems(template: MetricTemplate) -> list[Problem]:
    provider = template.spec.provider
    problems: list[Problem] = []
    if provider.type not in SUPPORTED_METRIC_PROVIDERS:
        problems.append(
            Problem(
                "spec.provider.type",
                f"spec.provider.type {provider.type} is not supported: we query "
                + ", ".join(sorted(SUPPORTED_METRIC_PROVIDERS)),
                "refuse",
            )
        )
    problems += _not_yet(provider, "spec.provider", _METRIC_TEMPLATE_NOT_YET)
    return problems


def _alert_provider_problems(provider: AlertProvider) -> list[Problem]:
    # Every AlertProvider field is acted on (canary.operator.alerts).
    return []


def unsupported(
    resource: Canary | MetricTemplate | AlertProvider, default_provider: str = DEFAULT_PROVIDER
) -> list[Problem]:
    """Everything of this valid resource that we refuse or do not act on yet, field by field.

    ``default_provider`` is the provider the controller uses for a Canary
    without ``spec.provider``; refusals come first, in field order.
    """
    if isinstance(resource, Canary):
        problems = _canary_problems(resource, default_provider)
    elif isinstance(resource, MetricTemplate):
        problems = _metric_template_problems(resource)
    else:
        problems = _alert_provider_problems(resource)
    return [p for p in problems if p.severity == "refuse"] + [p for p in problems if p.severity != "refuse"]


def refusals(
    resource: Canary | MetricTemplate | AlertProvider, default_provider: str = DEFAULT_PROVIDER
) -> list[Problem]:
    """Only the problems that stop a rollout (severity ``refuse``)."""
    return [problem for problem in unsupported(resource, default_provider) if problem.severity == "refuse"]
