"""Every query of the Grafana dashboards, and ``canary report``, against a real rollout in the testbed.

One testbed per mesh (the dashboards' mesh panels are Istio ``or`` Linkerd: each
half must answer on its own mesh). In each, two Canaries roll out at once:
``podinfo`` healthy (promoted) and ``backend`` failing 10 % of requests (rolled
back). Then, against the testbed's real Prometheus, as Grafana would:

- the template variables are resolved with their own ``label_values`` queries;
- every panel's query, with the variables substituted, must return at least one
  finite sample over the rollout;
- the promotion annotation must mark ``podinfo`` and not ``backend``, the
  rollback annotation the other way round;
- ``canary report`` must draw each rollout, with the right decision.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import re
import statistics
import struct
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio

from canary.cli.report import read_canary, register
from canary.kube.client import ClusterApi, load_client_config
from canary.report.fetch import fetch_report
from canary_testbed.demo import demo_canary
from canary_testbed.testbed import Testbed

pytestmark = [pytest.mark.testbed]

GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
NAMESPACE = "test"
PROMOTED, ROLLED_BACK = "podinfo", "backend"
# What Grafana puts in for its own variables, at the testbed's 1 s scrape interval.
BUILTINS = {"__rate_interval": "10s", "__interval": "2s", "__range": "5m"}


@dataclass
class Rollout:
    """A testbed after both rollouts ended, and the span of time they took."""

    bed: Testbed
    start: float
    end: float

    @property
    def prometheus(self) -> str:
        assert self.bed.prometheus_url is not None
        return self.bed.prometheus_url


def _canary(provider: str, name: str) -> dict[str, Any]:
    manifest = demo_canary(provider, name=name, interval="2s", deadline=30)
    # three failed checks in a row (see test_rbac: two can happen to the healthy canary at 99 %)
    manifest["spec"]["analysis"]["threshold"] = 3
    return manifest


def _initialized_in(bed: Testbed) -> Callable[[], Awaitable[bool]]:
    """Whether Prometheus has scraped the controller since both Canaries were initialized."""

    async def seen() -> bool:
        assert bed.prometheus_url is not None
        async with httpx.AsyncClient(base_url=bed.prometheus_url) as client:
            response = await client.get("/api/v1/query", params={"query": 'canary_status{phase="Initialized"} == 1'})
        names = {s["metric"]["name"] for s in response.json()["data"]["result"]}
        return {PROMOTED, ROLLED_BACK} <= names

    return seen


@pytest_asyncio.fixture(params=["istio", "linkerd"], scope="module", loop_scope="module")
async def rollout(request: pytest.FixtureRequest) -> AsyncIterator[Rollout]:
    async with Testbed(provider=request.param, namespace=NAMESPACE, tick=0.5, min_interval=1.0, rps=100) as bed:
        for name in (PROMOTED, ROLLED_BACK):
            await bed.add_app(name)
            await bed.apply_canary(_canary(bed.provider, name))
        bed.start_controller()
        for name in (PROMOTED, ROLLED_BACK):
            await bed.wait_phase(name, {"Initialized"}, timeout=40)
        start = time.time()
        await bed.wait_for("Prometheus to see both Canaries initialized", _initialized_in(bed), timeout=20)
        await bed.new_revision(PROMOTED, image="podinfo:6.0.1", behaviour="healthy")
        await bed.new_revision(ROLLED_BACK, image="backend:2.0.0", behaviour="errors")
        promoted = await bed.wait_phase(PROMOTED, {"Succeeded", "Failed"}, timeout=60)
        rolled_back = await bed.wait_phase(ROLLED_BACK, {"Succeeded", "Failed"}, timeout=60)
        assert promoted["status"]["phase"] == "Succeeded", promoted["status"]
        assert rolled_back["status"]["phase"] == "Failed", rolled_back["status"]
        await asyncio.sleep(3)  # a few more scrapes: Prometheus holds the final phases
        yield Rollout(bed, start, time.time())


def _dashboard(name: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((GRAFANA / name).read_text(encoding="utf-8"))
    return board


def _substitute(text: str, values: dict[str, str]) -> str:
    """Grafana's interpolation of ``$name`` and ``${name}``; ``$1`` (a regex group) stays as it is."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name.isdigit():
            return match.group(0)
        assert name in values, f"variable ${name} has no value"
        return values[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, text)


async def _query_range(client: httpx.AsyncClient, promql: str, run: Rollout) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/v1/query_range", params={"query": promql, "start": run.start, "end": run.end, "step": "1"}
    )
    body = response.json()
    assert response.status_code == 200 and body["status"] == "success", (promql, body)
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def _label_values(client: httpx.AsyncClient, definition: str, run: Rollout) -> list[str]:
    """Grafana's ``label_values(selector, label)`` over the rollout's span."""
    found = re.fullmatch(r"label_values\((.*), *(\w+)\)", definition)
    assert found, definition
    selector, label = found.groups()
    response = await client.get("/api/v1/series", params={"match[]": selector, "start": run.start, "end": run.end})
    assert response.status_code == 200, response.text
    return sorted({series[label] for series in response.json()["data"] if label in series})


async def _resolve(
    client: httpx.AsyncClient, board: dict[str, Any], run: Rollout, picks: dict[str, str]
) -> dict[str, str]:
    """Each variable's value, in order: a query variable must offer what ``picks`` wants (else its only value)."""
    values = dict(BUILTINS)
    for variable in board["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            values[name] = "prometheus"
            continue
        offered = await _label_values(client, _substitute(variable["definition"], values), run)
        assert offered, f"variable ${name} offers nothing: {variable['definition']}"
        if name in picks:
            assert picks[name] in offered, (name, offered)
            values[name] = picks[name]
        elif variable.get("includeAll"):
            values[name] = variable["allValue"]
        else:
            assert len(offered) == 1, (name, offered)
            values[name] = offered[0]
    return values


async def _empty_panels(
    client: httpx.AsyncClient, board: dict[str, Any], values: dict[str, str], run: Rollout
) -> list[str]:
    empty = []
    for panel in board["panels"]:
        for target in panel["targets"]:
            promql = _substitute(target["expr"], values)
            result = await _query_range(client, promql, run)
            finite = [v for series in result for _, v in series["values"] if math.isfinite(float(v))]
            if not finite:
                empty.append(f"{panel['title']} [{target['refId']}]: {promql}")
    return empty


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("canary", [PROMOTED, ROLLED_BACK])
async def test_every_rollout_panel_shows_data(rollout: Rollout, canary: str) -> None:
    board = _dashboard("canary-rollout.json")
    async with httpx.AsyncClient(base_url=rollout.prometheus) as client:
        values = await _resolve(client, board, rollout, {"namespace": NAMESPACE, "canary": canary})
        assert (values["target"], values["primary"]) == (canary, f"{canary}-primary")
        offered = await _label_values(
            client, _substitute(board["templating"]["list"][-1]["definition"], values), rollout
        )
        assert {"request-success-rate", "request-duration"} <= set(offered)
        assert await _empty_panels(client, board, values, rollout) == []


@pytest.mark.asyncio(loop_scope="module")
async def test_every_overview_panel_shows_data(rollout: Rollout) -> None:
    board = _dashboard("canary-overview.json")
    async with httpx.AsyncClient(base_url=rollout.prometheus) as client:
        values = await _resolve(client, board, rollout, {})
        assert await _empty_panels(client, board, values, rollout) == []
        # The table names both canaries, each in its final phase.
        table = board["panels"][next(i for i, p in enumerate(board["panels"]) if p["type"] == "table")]
        phases = await client.get(
            "/api/v1/query", params={"query": _substitute(table["targets"][0]["expr"], values), "time": rollout.end}
        )
        final = {s["metric"]["name"]: s["metric"]["phase"] for s in phases.json()["data"]["result"]}
        assert final == {PROMOTED: "Succeeded", ROLLED_BACK: "Failed"}


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize("dashboard", ["canary-rollout.json", "canary-overview.json"])
async def test_annotations_mark_the_promotion_and_the_rollback(rollout: Rollout, dashboard: str) -> None:
    board = _dashboard(dashboard)
    annotations = {a["name"]: a for a in board["annotations"]["list"] if "expr" in a}
    assert set(annotations) == {"Promotions", "Rollbacks"}
    decided = {"Promotions": PROMOTED, "Rollbacks": ROLLED_BACK}
    async with httpx.AsyncClient(base_url=rollout.prometheus) as client:
        for canary in (PROMOTED, ROLLED_BACK):
            values = dict(BUILTINS, namespace=NAMESPACE, canary=canary)
            for name, annotation in annotations.items():
                result = await _query_range(client, _substitute(annotation["expr"], values), rollout)
                marked = {series["metric"]["name"] for series in result}
                if dashboard == "canary-rollout.json":
                    assert marked == ({canary} if decided[name] == canary else set()), (name, canary, marked)
                else:  # the overview marks every canary's decisions
                    assert marked == {decided[name]}, (name, marked)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", head
    width, height = struct.unpack(">II", head[16:24])
    return width, height


@pytest.mark.asyncio(loop_scope="module")
@pytest.mark.parametrize(("canary", "decision"), [(PROMOTED, "promoted"), (ROLLED_BACK, "rolled back")])
async def test_canary_report_draws_the_rollout(
    rollout: Rollout, canary: str, decision: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert rollout.bed.kubeconfig is not None
    api = ClusterApi(load_client_config(rollout.bed.kubeconfig))
    try:
        target = await read_canary(api, NAMESPACE, canary)
    finally:
        api.close()
    assert (target.mesh, target.target) == (rollout.bed.provider, canary)
    with httpx.Client(base_url=rollout.prometheus) as client:
        data = fetch_report(
            client, name=canary, namespace=NAMESPACE, mesh=target.mesh, target=target.target,
            start=rollout.start - 10, end=rollout.end, rate_window="10s",
        )  # fmt: skip
    assert data.decision is not None and data.decision.phase == ("Succeeded" if canary == PROMOTED else "Failed")
    assert rollout.start <= data.decision.at <= rollout.end
    assert max(data.weight.values) >= 10
    phases = [c.phase for c in data.phases]
    assert phases.index("Progressing") > 0 and phases[phases.index("Progressing") - 1] == "Initialized", phases
    seen = [v for v in data.success_rate["canary"].values if math.isfinite(v)]
    if canary == ROLLED_BACK:
        # The errors that caused the rollback (10 % of the canary's requests) are in the picture: the
        # series dips below the 99 % the failed checks were judged against. How deep depends on how
        # many seconds of errors a 10 s window holds before the rollback (three failed 2 s checks):
        # with two it was seen at 95.2 % at its lowest, so the dip is asserted against the threshold.
        assert min(seen) < 99.0, seen
    else:
        assert statistics.median(seen) > 99.0, seen
    assert any(math.isfinite(v) for v in data.p99["primary"].values)

    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    output = tmp_path / f"{canary}.png"
    args = parser.parse_args([
        "report", canary, "-o", str(output), "-n", NAMESPACE, "--prometheus", rollout.prometheus,
        "--kubeconfig", str(rollout.bed.kubeconfig), "--since", f"{time.time() - rollout.start + 10:.0f}s",
        "--rate-window", "10s",
    ])  # fmt: skip
    assert await asyncio.to_thread(args.func, args) == 0
    assert _png_size(output) == (1100, 800)
    assert f"{decision} at" in capsys.readouterr().out
