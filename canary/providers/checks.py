"""From a Canary's ``spec.analysis.metrics[i]`` to a query and the provider that runs it.

``plan_metric`` decides, without I/O, what one metric check asks and where:

- a built-in metric (``request-success-rate``, ``request-duration``): the
  mesh's PromQL for the target workload, on the Canary's ``metricsServer`` or
  the controller's Prometheus;
- an inline ``query`` (deprecated by Flagger): run as written, like Flagger,
  on that same server;
- a ``templateRef``: the MetricTemplate's query rendered with the Canary's
  values (injection refused, see ``canary.providers.templates``), on the
  template's provider address (falling back to the Canary's, then the
  controller's).

``ProviderPool`` keeps one provider per backend so the controller does not
open a new HTTP session every tick.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from canary.providers.base import MetricProvider, ProviderError
from canary.providers.builtin import builtin_query, metrics_mesh
from canary.providers.prometheus import DEFAULT_TIMEOUT, resolve_address
from canary.providers.registry import ProviderFactory, create_provider
from canary.providers.templates import TemplateContext, render_query

if TYPE_CHECKING:
    from canary.models import Canary, CanaryMetric
    from canary.models.metric_template import MetricTemplate

__all__ = ["MetricPlan", "ProviderPool", "plan_metric", "template_context", "template_key"]

_BackendKey = tuple[str, str, bool, str | None, str | None, tuple[tuple[str, tuple[str, ...]], ...]]


@dataclass(frozen=True)
class MetricPlan:
    """What one metric check runs: the query, on which backend, with which credentials Secret.

    ``secret_name`` (in ``secret_namespace``) is the MetricTemplate's
    ``secretRef``: the controller reads it and passes its data to
    ``ProviderPool.get`` as credentials.
    """

    name: str
    query: str
    provider_type: str
    address: str
    insecure_skip_verify: bool = False
    headers: Mapping[str, Sequence[str]] = field(default_factory=dict)
    secret_name: str | None = None
    secret_namespace: str | None = None

    @property
    def backend(self) -> _BackendKey:
        """What identifies the backend connection (for pooling providers)."""
        headers = tuple(sorted((name, tuple(values)) for name, values in self.headers.items()))
        return (
            self.provider_type,
            self.address,
            self.insecure_skip_verify,
            self.secret_namespace,
            self.secret_name,
            headers,
        )


def template_key(canary: Canary, metric: CanaryMetric) -> tuple[str, str] | None:
    """``(namespace, name)`` of the MetricTemplate ``metric`` references, or None."""
    if metric.templateRef is None:
        return None
    return (metric.templateRef.namespace or canary.metadata.namespace or "default", metric.templateRef.name)


def template_context(canary: Canary, metric: CanaryMetric) -> TemplateContext:
    """The values Flagger offers a MetricTemplate query for this Canary and metric."""
    spec = canary.spec
    target = spec.targetRef.name
    return TemplateContext(
        name=canary.metadata.name or "",
        namespace=canary.metadata.namespace or "default",
        target=target,
        service=(spec.service.name if spec.service and spec.service.name else target),
        ingress=spec.ingressRef.name if spec.ingressRef else "",
        interval=metric.interval_or_default(),
        variables=dict(metric.templateVariables or {}),
    )


def plan_metric(
    canary: Canary,
    metric: CanaryMetric,
    *,
    template: MetricTemplate | None = None,
    mesh: str = "istio",
    default_address: str | None = None,
) -> MetricPlan:
    """The query and backend of ``metric``; raises a permanent ProviderError when it cannot be built.

    ``template`` is the MetricTemplate ``metric.templateRef`` names (the caller
    fetches it; None when it does not exist). ``mesh`` is the controller's
    default mesh, used when ``spec.provider`` is empty or Gateway API.
    """
    kind = metric.kind()
    if kind == "template":
        key = template_key(canary, metric)
        if template is None:
            namespace, name = key or ("", "")
            raise ProviderError(
                f"metric {metric.name!r} references MetricTemplate {namespace}/{name}, which does not exist",
                temporary=False,
            )
        provider = template.spec.provider
        query = render_query(template.spec.query, template_context(canary, metric))
        address = resolve_address(
            template_address=provider.address,
            metrics_server=canary.spec.metricsServer,
            default=default_address,
        )
        return MetricPlan(
            name=metric.name,
            query=query,
            provider_type=provider.type,
            address=address,
            insecure_skip_verify=provider.insecureSkipVerify,
            headers=dict(provider.headers or {}),
            secret_name=provider.secretRef.name if provider.secretRef else None,
            secret_namespace=(template.metadata.namespace or (key[0] if key else None)) if provider.secretRef else None,
        )
    address = resolve_address(metrics_server=canary.spec.metricsServer, default=default_address)
    if kind == "query":
        return MetricPlan(name=metric.name, query=metric.query or "", provider_type="prometheus", address=address)
    query = builtin_query(
        metric.name,
        metrics_mesh(canary.spec.provider, mesh),
        canary.metadata.namespace or "default",
        canary.spec.targetRef.name,
        metric.interval_or_default(),
    )
    return MetricPlan(name=metric.name, query=query, provider_type="prometheus", address=address)


class ProviderPool:
    """One provider per backend, created on first use and closed together."""

    def __init__(
        self, *, timeout: float = DEFAULT_TIMEOUT, overrides: Mapping[str, ProviderFactory] | None = None
    ) -> None:
        self._timeout = timeout
        self._overrides = dict(overrides or {})
        self._providers: dict[_BackendKey, MetricProvider] = {}

    def get(self, plan: MetricPlan, credentials: Mapping[str, str] | None = None) -> MetricProvider:
        """The provider for ``plan``'s backend (UnknownProviderError for an unsupported type)."""
        key = plan.backend
        provider = self._providers.get(key)
        if provider is None:
            provider = create_provider(
                plan.provider_type,
                plan.address,
                timeout=self._timeout,
                insecure_skip_verify=plan.insecure_skip_verify,
                credentials=credentials,
                headers=plan.headers,
                overrides=self._overrides,
            )
            self._providers[key] = provider
        return provider

    def close(self) -> None:
        """Close every provider that can be closed."""
        for provider in self._providers.values():
            close = getattr(provider, "close", None)
            if callable(close):
                close()
        self._providers.clear()
