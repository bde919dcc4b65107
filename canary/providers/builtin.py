"""Built-in checks and the judge's per-tick queries, per mesh, in PromQL.

The built-in ``request-success-rate`` (percentage of non-5xx responses) and
``request-duration`` (p99 in milliseconds) measure the canary workload the way
Flagger's Istio and Linkerd observers do, over the metrics each mesh's proxies
export:

- Istio: ``istio_requests_total`` / ``istio_request_duration_milliseconds_bucket``,
  selected by ``reporter="destination"``, ``destination_workload_namespace``,
  ``destination_workload``; errors are ``response_code`` 5xx.
- Linkerd: ``response_total`` / ``response_latency_ms_bucket``, selected by
  ``namespace``, ``deployment``, ``direction="inbound"``; errors are
  ``classification="failure"``.

Gateway API routing in front of Istio or Linkerd uses that mesh's metrics.
The series (names, label matchers, latency buckets) are
:class:`~canary.models.support.MetricSeries` the routers' declarations name
(:data:`canary.models.support.MESH_METRICS`); this module only writes PromQL
over them.

One difference from Flagger, on purpose: the workload is matched exactly
(``destination_workload="podinfo"``), where Flagger uses a regex match
(``=~"podinfo"``) that reads a ``.`` in a name as "any character".

The judge's queries (``window_queries``) ask, for one workload (the canary is
the target Deployment, the primary ``<target>-primary``), how much requests,
5xx errors and latency buckets *increased* over the interval, which is what
``analysis.Window`` holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple, cast

from canary.models import primary_deployment_name
from canary.models.support import ISTIO_METRICS, LINKERD_METRICS, MESH_METRICS, MetricSeries
from canary.providers.base import BadResponseError, MetricProvider, NoDataError, ProviderError
from canary.providers.templates import check_dns_label, check_dns_subdomain, check_duration

__all__ = [
    "BUILTIN_METRICS",
    "ISTIO_LATENCY_BUCKETS",
    "LATENCY_BUCKETS",
    "LINKERD_LATENCY_BUCKETS",
    "MESHES",
    "Mesh",
    "UnknownMeshError",
    "WindowCounts",
    "WindowQueries",
    "builtin_query",
    "fetch_window",
    "judge_queries",
    "metrics_mesh",
    "window_queries",
]

Mesh = Literal["istio", "linkerd"]
MESHES: tuple[Mesh, ...] = cast(tuple[Mesh, ...], tuple(MESH_METRICS))

BUILTIN_METRICS = ("request-success-rate", "request-duration")
"""Metric names that need no MetricTemplate."""

ISTIO_LATENCY_BUCKETS: tuple[float, ...] = ISTIO_METRICS.latency_buckets
"""Upper bounds (ms) of Istio's ``istio_request_duration_milliseconds`` buckets (+Inf implied)."""

LINKERD_LATENCY_BUCKETS: tuple[float, ...] = LINKERD_METRICS.latency_buckets
"""Upper bounds (ms) of the Linkerd proxy's ``response_latency_ms`` buckets (+Inf implied)."""

LATENCY_BUCKETS: dict[Mesh, tuple[float, ...]] = {mesh: MESH_METRICS[mesh].latency_buckets for mesh in MESHES}
"""Each mesh's latency bucket bounds: what the judge's ``latency_bounds`` should be."""


class UnknownMeshError(ProviderError):
    """The Canary's provider has no built-in metrics here (permanent)."""


def metrics_mesh(provider: str | None, default: str = "istio") -> Mesh:
    """Which mesh's metrics the built-in checks read for a Canary's ``spec.provider``.

    ``istio`` and ``linkerd`` are themselves; SMI TrafficSplits (``smi:v1alpha1..3``,
    and Flagger's old ``smi:linkerd``) run on Linkerd here, so read Linkerd's metrics; an empty
    provider and Gateway API (``gatewayapi``, ``gatewayapi:v1beta1``...) use
    ``default``, the mesh the controller runs with. Anything else raises
    UnknownMeshError (Flagger silently falls back to Istio's queries).
    """
    name = (provider or "").strip()
    if not name or name.startswith("gatewayapi"):
        name = default
    if name == "linkerd" or name.startswith("smi:"):
        return "linkerd"
    if name == "istio":
        return "istio"
    raise UnknownMeshError(
        f"no built-in metrics for provider {name!r}: built-in checks support istio and linkerd; "
        "use a MetricTemplate for other providers"
    )


def _checked(mesh: str, namespace: str, workload: str, interval: str) -> MetricSeries:
    if mesh not in MESH_METRICS:
        raise UnknownMeshError(f"unknown mesh {mesh!r}; built-in queries exist for: " + ", ".join(MESHES))
    check_dns_label("namespace", namespace)
    check_dns_subdomain("target", workload)
    check_duration("interval", interval)
    return MESH_METRICS[mesh]


def builtin_query(metric_name: str, mesh: str, namespace: str, target: str, interval: str) -> str:
    """Flagger's built-in check ``metric_name`` for workload ``target``, in one line of PromQL.

    ``request-success-rate`` is the percentage (0-100) of non-failed requests,
    ``request-duration`` the p99 latency in milliseconds, both over ``interval``.
    Names and the interval are validated (TemplateError), the metric name too
    (ProviderError).
    """
    series = _checked(mesh, namespace, target, interval)
    sel = series.selector(namespace, target)
    if metric_name == "request-success-rate":
        return (
            f"sum(rate({series.requests}{{{sel},{series.successes}}}[{interval}])) / "
            f"sum(rate({series.requests}{{{sel}}}[{interval}])) * 100"
        )
    if metric_name == "request-duration":
        return f"histogram_quantile(0.99, sum(rate({series.latency}{{{sel}}}[{interval}])) by (le))"
    raise ProviderError(
        f"{metric_name!r} is not a built-in metric (built-in: {', '.join(BUILTIN_METRICS)}); "
        "reference a MetricTemplate with templateRef",
        temporary=False,
    )


@dataclass(frozen=True)
class WindowQueries:
    """The three queries that fill one ``analysis.Window`` for one workload and interval."""

    mesh: Mesh
    namespace: str
    workload: str
    interval: str
    requests: str
    errors: str
    latency: str


def window_queries(mesh: str, namespace: str, workload: str, interval: str) -> WindowQueries:
    """Increases over ``interval`` of requests, failed requests and latency buckets ``by (le)``."""
    series = _checked(mesh, namespace, workload, interval)
    sel = series.selector(namespace, workload)
    return WindowQueries(
        mesh=mesh,  # type: ignore[arg-type]
        namespace=namespace,
        workload=workload,
        interval=interval,
        requests=f"sum(increase({series.requests}{{{sel}}}[{interval}]))",
        errors=f"sum(increase({series.requests}{{{sel},{series.errors}}}[{interval}]))",
        latency=f"sum(increase({series.latency}{{{sel}}}[{interval}])) by (le)",
    )


def judge_queries(mesh: str, namespace: str, target: str, interval: str) -> tuple[WindowQueries, WindowQueries]:
    """``(canary, primary)`` window queries for a Canary whose target Deployment is ``target``."""
    return (
        window_queries(mesh, namespace, target, interval),
        window_queries(mesh, namespace, primary_deployment_name(target), interval),
    )


class WindowCounts(NamedTuple):
    """One tick's increases for one workload, ready for ``analysis.Window(*counts)``.

    ``latency`` maps each bucket's upper bound (``math.inf`` included) to its
    cumulative count, or is None when there were no requests or no histogram.
    """

    requests: float
    errors: float
    latency: dict[float, float] | None


async def _count(provider: MetricProvider, promql: str, at: float | None) -> float:
    """A sum that is absent because no series matched (no traffic, no 5xx yet) counts as 0."""
    try:
        return await provider.query(promql, at=at)
    except NoDataError:
        return 0.0


def _bucket_bound(label: str, query: str) -> float:
    """A histogram bucket's ``le`` label as a number (``+Inf`` included); BadResponseError names it otherwise."""
    if label in ("+Inf", "Inf", "inf"):
        return math.inf
    try:
        return float(label)
    except ValueError:
        raise BadResponseError(f"bucket label le={label!r} is not a number (query: {query})") from None


async def fetch_window(provider: MetricProvider, queries: WindowQueries, at: float | None = None) -> WindowCounts:
    """Run the three queries, all evaluated at Unix time ``at`` (None: each at its own now).

    No matching series counts as zero, other errors propagate: an unreachable
    Prometheus or a refused query raises its ProviderError, the tick then has no
    evidence and the controller records why. One instant for all three makes the
    window consistent: Prometheus extrapolates each ``increase()`` to the range's
    ends from the samples inside it, so queries evaluated even milliseconds
    apart may extrapolate differently (the histogram's +Inf count would then
    differ from the request count).
    """
    requests = max(await _count(provider, queries.requests, at), 0.0)
    errors = min(max(await _count(provider, queries.errors, at), 0.0), requests)
    buckets = await provider.query_vector(queries.latency, "le", at=at)
    latency: dict[float, float] | None = None
    if buckets and requests > 0:
        parsed = {_bucket_bound(bound, queries.latency): max(count, 0.0) for bound, count in buckets.items()}
        if math.inf in parsed:
            latency = dict(sorted(parsed.items()))
    return WindowCounts(requests=requests, errors=errors, latency=latency)
