"""The Grafana dashboards in deploy/grafana/: current, importable into Grafana 10+, and self-consistent.

What Grafana needs on import and what a user would trip over: unique panel
ids, panels on the 24-column grid without overlaps, every query with an
expression that parses as PromQL (after Grafana's variable interpolation),
every variable used defined before use, the data source a variable of type
prometheus.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from canary.core import Phase
from canary.providers.promql import promql_error
from canary.report.dashboards import DASHBOARDS, PHASE_CODES, main, render

GRAFANA = Path(__file__).resolve().parents[3] / "deploy" / "grafana"
PANEL_TYPES = {"timeseries", "state-timeline", "stat", "table"}
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__interval_ms", "__range_s"}
VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
# Stand-ins Grafana would interpolate, so the queries can be parsed.
SAMPLE_VALUES = {
    "namespace": "test",
    "canary": "podinfo",
    "target": "podinfo",
    "primary": "podinfo-primary",
    "metric": "request-success-rate",
    "datasource": "prometheus",
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "1h",
}


def _load(name: str) -> dict[str, Any]:
    board: dict[str, Any] = json.loads((GRAFANA / name).read_text(encoding="utf-8"))
    return board


def _used(text: str) -> set[str]:
    """Variables ``text`` refers to (``$1``, a regex group in label_replace, is none)."""
    names = {next(g for g in m.groups() if g) for m in VARIABLE.finditer(text)}
    return {name for name in names if not name.isdigit()}


def _interpolate(text: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = next(g for g in match.groups() if g)
        return match.group(0) if name.isdigit() else SAMPLE_VALUES[name]

    return VARIABLE.sub(value, text)


def _exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expression) of every panel target and annotation."""
    found = [
        (f"panel {panel['title']!r} target {target.get('refId')}", target.get("expr", ""))
        for panel in board["panels"]
        for target in panel["targets"]
    ]
    found += [(f"annotation {a['name']!r}", a["expr"]) for a in board["annotations"]["list"] if not a.get("builtIn")]
    return found


@pytest.fixture(params=sorted(DASHBOARDS))
def board(request: pytest.FixtureRequest) -> dict[str, Any]:
    return _load(request.param)


@pytest.mark.parametrize("name", sorted(DASHBOARDS))
def test_committed_dashboards_are_what_the_generator_writes(name: str) -> None:
    assert (GRAFANA / name).read_text(encoding="utf-8") == render(DASHBOARDS[name]())
    assert main([str(GRAFANA), "--check"]) == 0


def test_check_reports_a_stale_dashboard(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for name in DASHBOARDS:
        (tmp_path / name).write_text((GRAFANA / name).read_text(encoding="utf-8"), encoding="utf-8")
    stale = tmp_path / "canary-overview.json"
    stale.write_text(stale.read_text(encoding="utf-8").replace("Canary overview", "Old title"), encoding="utf-8")
    assert main([str(tmp_path), "--check"]) == 1
    assert "canary-overview.json is out of date" in capsys.readouterr().out


def test_grafana_10_dashboard_model(board: dict[str, Any]) -> None:
    assert board["schemaVersion"] >= 36
    assert board["uid"] and board["title"]
    assert {p["type"] for p in board["panels"]} <= PANEL_TYPES
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), ids


def test_panels_tile_the_grid_without_overlap(board: dict[str, Any]) -> None:
    cells: dict[tuple[int, int], str] = {}
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert set(grid) == {"x", "y", "w", "h"} and all(isinstance(v, int) for v in grid.values()), panel["title"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["h"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in cells, f"{panel['title']!r} overlaps {cells[(x, y)]!r}"
                cells[(x, y)] = panel["title"]


def test_every_query_is_prometheus_on_the_datasource_variable(board: dict[str, Any]) -> None:
    datasource = {"type": "prometheus", "uid": "${datasource}"}
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in board["panels"]:
        assert panel["datasource"] == datasource, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == datasource, panel["title"]
    for annotation in board["annotations"]["list"]:
        if not annotation.get("builtIn"):
            assert annotation["datasource"] == datasource, annotation["name"]
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"] == datasource, variable["name"]


def test_every_expression_parses_as_promql(board: dict[str, Any]) -> None:
    problems = []
    for where, expr in _exprs(board):
        error = promql_error(_interpolate(expr)) if expr.strip() else "no expression"
        if error:
            problems.append(f"{where}: {error}")
    assert problems == []


def test_every_variable_used_is_defined_before_use(board: dict[str, Any]) -> None:
    defined = set(GRAFANA_BUILTINS)
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert re.fullmatch(r"label_values\(.+, *\w+\)", variable["definition"]), variable["definition"]
            assert variable["query"] == variable["definition"]
            assert _used(variable["definition"]) <= defined, (variable["name"], _used(variable["definition"]))
        defined.add(variable["name"])
    texts = [expr for _, expr in _exprs(board)]
    for panel in board["panels"]:
        texts.append(panel["title"])
        texts += [t.get("legendFormat", "") for t in panel["targets"]]
        if "repeat" in panel:
            texts.append("$" + panel["repeat"])
    undefined = {name for text in texts for name in _used(text)} - defined
    assert undefined == set()


def test_rollout_dashboard_covers_the_rollout() -> None:
    board = _load("canary-rollout.json")
    variables = {v["name"] for v in board["templating"]["list"]}
    assert {"datasource", "namespace", "canary"} <= variables
    exprs = " ".join(expr for _, expr in _exprs(board))
    for metric in (
        "canary_status", "canary_weight", "canary_failed_checks", "canary_judge_evidence", "canary_judge_threshold",
        "canary_metric_value", "canary_metric_threshold", "canary_successes_total", "canary_failures_total",
        "istio_requests_total", "istio_request_duration_milliseconds_bucket", "response_total",
        "response_latency_ms_bucket",
    ):  # fmt: skip
        assert metric in exprs, metric
    kinds = {p["type"] for p in board["panels"]}
    assert kinds == PANEL_TYPES - {"table"}
    evidence = next(p for p in board["panels"] if "evidence" in p["title"])
    assert evidence["fieldConfig"]["defaults"]["custom"]["scaleDistribution"]["type"] == "log"
    names = {a["name"] for a in board["annotations"]["list"] if not a.get("builtIn")}
    assert names == {"Promotions", "Rollbacks"}


def test_phase_timeline_maps_every_phase_back_to_its_name() -> None:
    board = _load("canary-rollout.json")
    timeline = next(p for p in board["panels"] if p["type"] == "state-timeline")
    (mapping,) = timeline["fieldConfig"]["defaults"]["mappings"]
    shown = {int(code): option["text"] for code, option in mapping["options"].items()}
    assert shown == {code: phase for phase, code in PHASE_CODES.items()}
    assert set(shown.values()) == {p.value for p in Phase if p is not Phase.NEW}
    expr = timeline["targets"][0]["expr"]
    for phase, code in PHASE_CODES.items():
        assert f'phase="{phase}"}}) * {code}' in expr


def test_overview_table_lists_phase_weight_and_failed_checks() -> None:
    board = _load("canary-overview.json")
    table = next(p for p in board["panels"] if p["type"] == "table")
    exprs = " ".join(t["expr"] for t in table["targets"])
    assert all(t["format"] == "table" and t["instant"] for t in table["targets"])
    for metric in ("canary_status", "canary_weight", "canary_failed_checks", "canary_successes_total",
                   "canary_failures_total"):  # fmt: skip
        assert metric in exprs
    renamed = next(t for t in table["transformations"] if t["id"] == "organize")["options"]["renameByName"]
    assert {"Phase", "Canary weight", "Failed checks", "Promotions", "Rollbacks"} <= set(renamed.values())
    assert any("canary_duration_seconds" in t["expr"] for p in board["panels"] for t in p["targets"])
