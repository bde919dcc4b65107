"""The Prometheus provider against the real server and a canned one: values, and failures as typed reasons."""

from __future__ import annotations

import asyncio
import base64
import threading

import pytest

from canary.providers.base import (
    BadResponseError,
    MetricProvider,
    NoDataError,
    ProviderError,
    QueryError,
    UnknownProviderError,
    UnreachableError,
)
from canary.providers.prometheus import PrometheusProvider, resolve_address
from canary.providers.registry import create_provider, known_provider_types
from canary_testbed.prom import PrometheusServer, free_port
from tests.unit.providers.support import Canned, require_prometheus

TWO_SERIES = 'label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")'
BUCKETS = (
    'label_replace(vector(3), "le", "0.5", "", "") or label_replace(vector(7), "le", "+Inf", "", "")'
    ' or label_replace(vector(0/0), "le", "10", "", "")'
)


@pytest.fixture
async def provider(prometheus: PrometheusServer) -> PrometheusProvider:
    return PrometheusProvider(prometheus.url)


async def test_it_is_a_metric_provider(provider: PrometheusProvider) -> None:
    assert isinstance(provider, MetricProvider)
    await provider.check_online()


async def test_a_vector_and_a_scalar_give_their_value(provider: PrometheusProvider) -> None:
    assert await provider.query("vector(97.5)") == 97.5
    assert await provider.query("1 + 1") == 2.0


async def test_an_empty_result_is_no_data(provider: PrometheusProvider) -> None:
    with pytest.raises(NoDataError) as empty:
        await provider.query('sum(rate(istio_requests_total{destination_workload="nobody"}[1m]))')
    assert empty.value.reason == "the query returned an empty vector"
    assert empty.value.temporary is True


async def test_nan_and_infinities_are_no_data(provider: PrometheusProvider) -> None:
    with pytest.raises(NoDataError, match="NaN"):
        await provider.query("vector(0) / 0")
    with pytest.raises(NoDataError, match=r"\+Inf"):
        await provider.query("vector(1) / 0")
    with pytest.raises(NoDataError, match="-Inf"):
        await provider.query("vector(-1) / 0")


async def test_several_series_are_refused_rather_than_picked_at_random(provider: PrometheusProvider) -> None:
    with pytest.raises(QueryError, match="2 series") as refused:
        await provider.query(TWO_SERIES)
    assert refused.value.temporary is False


async def test_a_syntax_error_is_a_permanent_query_error(provider: PrometheusProvider) -> None:
    with pytest.raises(QueryError, match="refused the query") as refused:
        await provider.query("sum(rate(x[1m])")
    assert refused.value.temporary is False
    assert provider.address in refused.value.reason


async def test_query_vector_keys_values_by_label_and_drops_nan(provider: PrometheusProvider) -> None:
    assert await provider.query_vector(BUCKETS, "le") == {"0.5": 3.0, "+Inf": 7.0}
    assert await provider.query_vector(TWO_SERIES, "a") == {"x": 1.0, "y": 2.0}
    with pytest.raises(BadResponseError, match="no label 'le'"):
        await provider.query_vector("vector(1)", "le")


async def test_an_unreachable_server_is_a_temporary_error_naming_it() -> None:
    address = f"http://127.0.0.1:{free_port()}"
    provider = PrometheusProvider(address, retries=0)
    with pytest.raises(UnreachableError) as down:
        await provider.query("vector(1)")
    assert down.value.temporary is True
    assert down.value.reason == f"Prometheus at {address} is unreachable: connection refused"
    with pytest.raises(UnreachableError):
        await provider.check_online()


async def test_a_stopped_prometheus_is_unreachable_until_it_is_back() -> None:
    require_prometheus()
    async with PrometheusServer() as server:
        provider = PrometheusProvider(server.url, retries=0)
        assert await provider.query("vector(1)") == 1.0
        await server.astop()
        with pytest.raises(UnreachableError, match="unreachable"):
            await provider.query("vector(1)")
        await server.astart()
        assert await provider.query("vector(1)") == 1.0
        provider.close()


async def test_a_server_that_is_not_prometheus_is_reported(canned: tuple[str, Canned]) -> None:
    url, state = canned
    provider = PrometheusProvider(url)
    state.answer_text("<html>hello</html>")
    with pytest.raises(BadResponseError, match="right address"):
        await provider.query("vector(1)")
    state.answer_text("not found", status=404)
    with pytest.raises(BadResponseError, match="404"):
        await provider.query("vector(1)")


@pytest.mark.parametrize("metric", [None, ["le"], "le"])
async def test_a_series_whose_labels_are_not_a_map_is_a_bad_response(
    canned: tuple[str, Canned], metric: object
) -> None:
    url, state = canned
    state.answer_json({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": metric, "value": [1700000000, "5"]}
    ]}})  # fmt: skip
    with pytest.raises(BadResponseError, match="no label 'le'"):
        await PrometheusProvider(url).query_vector("sum(x) by (le)", "le")


async def test_server_side_failures_are_temporary(canned: tuple[str, Canned]) -> None:
    url, state = canned
    state.answer_json({"status": "error", "errorType": "unavailable", "error": "TSDB not ready"}, status=503)
    with pytest.raises(ProviderError, match="TSDB not ready") as failed:
        await PrometheusProvider(url).query("vector(1)")
    assert failed.value.temporary is True


async def test_credentials_and_template_headers_are_sent(canned: tuple[str, Canned]) -> None:
    url, state = canned
    state.answer_json({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {}, "value": [1700000000, "42"]}
    ]}})  # fmt: skip
    assert (
        await PrometheusProvider(url, credentials={"token": "s3cret"}, headers={"X-Org": ["a", "b"]}).query("x") == 42
    )
    assert state.requests[-1]["authorization"] == "Bearer s3cret"
    assert state.requests[-1]["x-org"] == "a, b"
    await PrometheusProvider(url, credentials={"username": "u", "password": "p"}).query("x")
    assert state.requests[-1]["authorization"] == "Basic " + base64.b64encode(b"u:p").decode()


async def test_a_slow_server_does_not_block_the_event_loop(canned: tuple[str, Canned]) -> None:
    url, state = canned
    state.answer_json({"status": "success", "data": {"resultType": "scalar", "result": [1700000000, "1"]}})
    state.delay = threading.Event()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            if ticks == 5:
                state.delay.set()  # type: ignore[union-attr]
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    try:
        # The server answers only once the ticker has run five times: a blocked loop would hang here.
        assert await asyncio.wait_for(PrometheusProvider(url).query("x"), timeout=10) == 1.0
    finally:
        task.cancel()
    assert ticks >= 5


def test_the_registry_knows_prometheus_and_refuses_the_rest() -> None:
    assert known_provider_types() == ["prometheus"]
    assert isinstance(create_provider("prometheus", "http://prometheus:9090"), PrometheusProvider)
    with pytest.raises(UnknownProviderError, match="'datadog' is not supported; supported: prometheus") as refused:
        create_provider("datadog", "https://api.datadoghq.com")
    assert refused.value.temporary is False


def test_address_precedence_template_then_canary_then_controller() -> None:
    assert resolve_address(template_address="http://t:9090/", metrics_server="http://c", default="http://d") == (
        "http://t:9090"
    )
    assert resolve_address(template_address=None, metrics_server="http://c:9090", default="http://d") == (
        "http://c:9090"
    )
    assert resolve_address(default="http://d:9090") == "http://d:9090"
    with pytest.raises(ProviderError, match="no Prometheus address"):
        resolve_address(template_address="", metrics_server=None, default=None)


async def test_a_server_that_never_answers_times_out_as_unreachable(canned: tuple[str, Canned]) -> None:
    url, state = canned
    state.delay = threading.Event()  # released only at teardown
    with pytest.raises(UnreachableError, match=r"no answer within 0\.3 s") as slow:
        await PrometheusProvider(url, timeout=0.3, retries=0).query("vector(1)")
    assert slow.value.temporary is True
