"""The mesh traffic simulator: split by weights, per-version behaviour, the meshes' real metric names."""

from __future__ import annotations

import math
import urllib.request

import numpy as np
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from canary.core.routes import Routes
from canary.providers.base import MetricProvider, NoDataError, QueryError
from canary.providers.builtin import LATENCY_BUCKETS, builtin_query, fetch_window, judge_queries
from canary_testbed.mesh import (
    SCENARIOS,
    MeshSimulator,
    SimulatorProvider,
    VersionBehaviour,
    histogram_quantile,
    scenario,
)

HEALTHY = VersionBehaviour(error_rate=0.0, latency_median_ms=20.0, latency_log_sd=0.4)
BROKEN = VersionBehaviour(error_rate=0.10, latency_median_ms=20.0, latency_log_sd=0.4)


def samples(sim: MeshSimulator, name: str) -> list[Sample]:
    text = generate_latest(sim.registry).decode()
    return [s for family in text_string_to_metric_families(text) for s in family.samples if s.name == name]


def simulated(mesh: str, weight: int, seconds: int = 200, rps: float = 100.0) -> MeshSimulator:
    sim = MeshSimulator(mesh, seed=7)
    app = sim.add_app("test", "podinfo", rps=rps, primary=HEALTHY, canary=BROKEN)
    app.set_routes(Routes.canary_at(weight))
    for _ in range(seconds):
        sim.step(1.0)
    return sim


def test_requests_follow_the_weights_and_each_version_its_error_rate() -> None:
    sim = simulated("istio", 20)
    totals = sim.app("test", "podinfo").totals
    total = totals["primary"].requests + totals["canary"].requests
    assert 19_000 < total < 21_000  # 100 rps for 200 s
    assert 0.18 < totals["canary"].requests / total < 0.22
    assert totals["primary"].errors == 0
    assert 0.08 < totals["canary"].errors / totals["canary"].requests < 0.12


def test_no_canary_traffic_at_weight_zero() -> None:
    totals = simulated("linkerd", 0, seconds=30).app("test", "podinfo").totals
    assert totals["canary"].requests == 0 and totals["primary"].requests > 0


def test_istio_series_carry_istios_names_and_labels() -> None:
    sim = simulated("istio", 20, seconds=30)
    totals = sim.app("test", "podinfo").totals
    requests = samples(sim, "istio_requests_total")
    destination = [s for s in requests if s.labels["reporter"] == "destination"]
    source = [s for s in requests if s.labels["reporter"] == "source"]
    assert len(destination) == len(source) == 4  # two versions x (200, 503)
    canary_errors = [
        s for s in destination if s.labels["destination_workload"] == "podinfo" and s.labels["response_code"] == "503"
    ]
    assert canary_errors[0].value == totals["canary"].errors
    assert canary_errors[0].labels["destination_workload_namespace"] == "test"
    primary = sum(s.value for s in destination if s.labels["destination_workload"] == "podinfo-primary")
    assert primary == totals["primary"].requests
    buckets = [
        s
        for s in samples(sim, "istio_request_duration_milliseconds_bucket")
        if s.labels["reporter"] == "destination"
        and s.labels["destination_workload"] == "podinfo-primary"
        and s.labels["response_code"] == "200"
    ]
    bounds = [s.labels["le"] for s in buckets]
    assert bounds[:3] == ["0.5", "1", "5"] and bounds[-1] == "+Inf"
    assert len(bounds) == len(LATENCY_BUCKETS["istio"]) + 1
    values = [s.value for s in buckets]
    assert values == sorted(values) and values[-1] == totals["primary"].successes


def test_linkerd_series_carry_linkerds_names_and_labels() -> None:
    sim = simulated("linkerd", 50, seconds=30)
    totals = sim.app("test", "podinfo").totals
    responses = samples(sim, "response_total")
    assert {s.labels["direction"] for s in responses} == {"inbound"}
    failures = {s.labels["deployment"]: s.value for s in responses if s.labels["classification"] == "failure"}
    assert failures == {"podinfo-primary": 0.0, "podinfo": float(totals["canary"].errors)}
    counts = {
        s.labels["deployment"]: s.value
        for s in samples(sim, "response_latency_ms_count")
        if s.labels["classification"] == "success"
    }
    assert counts["podinfo"] == totals["canary"].successes
    assert {s.labels["le"] for s in samples(sim, "response_latency_ms_bucket")} >= {"1", "50", "50000", "+Inf"}


async def test_weights_are_read_from_the_injected_source_and_kept_when_it_fails() -> None:
    current = [Routes.canary_at(30)]

    async def weights() -> Routes:
        if not current:
            raise LookupError("virtualservice not found")
        return current[0]

    sim = MeshSimulator("istio", seed=1)
    app = sim.add_app("test", "podinfo", weights=weights, primary=HEALTHY, canary=HEALTHY)
    assert app.routes == Routes(primary=100, canary=0)
    await sim.refresh_routes()
    assert app.routes == Routes.canary_at(30)
    current.clear()
    await sim.refresh_routes()
    assert app.routes == Routes.canary_at(30)


def test_a_behaviour_switch_applies_from_the_next_step() -> None:
    sim = MeshSimulator("istio", seed=3)
    app = sim.add_app("test", "podinfo", rps=200, primary=HEALTHY, canary=HEALTHY)
    app.set_routes(Routes.canary_at(50))
    for _ in range(20):
        sim.step()
    assert app.totals["canary"].errors == 0
    app.set_behaviour("canary", VersionBehaviour(error_rate=1.0))
    counts = sim.step()[("test", "podinfo")]
    assert counts.errors["canary"] == counts.requests["canary"] > 0
    assert counts.errors["primary"] == 0


def test_promotion_gives_the_primary_the_canarys_behaviour() -> None:
    sim = MeshSimulator("linkerd", seed=4)
    app = sim.add_app("test", "podinfo", scenario_name="latency-regression")
    assert app.behaviour("primary") != app.behaviour("canary")
    app.promote()
    assert app.behaviour("primary") == scenario("latency-regression").canary


def test_the_same_seed_gives_the_same_traffic() -> None:
    first = simulated("istio", 20, seconds=20).app("test", "podinfo").totals["canary"]
    second = simulated("istio", 20, seconds=20).app("test", "podinfo").totals["canary"]
    assert (first.successes, first.errors) == (second.successes, second.errors)
    assert np.array_equal(first.success_buckets, second.success_buckets)


def test_scenarios_are_named_as_in_the_demo() -> None:
    assert set(SCENARIOS) >= {"healthy", "error-regression", "latency-regression", "never-ready"}
    assert scenario("error-regression").canary.error_rate > scenario("healthy").canary.error_rate
    assert scenario("latency-regression").canary.latency_quantile(0.99) > 500
    assert scenario("healthy").canary.latency_quantile(0.99) < 100
    with pytest.raises(ValueError, match="unknown scenario 'chaos'"):
        scenario("chaos")
    with pytest.raises(ValueError, match="unknown mesh"):
        MeshSimulator("consul")
    with pytest.raises(ValueError, match="error_rate"):
        VersionBehaviour(error_rate=1.5)


def test_metrics_are_served_over_http() -> None:
    sim = simulated("istio", 10, seconds=5)
    try:
        sim.serve()
        with urllib.request.urlopen(sim.url, timeout=5) as response:
            body = response.read().decode()
        assert "istio_requests_total{" in body and 'destination_workload="podinfo-primary"' in body
    finally:
        sim.close()


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    bounds = (10.0, 20.0, 50.0)
    assert histogram_quantile(0.5, bounds, np.array([0, 100, 100, 100])) == 15.0
    assert histogram_quantile(0.99, bounds, np.array([0, 0, 0, 10])) == 50.0  # rank in +Inf bucket
    assert histogram_quantile(0.5, bounds, np.array([10, 10, 10, 10])) == 5.0  # first bucket starts at 0
    assert math.isnan(histogram_quantile(0.99, bounds, np.array([0, 0, 0, 0])))


async def test_the_simulator_answers_the_builtin_queries_without_prometheus() -> None:
    sim = simulated("linkerd", 20, seconds=120)
    provider = SimulatorProvider(sim)
    assert isinstance(provider, MetricProvider)
    app = sim.app("test", "podinfo")
    rate = await provider.query(builtin_query("request-success-rate", "linkerd", "test", "podinfo", "1m"))
    assert 85.0 < rate < 95.0
    assert await provider.query(builtin_query("request-success-rate", "linkerd", "test", "podinfo-primary", "1m")) == (
        100.0
    )
    p99 = await provider.query(builtin_query("request-duration", "linkerd", "test", "podinfo", "1m"))
    assert 30.0 < p99 < 100.0  # log-normal, median 20 ms, log-sd 0.4: true p99 ~50 ms

    canary_queries, primary_queries = judge_queries("linkerd", "test", "podinfo", "2h")
    canary = await fetch_window(provider, canary_queries)
    totals = app.totals["canary"]
    assert (canary.requests, canary.errors) == (totals.requests, totals.errors)
    assert canary.latency is not None and canary.latency[math.inf] == totals.requests
    last_minute = await fetch_window(provider, judge_queries("linkerd", "test", "podinfo", "1m")[1])
    assert 0 < last_minute.requests < app.totals["primary"].requests
    assert (await fetch_window(provider, primary_queries)).errors == 0


async def test_the_simulator_provider_behaves_like_prometheus_on_edges() -> None:
    sim = MeshSimulator("istio", seed=1)
    sim.add_app("test", "podinfo")
    provider = SimulatorProvider(sim)
    with pytest.raises(NoDataError):
        await provider.query(builtin_query("request-success-rate", "istio", "test", "podinfo", "1m"))
    with pytest.raises(QueryError, match="only the built-in queries"):
        await provider.query("sum(up)")
    await provider.check_online()
