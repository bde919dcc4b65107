"""The real Prometheus scraping the mesh simulator: built-in checks and judge windows read what was generated.

One Prometheus scrapes an Istio and a Linkerd simulator at once (1 s scrapes)
while each sends 20 % of 100 rps to a canary failing 10 % of requests, for
about 18 s of real time. The assertions compare what Prometheus computes with
what the simulator generated: seeded traffic, wide ranges where Prometheus
extrapolates, exact ratios where it cannot change them.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from canary.core.routes import Routes
from canary.providers.base import NoDataError
from canary.providers.builtin import LATENCY_BUCKETS, builtin_query, fetch_window, judge_queries
from canary.providers.prometheus import PrometheusProvider
from canary_testbed.mesh import MeshSimulator, SimulatedApp, VersionBehaviour, histogram_quantile
from canary_testbed.prom import PrometheusServer, prometheus_available

MESHES = ("istio", "linkerd")
NAMESPACE, TARGET = "test", "podinfo"
RPS, CANARY_WEIGHT, TRAFFIC_SECONDS = 100.0, 20, 18.0
PRIMARY = VersionBehaviour(error_rate=0.0, latency_median_ms=20.0, latency_log_sd=0.4)
CANARY = VersionBehaviour(error_rate=0.10, latency_median_ms=20.0, latency_log_sd=0.4)
WINDOW = "2m"  # longer than the whole run: every window starts before the first request


@dataclass
class Run:
    """The Prometheus that watched the traffic, and the simulators that made it."""

    prometheus: PrometheusServer
    simulators: dict[str, MeshSimulator]
    traffic: tuple[float, float] = (0.0, 0.0)  # Unix times the traffic started and stopped

    def app(self, mesh: str) -> SimulatedApp:
        return self.simulators[mesh].app(NAMESPACE, TARGET)


async def _drive(simulators: list[MeshSimulator], seconds: float) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(sim.run(stop)) for sim in simulators]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.gather(*tasks)


async def _wait_for_final_scrape(run: Run) -> None:
    """Until Prometheus holds each simulator's final totals (at most ~10 scrapes)."""
    provider = PrometheusProvider(run.prometheus.url)
    totals = {
        "istio": ('sum(istio_requests_total{reporter="destination"})', run.app("istio")),
        "linkerd": ('sum(response_total{direction="inbound"})', run.app("linkerd")),
    }
    try:
        for _ in range(100):
            seen = []
            for promql, app in totals.values():
                try:
                    seen.append(await provider.query(promql) == sum(t.requests for t in app.totals.values()))
                except NoDataError:
                    seen.append(False)
            if all(seen):
                return
            await asyncio.sleep(0.1)
        raise AssertionError("Prometheus never scraped the simulators' final totals")
    finally:
        provider.close()


@pytest.fixture(scope="module")
def run() -> Iterator[Run]:
    if not prometheus_available():
        pytest.fail(
            "the Prometheus server is not installed: run 'make test' (it installs Debian's prometheus) "
            "or 'sudo apt-get install prometheus'"
        )

    async def weights() -> Routes:
        return Routes.canary_at(CANARY_WEIGHT)

    simulators = {}
    for seed, mesh in enumerate(MESHES, start=20):
        sim = MeshSimulator(mesh, seed=seed)
        sim.add_app(NAMESPACE, TARGET, weights=weights, rps=RPS, primary=PRIMARY, canary=CANARY)
        sim.serve()
        simulators[mesh] = sim
    try:
        with PrometheusServer([sim.target for sim in simulators.values()]) as prometheus:
            prometheus.wait_scraped()  # the zero counters are in Prometheus before any request
            result = Run(prometheus, simulators)
            started = time.time()
            asyncio.run(_drive(list(simulators.values()), TRAFFIC_SECONDS))
            result.traffic = (started, time.time())
            asyncio.run(_wait_for_final_scrape(result))
            yield result
    finally:
        for sim in simulators.values():
            sim.close()


@pytest.fixture
async def provider(run: Run) -> PrometheusProvider:
    return PrometheusProvider(run.prometheus.url)


@pytest.mark.parametrize("mesh", MESHES)
def test_the_simulator_sent_a_fifth_of_the_traffic_to_the_canary(run: Run, mesh: str) -> None:
    totals = run.app(mesh).totals
    total = totals["primary"].requests + totals["canary"].requests
    assert 0.8 * RPS * TRAFFIC_SECONDS < total < 1.2 * RPS * TRAFFIC_SECONDS
    assert 0.15 < totals["canary"].requests / total < 0.25
    assert 0.03 < totals["canary"].errors / totals["canary"].requests < 0.20


@pytest.mark.parametrize("mesh", MESHES)
async def test_request_success_rate_shows_the_canarys_errors(run: Run, provider: PrometheusProvider, mesh: str) -> None:
    canary = await provider.query(builtin_query("request-success-rate", mesh, NAMESPACE, TARGET, WINDOW))
    primary = await provider.query(builtin_query("request-success-rate", mesh, NAMESPACE, f"{TARGET}-primary", WINDOW))
    assert 80.0 < canary < 97.0
    assert primary == 100.0
    generated = run.app(mesh).totals["canary"]
    assert canary == pytest.approx(100.0 * generated.successes / generated.requests, rel=1e-6)


@pytest.mark.parametrize("mesh", MESHES)
async def test_request_duration_is_the_p99_of_what_was_generated(
    run: Run, provider: PrometheusProvider, mesh: str
) -> None:
    bounds = LATENCY_BUCKETS[mesh]  # type: ignore[index]
    for version, workload in (("canary", TARGET), ("primary", f"{TARGET}-primary")):
        p99 = await provider.query(builtin_query("request-duration", mesh, NAMESPACE, workload, WINDOW))
        assert 25.0 < p99 <= 100.0  # log-normal, median 20 ms, log-sd 0.4: true p99 ~50 ms
        generated = run.app(mesh).totals[version]  # type: ignore[index]
        assert p99 == pytest.approx(histogram_quantile(0.99, bounds, generated.cumulative_buckets()), rel=1e-6)


@pytest.mark.parametrize("mesh", MESHES)
async def test_judge_windows_match_the_generated_counts(run: Run, provider: PrometheusProvider, mesh: str) -> None:
    canary_queries, primary_queries = judge_queries(mesh, NAMESPACE, TARGET, WINDOW)
    app = run.app(mesh)
    bounds = LATENCY_BUCKETS[mesh]  # type: ignore[index]
    at = time.time()
    for version, queries in (("canary", canary_queries), ("primary", primary_queries)):
        window = await fetch_window(provider, queries, at)
        generated = app.totals[version]  # type: ignore[index]
        # increase() extrapolates a little past the last scrape, never below what happened.
        assert generated.requests <= window.requests * (1 + 1e-9)
        assert window.requests < 1.1 * generated.requests
        # All three queries are evaluated at one instant, so they extrapolate alike: the window
        # is consistent (errors per request and the histogram's total exactly as generated).
        assert window.errors / window.requests == pytest.approx(generated.errors / generated.requests, rel=1e-9)
        assert window.latency is not None
        assert list(window.latency) == [*bounds, math.inf]
        assert window.latency[math.inf] == pytest.approx(window.requests, rel=1e-9)
        shares = np.array(list(window.latency.values())) / window.latency[math.inf]
        expected = generated.cumulative_buckets() / generated.requests
        assert shares == pytest.approx(expected, abs=1e-9)
    assert (await fetch_window(provider, primary_queries)).errors == 0.0


@pytest.mark.parametrize("mesh", MESHES)
async def test_judge_windows_that_tile_time_add_up_to_the_whole(
    run: Run, provider: PrometheusProvider, mesh: str
) -> None:
    """Two ticks' windows, the second starting where the first ended (as the controller asks for them)."""
    at = time.time()
    start = at - 120.0  # before the first request (the run is shorter than that)
    middle = round(sum(run.traffic) / 2.0, 3)  # mid-traffic: both windows hold requests
    whole = await fetch_window(provider, judge_queries(mesh, NAMESPACE, TARGET, "120000ms")[0], at)
    first = await fetch_window(
        provider, judge_queries(mesh, NAMESPACE, TARGET, f"{round((middle - start) * 1000)}ms")[0], middle
    )
    second = await fetch_window(
        provider, judge_queries(mesh, NAMESPACE, TARGET, f"{round((at - middle) * 1000)}ms")[0], at
    )
    assert first.requests > 0.2 * whole.requests and second.requests > 0.2 * whole.requests
    # Each window extrapolates to the shared edge from its own samples, so the sum may differ
    # from the whole by part of the canary traffic between the two scrapes around the edge
    # (1 s scrapes: ~20 requests); counting a window twice, or losing a gap, would move it by
    # a window's worth (over 70).
    one_scrape = CANARY_WEIGHT / 100 * RPS * 1.0
    assert first.requests + second.requests == pytest.approx(whole.requests, abs=one_scrape)
