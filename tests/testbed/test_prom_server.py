"""The testbed's real Prometheus: started on a free port, scraping, restartable, stopped by PID, cleaned up."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from canary.core.routes import Routes
from canary.providers.base import NoDataError
from canary.providers.prometheus import PrometheusProvider
from canary_testbed.mesh import MeshSimulator
from canary_testbed.prom import PrometheusNotInstalledError, PrometheusServer
from tests.unit.providers.support import require_prometheus


async def wait_for_value(provider: PrometheusProvider, promql: str, attempts: int = 100) -> float:
    """Poll until ``promql`` has a value (Prometheus scrapes every second)."""
    for _ in range(attempts):
        try:
            return await provider.query(promql)
        except NoDataError:
            await asyncio.sleep(0.2)
    raise AssertionError(f"{promql} never returned a value")


def test_a_missing_binary_is_a_clear_error() -> None:
    server = PrometheusServer(binary="/nonexistent/prometheus")
    with pytest.raises(PrometheusNotInstalledError, match="apt-get install prometheus"), server:
        pass
    assert server.workdir is None


def test_it_runs_on_loopback_and_is_cleaned_up_after() -> None:
    require_prometheus()
    with PrometheusServer() as server:
        assert server.url.startswith("http://127.0.0.1:")
        pid, workdir = server.pid, server.workdir
        assert pid is not None and workdir is not None and workdir.is_dir()
        config = (workdir / "prometheus.yml").read_text()
        assert "scrape_interval: 1s" in config and "evaluation_interval: 1s" in config
    assert server.pid is None and not workdir.exists()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_it_scrapes_a_target_added_while_running() -> None:
    require_prometheus()
    sim = MeshSimulator("istio", seed=1)
    sim.add_app("test", "podinfo").set_routes(Routes.canary_at(10))
    sim.serve()
    try:
        async with PrometheusServer() as server:
            server.set_targets([sim.target])
            await server.await_scraped()
            assert server.scraped_targets() == {sim.target}
            provider = PrometheusProvider(server.url)
            assert await wait_for_value(provider, f'up{{instance="{sim.target}"}}') == 1.0
            sim.step(1.0)
            series = await wait_for_value(provider, 'count(istio_requests_total{reporter="destination"})')
            assert series == 4.0
            provider.close()
    finally:
        sim.close()


async def test_backfilled_history_is_queryable() -> None:
    require_prometheus()
    now = int(time.time())
    lines = ["# TYPE demo_requests counter"]
    lines += [f'demo_requests_total{{app="podinfo"}} {minute * 60} {now - 3600 + minute * 60}' for minute in range(59)]
    lines.append("# EOF")
    async with PrometheusServer(backfill="\n".join(lines)) as server:
        provider = PrometheusProvider(server.url)
        assert await provider.query('count_over_time(demo_requests_total{app="podinfo"}[2h])') == 59.0
        assert await provider.query('demo_requests_total{app="podinfo"}') == 58 * 60
        provider.close()
