"""What of a valid resource we cannot do: refused outright, or accepted but not built yet.

The models accept all of Flagger's v1beta1 fields. :func:`unsupported` lists
the ones this controller does not act on, field by field, so the controller
can say so in a status condition ("spec.analysis.mirror is not supported yet")
instead of silently ignoring them. Two severities:

- ``refuse``: the rollout cannot run at all (a provider we do not route, a
  target kind we do not manage, a metrics backend we do not query);
- ``not-yet``: the field is accepted and ignored for now.

The tables below are the single place to update when a feature lands; what
a traffic provider supports is declared once, in its router's file, as a
:class:`ProviderSupport` (this package cannot import the routers: the
registry passes the declarations in).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from canary.models.alert_provider import AlertProvider
from canary.models.canary import Canary, CanaryAnalysis, CanaryService, CanarySpec
from canary.models.metric_template import MetricTemplate

__all__ = [
    "DEFAULT_PROVIDER",
    "ISTIO_METRICS",
    "LINKERD_METRICS",
    "MESH_METRICS",
    "ROUTE_FIELDS",
    "SUPPORTED_METRIC_PROVIDERS",
    "SUPPORTED_TARGET_KINDS",
    "MetricSeries",
    "Problem",
    "ProviderSupport",
    "Severity",
    "Strategy",
    "refusals",
    "refuse",
    "unsupported",
]

Severity = Literal["refuse", "not-yet"]
"""``refuse``: cannot run at all; ``not-yet``: accepted and ignored for now."""

DEFAULT_PROVIDER = "istio"
"""The provider assumed when ``spec.provider`` is absent (the controller may be configured otherwise)."""

Strategy = Literal["canary", "blue-green", "ab-testing"]
"""Flagger's deployment strategies a traffic provider may offer: ``canary`` (weighted steps),
``blue-green`` (all traffic at once, after iterations), ``ab-testing`` (a first route for the
requests matching ``spec.analysis.match``)."""

ROUTE_FIELDS: tuple[str, ...] = (
    "gateways",
    "delegation",
    "corsPolicy",
    "retries",
    "trafficPolicy",
    "gatewayRefs",
    "backendTimeout",
    "mirror",
    "hosts",
    "match",
    "headers",
    "rewrite",
    "timeout",
)
"""The route settings of ``spec.service``: each provider says which of them its routing objects carry
(:attr:`ProviderSupport.route_fields`); with any other provider they are accepted and ignored, as
Flagger ignores them. This order is the order they are reported in."""


@dataclass(frozen=True)
class MetricSeries:
    """The Prometheus series a mesh's proxies export per workload, which the built-in
    ``request-success-rate`` / ``request-duration``, the judge, the dashboards and the testbed's
    simulated mesh all read.

    Each router names the series its provider is measured by in its :class:`ProviderSupport`. The
    type and the series themselves live here, below routers and providers, so that both may hold
    them without knowing each other: the built-in PromQL (``canary.providers.builtin``) is asked
    for a mesh by name and looks it up in :data:`MESH_METRICS`.
    """

    mesh: str
    """The mesh's name (``istio``, ``linkerd``): how metric code and ``canary report --mesh`` name it."""
    requests: str
    """The counter of requests handled (``istio_requests_total``)."""
    latency: str
    """The latency histogram's bucket series, in milliseconds (``istio_request_duration_milliseconds_bucket``)."""
    labels: tuple[tuple[str, str], ...]
    """The label matchers selecting one workload's inbound requests, in order; a value may hold
    ``{namespace}`` and ``{workload}``."""
    errors: str
    """The matcher selecting failed requests (``response_code=~"5.*"``)."""
    successes: str
    """The matcher selecting the other requests."""
    latency_buckets: tuple[float, ...]
    """Upper bounds (ms) of the latency histogram's buckets (+Inf implied): the judge's ``latency_bounds``."""

    def selector(self, namespace: str, workload: str, *, fixed_first: bool = False) -> str:
        """The label matchers for ``workload`` in ``namespace``, comma-separated, without braces.

        ``fixed_first`` puts the matchers that name neither first (the dashboards' order).
        """
        labels = self.labels
        if fixed_first:
            labels = tuple(sorted(labels, key=lambda item: "{" in item[1]))
        return ",".join(f'{label}="{value.format(namespace=namespace, workload=workload)}"' for label, value in labels)


_ISTIO_BUCKETS: tuple[float, ...] = (
    0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
    30000, 60000, 300000, 600000, 1800000, 3600000,
)  # fmt: skip
_LINKERD_BUCKETS: tuple[float, ...] = (
    1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500,
    1000, 2000, 3000, 4000, 5000, 10000, 20000, 30000, 40000, 50000,
)  # fmt: skip

ISTIO_METRICS = MetricSeries(
    mesh="istio",
    requests="istio_requests_total",
    latency="istio_request_duration_milliseconds_bucket",
    labels=(
        ("reporter", "destination"),
        ("destination_workload_namespace", "{namespace}"),
        ("destination_workload", "{workload}"),
    ),
    errors='response_code=~"5.*"',
    successes='response_code!~"5.*"',
    latency_buckets=_ISTIO_BUCKETS,
)
"""Istio's proxies (``reporter="destination"``: the receiving side); errors are 5xx response codes.
Declared by the istio provider (:mod:`canary.routers.istio`)."""

LINKERD_METRICS = MetricSeries(
    mesh="linkerd",
    requests="response_total",
    latency="response_latency_ms_bucket",
    labels=(("namespace", "{namespace}"), ("deployment", "{workload}"), ("direction", "inbound")),
    errors='classification="failure"',
    successes='classification!="failure"',
    latency_buckets=_LINKERD_BUCKETS,
)
"""The Linkerd proxy's inbound side; errors are ``classification="failure"``.
Declared by the linkerd and SMI providers (:mod:`canary.routers.smi`)."""

MESH_METRICS: dict[str, MetricSeries] = {series.mesh: series for series in (ISTIO_METRICS, LINKERD_METRICS)}
"""Every mesh's series by name, for the metric code that names a mesh (``canary.providers.builtin``,
which may not import the routers). The routers' declarations refer to these same objects, which is
how each provider says which series it is measured by."""


def _no_refusals(canary: Canary, provider: str) -> list[Problem]:
    return []


@dataclass(frozen=True)
class ProviderSupport:
    """What one traffic provider can do with a Canary, declared once in its router's file.

    :func:`unsupported` checks a Canary against the declaration of its ``spec.provider``;
    the router registry (:mod:`canary.routers.registry`) collects the declarations and
    binds them (this module may not import routers). Unlike the router itself, this is
    plain data: what is refused or ignored, not how traffic is moved.
    """

    names: tuple[str, ...]
    """The ``spec.provider`` values it answers to (Flagger's names)."""
    strategies: frozenset[Strategy]
    """The deployment strategies its routing can carry out."""
    mirroring: bool = False
    """Whether it can mirror requests to the canary (``spec.analysis.mirror``)."""
    route_fields: frozenset[str] = frozenset()
    """The :data:`ROUTE_FIELDS` of ``spec.service`` its routing objects carry."""
    metrics: MetricSeries | Literal["mesh"] | None = None
    """The series the built-in metrics and the judge read: its own, ``"mesh"`` for those of the
    mesh the controller runs with (Gateway API routes run through a mesh), None for none (then
    only MetricTemplates can be checked)."""
    refuse: Callable[[Canary, str], list[Problem]] = _no_refusals
    """Its own refusals of a Canary (``(canary, provider name)``), beyond those the fields above imply."""


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
    "sessionAffinity": "session affinity is not built",
}
_METRIC_TEMPLATE_NOT_YET: dict[str, str] = {}


def _not_yet(owner: object, prefix: str, table: dict[str, str]) -> list[Problem]:
    problems = []
    for field, why in table.items():
        if _set(getattr(owner, field)):
            path = f"{prefix}.{field}"
            problems.append(Problem(path, f"{path} is not supported yet ({why})", "not-yet"))
    return problems


def refuse(path: str, message: str) -> Problem:
    """A ``refuse`` Problem of the field at ``path``, its message starting with the path."""
    return Problem(path, f"{path}: {message}", "refuse")


def _offered_by(providers: Mapping[str, ProviderSupport], offers: Callable[[ProviderSupport], bool]) -> str:
    return ", ".join(sorted(name for name, support in providers.items() if offers(support)))


def _provider_problems(canary: Canary, provider: str, providers: Mapping[str, ProviderSupport]) -> list[Problem]:
    """What the chosen (routed) provider cannot do with this spec, by its declaration."""
    support = providers[provider]
    spec = canary.spec
    analysis = spec.analysis
    problems: list[Problem] = []
    if analysis.mirror and not support.mirroring:
        mirroring = _offered_by(providers, lambda other: other.mirroring)
        problems.append(refuse("spec.analysis.mirror", f"provider {provider} cannot mirror traffic (use {mirroring})"))
    if analysis.match and "ab-testing" not in support.strategies:
        matching = _offered_by(providers, lambda other: "ab-testing" in other.strategies)
        problems.append(
            refuse("spec.analysis.match", f"provider {provider} cannot route by request match (use {matching})")
        )
    if "canary" not in support.strategies and any(weight != 100 for weight in canary.step_weights()):
        field = "stepWeights" if analysis.stepWeights else "stepWeight"
        problems.append(
            refuse(
                f"spec.analysis.{field}",
                f"provider {provider} switches all traffic at once (blue/green): use iterations, "
                "or a mesh provider for weighted steps",
            )
        )
    if analysis.stepWeightPromotion and "canary" not in support.strategies:
        path = "spec.analysis.stepWeightPromotion"
        problems.append(
            Problem(
                path,
                f"{path} is not supported yet with provider {provider} "
                "(it switches all traffic at once: promotion does too, as with Flagger)",
                "not-yet",
            )
        )
    problems += support.refuse(canary, provider)
    if spec.service is not None:
        for field in ROUTE_FIELDS:
            if _set(getattr(spec.service, field)) and field not in support.route_fields:
                path = f"spec.service.{field}"
                carriers = ", ".join(sorted(name for name, other in providers.items() if field in other.route_fields))
                problems.append(
                    Problem(
                        path,
                        f"{path} is not supported yet with provider {provider} (only {carriers} routing uses it)",
                        "not-yet",
                    )
                )
    if analysis.judge is not None and analysis.judge.templates is None and support.metrics is None:
        problems.append(
            refuse(
                "spec.analysis.judge",
                f"the judge reads a mesh's proxy metrics, which provider {provider} has none of; "
                "give it a MetricTemplate pair (judge.templates: requests, errors)",
            )
        )
    for index, metric in enumerate(analysis.metrics):
        if metric.kind() == "builtin" and support.metrics is None:
            problems.append(
                refuse(
                    f"spec.analysis.metrics[{index}].name",
                    f"built-in metric {metric.name} is not available for provider {provider} "
                    "(it needs a mesh's proxy metrics); use a MetricTemplate",
                )
            )
    return problems


def _canary_problems(
    canary: Canary, default_provider: str, providers: Mapping[str, ProviderSupport] | None
) -> list[Problem]:
    spec: CanarySpec = canary.spec
    problems: list[Problem] = []
    provider = spec.provider or default_provider
    if providers is not None and provider not in providers:
        problems.append(
            Problem(
                "spec.provider",
                f"spec.provider {provider} is not supported: we route " + ", ".join(sorted(providers)),
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
    if providers is not None and provider in providers:
        problems += _provider_problems(canary, provider, providers)
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
    resource: Canary | MetricTemplate | AlertProvider,
    default_provider: str = DEFAULT_PROVIDER,
    providers: Mapping[str, ProviderSupport] | None = None,
) -> list[Problem]:
    """Everything of this valid resource that we refuse or do not act on yet, field by field.

    ``default_provider`` is the provider the controller uses for a Canary
    without ``spec.provider``; refusals come first, in field order.
    ``providers`` are the routed providers' declarations by name; without
    them (this package cannot know the routers) nothing that depends on the
    provider is checked: the controller and ``canary validate`` call
    :func:`canary.routers.unsupported`, which passes the registry's.
    """
    if isinstance(resource, Canary):
        problems = _canary_problems(resource, default_provider, providers)
    elif isinstance(resource, MetricTemplate):
        problems = _metric_template_problems(resource)
    else:
        problems = _alert_provider_problems(resource)
    return [p for p in problems if p.severity == "refuse"] + [p for p in problems if p.severity != "refuse"]


def refusals(
    resource: Canary | MetricTemplate | AlertProvider,
    default_provider: str = DEFAULT_PROVIDER,
    providers: Mapping[str, ProviderSupport] | None = None,
) -> list[Problem]:
    """Only the problems that stop a rollout (severity ``refuse``)."""
    return [problem for problem in unsupported(resource, default_provider, providers) if problem.severity == "refuse"]
