"""``canary report``: what it asks Prometheus, how it reads the answers, and how the command behaves.

Prometheus is answered by ``httpx.MockTransport`` (our seam: the command's
transport), the Kubernetes API by ``MemoryApi``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from canary.cli.report import CanaryTarget, ReportError, read_canary, register, run_report
from canary.kube.api import CANARIES
from canary.kube.memory import MemoryApi
from canary.providers.builtin import builtin_query
from canary.providers.templates import TemplateError
from canary.report.data import PhaseChange
from canary.report.fetch import fetch_report, report_queries

T0 = 1_790_000_000.0


def _matrix(*series: tuple[dict[str, str], list[tuple[float, str]]]) -> dict[str, Any]:
    return {
        "status": "success",
        "data": {"resultType": "matrix", "result": [{"metric": m, "values": v} for m, v in series]},
    }


class FakePrometheus:
    """Answers the report's queries with one short promoted rollout; records every query."""

    def __init__(self, empty: bool = False) -> None:
        self.queries: list[str] = []
        self.empty = empty

    def __call__(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params["query"]
        self.queries.append(query)
        if self.empty:
            return httpx.Response(200, json=_matrix())
        if request.url.path == "/api/v1/query":
            info = {"name": "podinfo", "namespace": "test", "canary": "podinfo", "primary": "podinfo-primary"}
            body = {
                "status": "success",
                "data": {"resultType": "vector", "result": [{"metric": info, "value": [T0, "1"]}]},
            }
            return httpx.Response(200, json=body)
        times = [T0 + i for i in range(0, 60, 5)]
        if query.startswith("canary_status"):
            return httpx.Response(
                200,
                json=_matrix(
                    ({"phase": "Succeeded"}, [(t, "1") for t in times if t >= T0 + 40]),
                    ({"phase": "Progressing"}, [(t, "1") for t in times if T0 + 10 <= t < T0 + 40]),
                    ({"phase": "Initialized"}, [(t, "1") for t in times if t < T0 + 10]),
                ),
            )
        if query.startswith("canary_weight"):
            return httpx.Response(200, json=_matrix(({}, [(t, str(min(50, max(0, t - T0 - 5)))) for t in times])))
        if query.startswith("canary_metric_threshold"):
            value = "99" if "success" in query else "500"
            return httpx.Response(200, json=_matrix(({}, [(t, value) for t in times])))
        if "histogram_quantile" in query:
            return httpx.Response(200, json=_matrix(({}, [(t, "48.5") for t in times])))
        # success rate: no traffic (NaN) before the canary got any
        return httpx.Response(200, json=_matrix(({}, [(t, "NaN" if t < T0 + 10 else "99.8") for t in times])))


def _fetch(fake: FakePrometheus, mesh: str = "linkerd") -> Any:
    with httpx.Client(base_url="http://prometheus.test", transport=httpx.MockTransport(fake)) as client:
        return fetch_report(
            client, name="podinfo", namespace="test", mesh=mesh, target="podinfo", start=T0, end=T0 + 60,
            rate_window="30s",
        )  # fmt: skip


def test_fetch_reads_weight_health_and_phase_changes() -> None:
    data = _fetch(FakePrometheus())
    assert data.phases == (
        PhaseChange(T0, "Initialized"),
        PhaseChange(T0 + 10, "Progressing"),
        PhaseChange(T0 + 40, "Succeeded"),
    )
    assert data.decision == PhaseChange(T0 + 40, "Succeeded")
    assert max(data.weight.values) == 50
    assert set(data.success_rate) == set(data.p99) == {"canary", "primary"}
    assert str(data.success_rate["canary"].values[0]) == "nan" and data.success_rate["canary"].values[-1] == 99.8
    assert (data.success_min, data.latency_max) == (99.0, 500.0)


@pytest.mark.parametrize("mesh", ["istio", "linkerd"])
def test_health_lines_use_the_built_in_checks_queries(mesh: str) -> None:
    fake = FakePrometheus()
    _fetch(fake, mesh)
    for workload in ("podinfo", "podinfo-primary"):
        assert builtin_query("request-success-rate", mesh, "test", workload, "30s") in fake.queries
        assert builtin_query("request-duration", mesh, "test", workload, "30s") in fake.queries


@pytest.mark.parametrize(
    ("field", "value"), [("namespace", 'test"} or vector(1) #'), ("name", "a b"), ("target", "x{y}")]
)
def test_names_that_would_inject_promql_are_refused(field: str, value: str) -> None:
    names = {"name": "podinfo", "namespace": "test", "target": "podinfo"}
    names[field] = value
    with pytest.raises(TemplateError):
        report_queries(mesh="istio", **names)


def _args(tmp_path: Path, *extra: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    return parser.parse_args(
        ["report", "podinfo", "-n", "test", "-o", str(tmp_path / "out.png"), "--prometheus", "http://prom.test:9090",
         "--until", str(T0 + 60), "--since", "1m", *extra]
    )  # fmt: skip


def test_report_command_draws_the_png_and_names_the_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePrometheus()
    args = _args(tmp_path, "--mesh", "istio")
    assert args.func is run_report
    assert run_report(args, transport=httpx.MockTransport(fake)) == 0
    out = capsys.readouterr().out
    assert "test/podinfo (istio), promoted at" in out
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert any(q.startswith("last_over_time(canary_info") for q in fake.queries)  # the workloads, without kube


def _unreachable(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("connection refused", request=request)


def _answering(body: Any, status: int = 200) -> Callable[[httpx.Request], httpx.Response]:
    """A server at the Prometheus address that answers every request with ``body`` as JSON."""
    return lambda request: httpx.Response(status, json=body)


@pytest.mark.parametrize(
    ("extra", "handler", "message"),
    [
        (("--mesh", "istio"), _unreachable, "unreachable"),
        (("--mesh", "linkerd"), FakePrometheus(empty=True), "has no data for Canary test/podinfo"),
        (("--mesh", "istio", "--since", "thirty"), FakePrometheus(), "invalid duration"),
        (("--mesh", "istio", "--rate-window", "5"), FakePrometheus(), "invalid duration"),
        (("--mesh", "istio", "-n", "Bad_NS"), FakePrometheus(), "namespace"),
        (("--mesh", "istio", "--until", "nan"), FakePrometheus(), "--until nan is not a time"),
        (("--mesh", "istio", "--timeout", "-1"), FakePrometheus(), "--timeout -1.0 must be a positive number"),
        (("--mesh", "istio", "--prometheus", "http://[::1"), FakePrometheus(), "is not a URL"),
        (("--mesh", "istio"), _answering([]), "did not answer like the Prometheus query API"),
        (("--mesh", "istio"), _answering("hello"), "did not answer like the Prometheus query API"),
        (("--mesh", "istio"), _answering({"status": "success"}), "did not answer like the Prometheus query API"),
        (
            ("--mesh", "istio"),
            _answering({"status": "success", "data": {"result": [{"metric": {}}]}}),
            "did not answer",
        ),
        (("--mesh", "istio"), _answering([1], status=400), "did not answer like the Prometheus query API"),
        (
            ("--mesh", "istio"),
            _answering({"status": "success", "data": {"result": [{"metric": {}, "values": [[1, "abc"]]}]}}),
            "is not a [time, value] pair",
        ),
    ],
)
def test_report_command_errors_are_one_line_and_exit_1(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: tuple[str, ...],
    handler: Callable[[httpx.Request], httpx.Response],
    message: str,
) -> None:
    assert run_report(_args(tmp_path, *extra), transport=httpx.MockTransport(handler)) == 1
    err = capsys.readouterr().err
    assert err.startswith("canary report: ") and message in err and "Traceback" not in err
    assert not (tmp_path / "out.png").exists()


async def _stored(canary: dict[str, Any]) -> MemoryApi:
    api = MemoryApi()
    await api.create(CANARIES, "test", canary)
    return api


def _canary(provider: str | None, target: str = "web") -> dict[str, Any]:
    spec: dict[str, Any] = {"targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target}}
    if provider is not None:
        spec["provider"] = provider
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "frontend", "namespace": "test"},
        "spec": spec,
        "status": {"phase": "Failed", "message": "request-success-rate 91 % < 99 %"},
    }


@pytest.mark.parametrize(
    ("provider", "mesh"), [("linkerd", "linkerd"), ("smi:v1alpha3", "linkerd"), ("istio", "istio"), (None, "istio")]
)
async def test_the_mesh_and_workloads_come_from_the_canary(provider: str | None, mesh: str) -> None:
    api = await _stored(_canary(provider))
    found = await read_canary(api, "test", "frontend")
    assert found == CanaryTarget(mesh, "web", "web-primary", "request-success-rate 91 % < 99 %")


async def test_an_unsupported_provider_asks_for_mesh() -> None:
    api = await _stored(_canary("contour"))
    with pytest.raises(ReportError, match="--mesh"):
        await read_canary(api, "test", "frontend")


async def test_a_missing_canary_is_named() -> None:
    with pytest.raises(ReportError, match="Canary test/nothing not found"):
        await read_canary(MemoryApi(), "test", "nothing")
