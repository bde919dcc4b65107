"""Built-in checks and judge window queries: Flagger's PromQL per mesh, validated by the real Prometheus."""

from __future__ import annotations

import math

import pytest

from canary.providers.base import BadResponseError, NoDataError, ProviderError, QueryError, UnreachableError, measure
from canary.providers.builtin import (
    LATENCY_BUCKETS,
    UnknownMeshError,
    builtin_query,
    fetch_window,
    judge_queries,
    metrics_mesh,
    window_queries,
)
from canary.providers.prometheus import PrometheusProvider
from canary.providers.templates import TemplateError
from canary_testbed.prom import PrometheusServer

ISTIO_SELECTOR = 'reporter="destination",destination_workload_namespace="test",destination_workload="podinfo"'
LINKERD_SELECTOR = 'namespace="test",deployment="podinfo",direction="inbound"'


def test_istio_success_rate_is_flaggers_non_5xx_percentage() -> None:
    query = builtin_query("request-success-rate", "istio", "test", "podinfo", "1m")
    assert query == (
        f'sum(rate(istio_requests_total{{{ISTIO_SELECTOR},response_code!~"5.*"}}[1m])) / '
        f"sum(rate(istio_requests_total{{{ISTIO_SELECTOR}}}[1m])) * 100"
    )


def test_istio_duration_is_the_p99_of_the_millisecond_histogram() -> None:
    query = builtin_query("request-duration", "istio", "test", "podinfo", "30s")
    assert query == (
        f"histogram_quantile(0.99, sum(rate(istio_request_duration_milliseconds_bucket{{{ISTIO_SELECTOR}}}[30s]))"
        " by (le))"
    )


def test_linkerd_success_rate_counts_non_failure_classifications() -> None:
    query = builtin_query("request-success-rate", "linkerd", "test", "podinfo", "1m")
    assert query == (
        f'sum(rate(response_total{{{LINKERD_SELECTOR},classification!="failure"}}[1m])) / '
        f"sum(rate(response_total{{{LINKERD_SELECTOR}}}[1m])) * 100"
    )


def test_linkerd_duration_reads_response_latency_ms() -> None:
    query = builtin_query("request-duration", "linkerd", "test", "podinfo", "2m")
    assert query == (
        f"histogram_quantile(0.99, sum(rate(response_latency_ms_bucket{{{LINKERD_SELECTOR}}}[2m])) by (le))"
    )


@pytest.mark.parametrize(
    ("provider", "default", "expected"),
    [
        ("istio", "linkerd", "istio"),
        ("linkerd", "istio", "linkerd"),
        ("smi:linkerd", "istio", "linkerd"),
        (None, "linkerd", "linkerd"),
        ("", "istio", "istio"),
        ("gatewayapi:v1", "linkerd", "linkerd"),
        ("gatewayapi", "istio", "istio"),
    ],
)
def test_the_mesh_whose_metrics_a_canary_reads(provider: str | None, default: str, expected: str) -> None:
    assert metrics_mesh(provider, default) == expected


def test_a_provider_without_builtin_metrics_fails_loudly() -> None:
    with pytest.raises(UnknownMeshError, match="'nginx'") as refused:
        metrics_mesh("nginx")
    assert refused.value.temporary is False
    with pytest.raises(UnknownMeshError):
        builtin_query("request-duration", "kuma", "test", "podinfo", "1m")


def test_an_unknown_builtin_name_is_a_permanent_error() -> None:
    with pytest.raises(ProviderError, match="templateRef") as refused:
        builtin_query("request-rate", "istio", "test", "podinfo", "1m")
    assert refused.value.temporary is False


@pytest.mark.parametrize(
    ("namespace", "target", "interval"),
    [('x"} or vector(1) #', "podinfo", "1m"), ("test", "pod{info", "1m"), ("test", "podinfo", "1m] or x")],
)
def test_builtin_queries_refuse_injection(namespace: str, target: str, interval: str) -> None:
    with pytest.raises(TemplateError):
        builtin_query("request-success-rate", "istio", namespace, target, interval)
    with pytest.raises(TemplateError):
        window_queries("linkerd", namespace, target, interval)


def test_judge_queries_read_the_canary_and_the_primary_workloads() -> None:
    canary, primary = judge_queries("istio", "test", "podinfo", "1m")
    assert canary.workload == "podinfo" and primary.workload == "podinfo-primary"
    assert 'destination_workload="podinfo-primary"' in primary.requests
    assert 'destination_workload="podinfo"' in canary.requests
    assert canary.requests == f"sum(increase(istio_requests_total{{{ISTIO_SELECTOR}}}[1m]))"
    assert canary.errors == f'sum(increase(istio_requests_total{{{ISTIO_SELECTOR},response_code=~"5.*"}}[1m]))'
    assert canary.latency == (
        f"sum(increase(istio_request_duration_milliseconds_bucket{{{ISTIO_SELECTOR}}}[1m])) by (le)"
    )
    linkerd, _ = judge_queries("linkerd", "test", "podinfo", "1m")
    assert linkerd.errors == f'sum(increase(response_total{{{LINKERD_SELECTOR},classification="failure"}}[1m]))'


def test_latency_buckets_are_the_meshes_defaults() -> None:
    assert LATENCY_BUCKETS["istio"][:6] == (0.5, 1, 5, 10, 25, 50)
    assert LATENCY_BUCKETS["linkerd"][:6] == (1, 2, 3, 4, 5, 10)
    for bounds in LATENCY_BUCKETS.values():
        assert list(bounds) == sorted(bounds)


async def test_every_builtin_query_is_valid_promql(prometheus: PrometheusServer) -> None:
    """Prometheus parses each query: with no series it answers "no data", never a syntax error."""
    provider = PrometheusProvider(prometheus.url)
    for mesh in ("istio", "linkerd"):
        for name in ("request-success-rate", "request-duration"):
            with pytest.raises(NoDataError):
                await provider.query(builtin_query(name, mesh, "test", "podinfo", "1m"))
        queries = window_queries(mesh, "test", "podinfo", "1m")
        for promql in (queries.requests, queries.errors):
            with pytest.raises(NoDataError):
                await provider.query(promql)
        assert await provider.query_vector(queries.latency) == {}
    provider.close()


class ScriptedProvider:
    """A MetricProvider (our own seam) answering each query from a table."""

    def __init__(self, values: dict[str, float | ProviderError], vectors: dict[str, dict[str, float]]) -> None:
        self.values = values
        self.vectors = vectors
        self.instants: list[float | None] = []

    async def query(self, promql: str, *, at: float | None = None) -> float:
        self.instants.append(at)
        answer = self.values.get(promql, NoDataError("the query returned an empty vector"))
        if isinstance(answer, ProviderError):
            raise answer
        return answer

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        self.instants.append(at)
        return self.vectors.get(promql, {})

    async def check_online(self) -> None:
        return None


async def test_fetch_window_builds_the_judge_window() -> None:
    queries = window_queries("istio", "test", "podinfo", "1m")
    provider = ScriptedProvider(
        {queries.requests: 612.4, queries.errors: 3.2},
        {queries.latency: {"+Inf": 612.4, "10": 100.0, "0.5": 0.0, "5000": 612.4}},
    )
    counts = await fetch_window(provider, queries, at=1767225600.25)
    assert provider.instants == [1767225600.25] * 3  # one instant for the whole window
    assert counts.requests == 612.4 and counts.errors == 3.2
    assert counts.latency == {0.5: 0.0, 10.0: 100.0, 5000.0: 612.4, math.inf: 612.4}
    assert list(counts.latency) == sorted(counts.latency)
    requests, errors, latency = counts
    assert (requests, errors, latency) == (612.4, 3.2, counts.latency)


async def test_no_series_means_zero_requests_and_no_histogram() -> None:
    queries = window_queries("linkerd", "test", "podinfo", "1m")
    counts = await fetch_window(ScriptedProvider({}, {}), queries)
    assert counts == (0.0, 0.0, None)


async def test_no_error_series_means_zero_errors() -> None:
    queries = window_queries("istio", "test", "podinfo", "1m")
    provider = ScriptedProvider({queries.requests: 40.0}, {queries.latency: {"+Inf": 40.0, "50": 39.0}})
    counts = await fetch_window(provider, queries)
    assert counts.requests == 40.0 and counts.errors == 0.0
    assert counts.latency == {50.0: 39.0, math.inf: 40.0}


async def test_a_bucket_label_that_is_not_a_number_is_a_bad_response_naming_it() -> None:
    queries = window_queries("istio", "test", "podinfo", "1m")
    provider = ScriptedProvider({queries.requests: 40.0}, {queries.latency: {"+Inf": 40.0, "fast": 39.0}})
    with pytest.raises(BadResponseError, match=r"bucket label le='fast' is not a number \(query: .*_bucket"):
        await fetch_window(provider, queries)


async def test_an_unreachable_prometheus_is_not_mistaken_for_zero_traffic() -> None:
    queries = window_queries("istio", "test", "podinfo", "1m")
    down = UnreachableError("Prometheus at http://127.0.0.1:1 is unreachable: connection refused")
    with pytest.raises(UnreachableError):
        await fetch_window(ScriptedProvider({queries.requests: down}, {}), queries)


async def test_measure_turns_failures_into_reasons() -> None:
    provider = ScriptedProvider({"ok": 99.5, "bad": QueryError("Prometheus refused the query: parse error")}, {})
    good = await measure(provider, "request-success-rate", "ok")
    assert good.ok and good.value == 99.5 and good.reason == ""
    empty = await measure(provider, "request-success-rate", "missing")
    assert not empty.ok and empty.value is None
    assert empty.reason == "no data for request-success-rate: the query returned an empty vector"
    refused = await measure(provider, "my-metric", "bad")
    assert refused.reason == "my-metric: Prometheus refused the query: parse error"
    assert refused.error is not None and refused.error.temporary is False
