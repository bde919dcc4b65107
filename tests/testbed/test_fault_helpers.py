"""Failures a controller must survive, driven through the testbed: API faults and Prometheus going away."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request

import httpx
import pytest

from canary.kube.api import NAMESPACES, ApiError
from canary_testbed.mesh import MeshSimulator
from canary_testbed.prom import PrometheusServer
from canary_testbed.testbed import Testbed
from tests.unit.providers.support import require_prometheus


def instant_query(url: str, promql: str, at: float) -> list[dict[str, object]]:
    """The result vector of ``promql`` evaluated at ``at`` (Prometheus' HTTP API)."""
    query = urllib.parse.urlencode({"query": promql, "time": f"{at:.3f}"})
    with urllib.request.urlopen(f"{url}/api/v1/query?{query}", timeout=5.0) as response:
        result: list[dict[str, object]] = json.load(response)["data"]["result"]
        return result


def test_prometheus_comes_back_on_the_same_port_with_what_it_had_scraped() -> None:
    require_prometheus()
    sim = MeshSimulator("istio", seed=1)
    sim.add_app("test", "podinfo")
    sim.serve()
    try:
        with PrometheusServer([sim.target]) as server:
            server.wait_scraped()
            scraped_at = time.time()
            url, pid = server.url, server.pid
            assert instant_query(url, f'up{{instance="{sim.target}"}}', scraped_at)
            server.stop()
            assert not server.running
            with pytest.raises((urllib.error.URLError, ConnectionError)):
                urllib.request.urlopen(f"{url}/-/ready", timeout=2.0)
            server.start()
            assert server.url == url and server.pid != pid
            # The samples scraped before the stop are still there (the TSDB's WAL was replayed).
            assert instant_query(url, f'up{{instance="{sim.target}"}}', scraped_at)
            server.restart()
            assert server.url == url
            assert instant_query(url, f'up{{instance="{sim.target}"}}', scraped_at)
    finally:
        sim.close()


async def test_testbed_drives_api_faults_and_prometheus() -> None:
    require_prometheus()
    async with Testbed() as bed:
        assert bed.api is not None and bed.prometheus_url is not None
        await bed.inject_api_faults([{"fault": "status", "status": 503, "verbs": ["get"], "resources": ["namespaces"]}])
        with pytest.raises(ApiError) as info:
            await bed.api.get(NAMESPACES, None, bed.namespace)
        assert info.value.status == 503
        retried = (await bed.api_fault_counts())["injected"]["503"]
        assert retried >= 1  # the client retries a 503 a few times before it gives up
        assert (await bed.clear_api_faults())["injected"] == {"503": retried}
        assert await bed.api.get(NAMESPACES, None, bed.namespace) is not None

        url = bed.prometheus_url
        await bed.stop_prometheus()
        async with httpx.AsyncClient() as client:
            with pytest.raises(httpx.ConnectError):
                await client.get(f"{url}/-/ready", timeout=2.0)
            await bed.start_prometheus()
            assert bed.prometheus_url == url
            assert (await client.get(f"{url}/-/ready", timeout=5.0)).status_code == 200
