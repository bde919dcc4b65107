"""Read one rollout's history from Prometheus (``query_range``) into a :class:`ReportData`.

The canary weight and the phases come from the controller's own metrics
(``canary_weight``, ``canary_status``); the success rate and p99 latency of the
canary and primary workloads from the mesh's, with the very PromQL of the
built-in ``request-success-rate`` and ``request-duration`` checks
(:func:`canary.providers.builtin.builtin_query`), so the report shows what the
checks measured.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import httpx

from canary.models import primary_deployment_name
from canary.providers.builtin import builtin_query
from canary.providers.templates import check_dns_label, check_dns_subdomain
from canary.report.data import PhaseChange, ReportData, Series

__all__ = ["PrometheusError", "ReportQueries", "fetch_report", "pick_step", "query_range", "report_queries"]

MAX_POINTS = 400
"""At most this many samples per line: enough for a figure, cheap for Prometheus."""


class PrometheusError(RuntimeError):
    """Prometheus could not be reached or refused a query; the message says which and why."""


@dataclass(frozen=True)
class ReportQueries:
    """The PromQL behind each line of the report."""

    weight: str
    phases: str
    success_rate: dict[str, str]
    p99: dict[str, str]
    success_min: str
    latency_max: str


def report_queries(
    *, name: str, namespace: str, mesh: str, target: str, primary: str | None = None, rate_window: str = "1m"
) -> ReportQueries:
    """The report's queries for Canary ``name`` whose target workload is ``target``.

    Names are validated (no PromQL can be smuggled through them); ``rate_window``
    is the range of the mesh's ``rate()``: at least four scrape intervals.
    """
    check_dns_label("namespace", namespace)
    check_dns_subdomain("name", name)
    primary = primary or primary_deployment_name(target)
    workloads = {"canary": target, "primary": primary}
    return ReportQueries(
        weight=f'canary_weight{{namespace="{namespace}",workload="{target}"}}',
        phases=f'canary_status{{namespace="{namespace}",name="{name}"}} == 1',
        success_rate={
            role: builtin_query("request-success-rate", mesh, namespace, workload, rate_window)
            for role, workload in workloads.items()
        },
        p99={
            role: builtin_query("request-duration", mesh, namespace, workload, rate_window)
            for role, workload in workloads.items()
        },
        success_min=(
            f'canary_metric_threshold{{namespace="{namespace}",name="{name}",'
            'metric="request-success-rate",bound="min"}'
        ),
        latency_max=(
            f'canary_metric_threshold{{namespace="{namespace}",name="{name}",metric="request-duration",bound="max"}}'
        ),
    )


def pick_step(start: float, end: float, minimum: float = 1.0) -> float:
    """Seconds between samples so that ``[start, end]`` holds at most MAX_POINTS of them."""
    return max(minimum, math.ceil((end - start) / MAX_POINTS))


def query_range(client: httpx.Client, promql: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
    """``/api/v1/query_range``: answers the result matrix (a list of ``{metric, values}``)."""
    try:
        response = client.get(
            "/api/v1/query_range", params={"query": promql, "start": start, "end": end, "step": f"{step:g}"}
        )
    except httpx.HTTPError as error:
        raise PrometheusError(f"Prometheus at {client.base_url} is unreachable: {error}") from error
    try:
        body = response.json()
    except ValueError:
        raise PrometheusError(
            f"Prometheus at {client.base_url} answered HTTP {response.status_code} without JSON"
        ) from None
    not_prometheus = PrometheusError(
        f"{client.base_url} did not answer like the Prometheus query API (HTTP {response.status_code}):"
        " is it the right address?"
    )
    if not isinstance(body, dict):
        raise not_prometheus
    if response.status_code != 200 or body.get("status") != "success":
        raise PrometheusError(f"Prometheus refused {promql!r}: {body.get('error') or response.status_code}")
    data = body.get("data")
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, list) or not all(
        isinstance(item, dict) and isinstance(item.get("metric", {}), dict) and isinstance(item.get("values"), list)
        for item in result
    ):
        raise not_prometheus
    return result


def _series(matrix: list[dict[str, Any]]) -> Series:
    """The first series of a matrix (each of our queries answers at most one), values as floats."""
    if not matrix:
        return Series()
    points = matrix[0]["values"]
    try:
        return Series(tuple(float(t) for t, _ in points), tuple(float(v) for _, v in points))
    except (TypeError, ValueError) as error:
        raise PrometheusError(f"a sample is not a [time, value] pair of numbers: {error}") from None


def _phase_changes(matrix: list[dict[str, Any]]) -> tuple[PhaseChange, ...]:
    """Each sample says "in this phase at this time": keep the moments the phase changed."""
    try:
        samples = sorted(
            (float(t), str(item.get("metric", {}).get("phase", ""))) for item in matrix for t, _ in item["values"]
        )
    except (TypeError, ValueError) as error:
        raise PrometheusError(f"a sample is not a [time, value] pair: {error}") from None
    changes: list[PhaseChange] = []
    for at, phase in samples:
        if not changes or changes[-1].phase != phase:
            changes.append(PhaseChange(at, phase))
    return tuple(changes)


def fetch_report(
    client: httpx.Client,
    *,
    name: str,
    namespace: str,
    mesh: str,
    target: str,
    start: float,
    end: float,
    primary: str | None = None,
    rate_window: str = "1m",
    step: float | None = None,
    reason: str | None = None,
) -> ReportData:
    """Query Prometheus (``client`` has its address as base URL) for the rollout of ``name`` in ``[start, end]``."""
    queries = report_queries(
        name=name, namespace=namespace, mesh=mesh, target=target, primary=primary, rate_window=rate_window
    )
    step = step or pick_step(start, end)

    def line(promql: str) -> Series:
        return _series(query_range(client, promql, start, end, step))

    def last(promql: str) -> float | None:
        finite = [v for v in line(promql).values if math.isfinite(v)]
        return finite[-1] if finite else None

    return ReportData(
        name=name,
        namespace=namespace,
        mesh=mesh,
        start=start,
        end=end,
        weight=line(queries.weight),
        success_rate={role: line(q) for role, q in queries.success_rate.items()},
        p99={role: line(q) for role, q in queries.p99.items()},
        phases=_phase_changes(query_range(client, queries.phases, start, end, step)),
        success_min=last(queries.success_min),
        latency_max=last(queries.latency_max),
        reason=reason,
    )
