"""Metric providers (Prometheus) and the per-mesh built-in queries the controller runs.

- ``base``: the ``MetricProvider`` protocol, typed errors, ``measure``.
- ``prometheus``: the Prometheus provider (prometheus-api-client in a worker thread).
- ``registry``: providers by MetricTemplate ``spec.provider.type``.
- ``builtin``: Flagger's built-in checks and the judge's per-tick queries, per mesh.
- ``templates``: MetricTemplate rendering that refuses PromQL injection.
- ``checks``: from a Canary metric to a query plan and a pooled provider.
"""

from canary.providers.base import (
    BadResponseError,
    Measurement,
    MetricProvider,
    NoDataError,
    ProviderError,
    QueryError,
    UnknownProviderError,
    UnreachableError,
    measure,
)
from canary.providers.builtin import (
    BUILTIN_METRICS,
    LATENCY_BUCKETS,
    MESHES,
    Mesh,
    UnknownMeshError,
    WindowCounts,
    WindowQueries,
    builtin_query,
    fetch_window,
    judge_queries,
    metrics_mesh,
    window_queries,
)
from canary.providers.checks import MetricPlan, ProviderPool, plan_metric, template_context, template_key
from canary.providers.prometheus import PrometheusProvider, resolve_address
from canary.providers.registry import create_provider, known_provider_types, register_provider
from canary.providers.templates import TemplateContext, TemplateError, render_query

__all__ = [
    "BUILTIN_METRICS",
    "LATENCY_BUCKETS",
    "MESHES",
    "BadResponseError",
    "Measurement",
    "Mesh",
    "MetricPlan",
    "MetricProvider",
    "NoDataError",
    "PrometheusProvider",
    "ProviderError",
    "ProviderPool",
    "QueryError",
    "TemplateContext",
    "TemplateError",
    "UnknownMeshError",
    "UnknownProviderError",
    "UnreachableError",
    "WindowCounts",
    "WindowQueries",
    "builtin_query",
    "create_provider",
    "fetch_window",
    "judge_queries",
    "known_provider_types",
    "measure",
    "metrics_mesh",
    "plan_metric",
    "register_provider",
    "render_query",
    "resolve_address",
    "template_context",
    "template_key",
    "window_queries",
]
