"""The Grafana dashboards of ``deploy/grafana/``, built here and written as JSON.

Two dashboards, for Grafana 10 and later (schema version 38; panel types
``stat``, ``state-timeline``, ``timeseries`` and ``table``; every query on the
``${datasource}`` variable of type prometheus):

- ``canary-rollout.json`` ("Canary rollout"): one Canary, picked by namespace
  and name, during its rollouts;
- ``canary-overview.json`` ("Canary overview"): every Canary in the selected
  namespaces.

They read the controller's own metrics (``canary_*``) and, for the canary and
primary workloads' traffic, the mesh's: each such query is the Istio
expression ``or`` the Linkerd one (every series a router declares,
:data:`canary.routers.METRIC_SERIES`). A workload runs on one mesh, so whichever
mesh exports it answers, and one dashboard serves both without a mesh selector.

The JSON is written by hand-rolled builders rather than a dashboard SDK: the
four panel types used here take a few stable fields, the output is committed
and checked (``python -m canary.report.dashboards --check``), and the project
needs no extra dependency for it. Regenerate with
``python -m canary.report.dashboards deploy/grafana``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from canary.core import Phase
from canary.models.support import MetricSeries
from canary.report.data import PHASE_COLOURS
from canary.routers.registry import METRIC_SERIES

__all__ = [
    "DASHBOARDS",
    "DATASOURCE",
    "PHASE_CODES",
    "SCHEMA_VERSION",
    "main",
    "mesh_latency",
    "mesh_request_rate",
    "mesh_success_rate",
    "overview_dashboard",
    "render",
    "rollout_dashboard",
    "write",
]

Json = dict[str, Any]

SCHEMA_VERSION = 38
"""Grafana's dashboard schema version written: Grafana 10.0's, so every 10.x and later imports without migrating."""
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}
"""Every panel, query, annotation and query variable reads the ``datasource`` variable's Prometheus."""

PHASE_CODES: dict[str, int] = {p.value: i for i, p in enumerate((p for p in Phase if p is not Phase.NEW), start=1)}
"""The number each phase stands for in the phase timelines (a value mapping turns it back into the name)."""


def _selectors(workload: str) -> list[tuple[MetricSeries, str]]:
    """Each declared mesh's series with its matchers for ``workload`` ("$target" or "$primary") in "$namespace"."""
    return [(series, series.selector("$namespace", workload, fixed_first=True)) for series in METRIC_SERIES.values()]


def mesh_success_rate(workload: str) -> str:
    """Percentage of non-5xx (Istio) / non-failure (Linkerd) responses of ``workload``, one mesh ``or`` the next."""
    return " or ".join(
        f"(sum(rate({series.requests}{{{sel},{series.successes}}}[$__rate_interval])) / "
        f"sum(rate({series.requests}{{{sel}}}[$__rate_interval])) * 100)"
        for series, sel in _selectors(workload)
    )


def mesh_latency(workload: str, quantile: float) -> str:
    """Latency quantile (ms) of ``workload``'s requests, one mesh ``or`` the next."""
    return " or ".join(
        f"histogram_quantile({quantile}, sum(rate({series.latency}{{{sel}}}[$__rate_interval])) by (le))"
        for series, sel in _selectors(workload)
    )


def mesh_request_rate(workload: str) -> str:
    """Requests per second reaching ``workload``, one mesh ``or`` the next."""
    return " or ".join(
        f"sum(rate({series.requests}{{{sel}}}[$__rate_interval]))" for series, sel in _selectors(workload)
    )


def _phase_code(selector: str, by: str = "") -> str:
    """One number for the current phase: the sum of each phase's 0/1 gauge times its code."""
    grouping = f" by ({by})" if by else ""
    return " + ".join(
        f'sum{grouping}(canary_status{{{selector},phase="{phase}"}}) * {code}' for phase, code in PHASE_CODES.items()
    )


def _phase_mappings() -> list[Json]:
    options = {
        str(code): {"text": phase, "color": PHASE_COLOURS[phase], "index": code - 1}
        for phase, code in PHASE_CODES.items()
    }
    return [{"type": "value", "options": options}]


# ---------------------------------------------------------------------------- builders


class _Board:
    """Collects panels with unique ids, in reading order."""

    def __init__(self) -> None:
        self.panels: list[Json] = []

    def add(
        self,
        kind: str,
        title: str,
        grid: tuple[int, int, int, int],
        targets: Sequence[Json],
        *,
        description: str = "",
        unit: str | None = None,
        options: Json | None = None,
        custom: Json | None = None,
        defaults: Json | None = None,
        overrides: Sequence[Json] = (),
        **extra: Any,
    ) -> Json:
        x, y, w, h = grid
        field_defaults: Json = {"custom": dict(custom or {})}
        if unit:
            field_defaults["unit"] = unit
        field_defaults.update(defaults or {})
        refs = [chr(ord("A") + i) for i in range(len(targets))]
        panel: Json = {
            "id": len(self.panels) + 1,
            "type": kind,
            "title": title,
            "description": description,
            "datasource": DATASOURCE,
            "gridPos": {"x": x, "y": y, "w": w, "h": h},
            "targets": [
                {**target, "refId": ref, "datasource": DATASOURCE} for ref, target in zip(refs, targets, strict=True)
            ],
            "fieldConfig": {"defaults": field_defaults, "overrides": list(overrides)},
            "options": dict(options or {}),
            **extra,
        }
        self.panels.append(panel)
        return panel


def _q(expr: str, legend: str = "__auto", **extra: Any) -> Json:
    return {"expr": expr, "legendFormat": legend, "range": True, "instant": False, **extra}


def _table_q(expr: str) -> Json:
    return {"expr": expr, "legendFormat": "__auto", "range": False, "instant": True, "format": "table"}


def _stat_options(text_mode: str = "value") -> Json:
    return {
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
        "textMode": text_mode,
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
    }


def _timeseries_options() -> Json:
    return {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi", "sort": "none"},
    }


def _lines(*, log: bool = False, bars: bool = False, fill: int = 0) -> Json:
    custom: Json = {
        "drawStyle": "bars" if bars else "line",
        "lineInterpolation": "stepAfter",
        "lineWidth": 2,
        "fillOpacity": fill,
        "showPoints": "never",
        "spanNulls": False,
        "axisPlacement": "auto",
    }
    if log:
        custom["scaleDistribution"] = {"type": "log", "log": 10}
    return custom


def _dashed(matcher: Json) -> Json:
    return {
        "matcher": matcher,
        "properties": [
            {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
            {"id": "custom.lineWidth", "value": 1},
        ],
    }


def _fixed_colour(name: str, colour: str) -> Json:
    return {
        "matcher": {"id": "byName", "options": name},
        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}],
    }


def _datasource_variable() -> Json:
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "refresh": 1,
        "regex": "",
        "options": [],
        "skipUrlSync": False,
    }


def _query_variable(
    name: str, label: str, query: str, *, hide: int = 0, multi: bool = False, include_all: bool = False
) -> Json:
    variable: Json = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": query,  # the plain string form: what Grafana migrates from and jsonnet mixins write
        "current": {},
        "hide": hide,
        "refresh": 2,  # on time range change: new canaries appear without a reload
        "regex": "",
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "options": [],
        "skipUrlSync": False,
    }
    if include_all:
        variable["allValue"] = ".*"
    return variable


def _annotation(name: str, expr: str, colour: str, title: str) -> Json:
    return {
        "name": name,
        "datasource": DATASOURCE,
        "enable": True,
        "hide": False,
        "iconColor": colour,
        "expr": expr,
        "step": "1m",
        "titleFormat": title,
        "textFormat": "{{namespace}}/{{name}} ({{strategy}})",
        "tagKeys": "strategy",
        "useValueForTime": False,
    }


def _builtin_annotations() -> Json:
    return {
        "builtIn": 1,
        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
        "enable": True,
        "hide": True,
        "iconColor": "rgba(0, 211, 255, 1)",
        "name": "Annotations & Alerts",
        "type": "dashboard",
    }


def _decision_expr(counter: str, selector: str) -> str:
    """Non-empty in the minute a promotion (or rollback) counter went up.

    The controller creates both counters at 0 on a Canary's first tick, and
    ``increase()`` ignores the drop to 0 of a restarted controller, so every
    decision, and only a decision, shows.
    """
    return f"increase({counter}{{{selector}}}[1m]) > 0"


def _dashboard(
    uid: str, title: str, description: str, variables: list[Json], board: _Board, annotations: list[Json]
) -> Json:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": ["canary", "progressive-delivery"],
        "editable": True,
        "graphTooltip": 1,  # shared crosshair: the same moment on every panel
        "timezone": "browser",
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "links": [],
        "templating": {"list": variables},
        "annotations": {"list": [_builtin_annotations(), *annotations]},
        "panels": board.panels,
    }


# ---------------------------------------------------------------------------- Canary rollout


def rollout_dashboard() -> Json:
    """The "Canary rollout" dashboard: one Canary's phases, traffic, checks and judge."""
    one = 'namespace="$namespace",name="$canary"'
    board = _Board()
    board.add(
        "stat", "Phase", (0, 0, 6, 4), [_q(_phase_code(one), "phase")],
        description="The Canary's phase now.",
        defaults={"mappings": _phase_mappings(), "color": {"mode": "fixed", "fixedColor": "text"}},
        options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Canary weight", (6, 0, 4, 4),
        [_q('canary_weight{namespace="$namespace",workload="$target"}', "canary")],
        description="Percentage of traffic routed to the canary workload now.",
        unit="percent", options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Failed checks", (10, 0, 4, 4), [_q(f"canary_failed_checks{{{one}}}", "failed checks")],
        description="Failed checks of the current analysis; the rollout is rolled back at analysis.threshold.",
        defaults={"thresholds": {"mode": "absolute", "steps": [
            {"color": "green", "value": None}, {"color": "orange", "value": 1}]}},
        options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Promotions", (14, 0, 5, 4),
        [_q(f"sum(canary_successes_total{{{one}}}) or vector(0)", "promotions")],
        description="Promotions of this Canary since the controller started.",
        defaults={"color": {"mode": "fixed", "fixedColor": "green"}}, options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Rollbacks", (19, 0, 5, 4),
        [_q(f"sum(canary_failures_total{{{one}}}) or vector(0)", "rollbacks")],
        description="Rollbacks of this Canary since the controller started.",
        defaults={"color": {"mode": "fixed", "fixedColor": "red"}}, options=_stat_options(),
    )  # fmt: skip
    board.add(
        "state-timeline", "Phase timeline", (0, 4, 24, 4), [_q(_phase_code(one), "$canary")],
        description="The Canary's phase over time.",
        defaults={"mappings": _phase_mappings(), "color": {"mode": "fixed", "fixedColor": "text"}},
        custom={"fillOpacity": 80, "lineWidth": 0},
        options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "alignValue": "left",
                 "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                 "tooltip": {"mode": "single", "sort": "none"}},
    )  # fmt: skip
    board.add(
        "timeseries", "Traffic weight", (0, 8, 12, 8),
        [_q('canary_weight{namespace="$namespace",workload="$target"}', "canary ($target)"),
         _q('canary_weight{namespace="$namespace",workload="$primary"}', "primary ($primary)")],
        description="Percentage of traffic the routing sends to each workload.",
        unit="percent", custom=_lines(fill=10), defaults={"min": 0, "max": 100},
        overrides=[_fixed_colour("canary ($target)", "orange"), _fixed_colour("primary ($primary)", "blue")],
        options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Failed checks", (12, 8, 12, 8), [_q(f"canary_failed_checks{{{one}}}", "failed checks")],
        description="Failed checks of the current analysis over time.",
        custom=_lines(bars=True, fill=60), defaults={"min": 0, "decimals": 0},
        overrides=[_fixed_colour("failed checks", "red")], options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Success rate: canary vs primary", (0, 16, 12, 8),
        [_q(mesh_success_rate("$target"), "canary"), _q(mesh_success_rate("$primary"), "primary")],
        description="Percentage of successful requests (Istio: not 5xx; Linkerd: not classified failure), "
        "from the mesh's metrics.",
        unit="percent", custom=_lines(), defaults={"max": 100},
        overrides=[_fixed_colour("canary", "orange"), _fixed_colour("primary", "blue")],
        options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Latency p50 / p99: canary vs primary", (12, 16, 12, 8),
        [_q(mesh_latency("$target", 0.5), "canary p50"), _q(mesh_latency("$target", 0.99), "canary p99"),
         _q(mesh_latency("$primary", 0.5), "primary p50"), _q(mesh_latency("$primary", 0.99), "primary p99")],
        description="Request latency quantiles from the mesh's histograms.",
        unit="ms", custom=_lines(), defaults={"min": 0},
        overrides=[_fixed_colour("canary p50", "light-orange"), _fixed_colour("canary p99", "orange"),
                   _fixed_colour("primary p50", "light-blue"), _fixed_colour("primary p99", "blue")],
        options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Requests per second: canary vs primary", (0, 24, 12, 8),
        [_q(mesh_request_rate("$target"), "canary"), _q(mesh_request_rate("$primary"), "primary")],
        description="Request rate reaching each workload: the weight as traffic really saw it.",
        unit="reqps", custom=_lines(), defaults={"min": 0},
        overrides=[_fixed_colour("canary", "orange"), _fixed_colour("primary", "blue")],
        options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Judge: evidence of a regression vs rollback threshold", (12, 24, 12, 8),
        [_q(f"canary_judge_evidence{{{one}}}", "{{metric}} evidence"),
         _q(f"canary_judge_threshold{{{one}}}", "{{metric}} rollback at")],
        description="The sequential judge's evidence per metric (log scale); it rolls back when evidence "
        "reaches the threshold (unless in dry run).",
        custom=_lines(log=True), overrides=[_dashed({"id": "byRegexp", "options": ".* rollback at"})],
        options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Check $metric: value vs threshold", (0, 32, 12, 8),
        [_q(f'canary_metric_value{{{one},metric=~"$metric"}}', "{{metric}}"),
         _q(f'canary_metric_threshold{{{one},metric=~"$metric"}}', "{{metric}} {{bound}}")],
        description="Each metric check's last measured value against its thresholdRange bounds (dashed).",
        custom=_lines(), overrides=[_dashed({"id": "byRegexp", "options": ".* (min|max)"})],
        options=_timeseries_options(), repeat="metric", repeatDirection="h", maxPerRow=2,
    )  # fmt: skip
    variables = [
        _datasource_variable(),
        _query_variable("namespace", "Namespace", "label_values(canary_info, namespace)"),
        _query_variable("canary", "Canary", 'label_values(canary_info{namespace="$namespace"}, name)'),
        _query_variable(
            "target",
            "Canary workload",
            'label_values(canary_info{namespace="$namespace",name="$canary"}, canary)',
            hide=2,
        ),
        _query_variable(
            "primary",
            "Primary workload",
            'label_values(canary_info{namespace="$namespace",name="$canary"}, primary)',
            hide=2,
        ),
        _query_variable(
            "metric", "Check", f"label_values(canary_metric_value{{{one}}}, metric)", multi=True, include_all=True
        ),
    ]
    annotations = [
        _annotation("Promotions", _decision_expr("canary_successes_total", one), "green", "Promoted"),
        _annotation("Rollbacks", _decision_expr("canary_failures_total", one), "red", "Rolled back"),
    ]
    return _dashboard(
        "canary-rollout",
        "Canary rollout",
        "One Canary's rollouts: phase, traffic weight, canary vs primary success rate and latency, "
        "failed checks, the judge's evidence; promotions and rollbacks as annotations.",
        variables,
        board,
        annotations,
    )


# ---------------------------------------------------------------------------- Canary overview


def overview_dashboard() -> Json:
    """The "Canary overview" dashboard: every Canary's state, and the controller's work."""
    ns = 'namespace=~"$namespace"'
    # canary_weight is keyed by workload: carry the Canary's name over from canary_info.
    named_weight = (
        f"max by (namespace, name) (canary_weight{{{ns}}} * on (namespace, workload) group_left (name) "
        f'max by (namespace, workload, name) (label_replace(canary_info{{{ns}}}, "workload", "$1", "canary", "(.+)")))'
    )
    board = _Board()
    board.add(
        "stat", "Canaries", (0, 0, 5, 4), [_q(f"count(canary_info{{{ns}}}) or vector(0)", "canaries")],
        description="Canaries the controller knows in the selected namespaces.", options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Rolling out now", (5, 0, 5, 4),
        [_q(f'count(canary_status{{{ns},phase=~"Progressing|Waiting|WaitingPromotion|Promoting|Finalising"}} == 1) '
            "or vector(0)", "rolling out")],
        description="Canaries between a new revision and its promotion or rollback.",
        defaults={"color": {"mode": "fixed", "fixedColor": "blue"}}, options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Failed now", (10, 0, 4, 4),
        [_q(f'count(canary_status{{{ns},phase="Failed"}} == 1) or vector(0)', "failed")],
        description="Canaries whose last revision was rolled back.",
        defaults={"thresholds": {"mode": "absolute", "steps": [
            {"color": "green", "value": None}, {"color": "red", "value": 1}]}},
        options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Promotions", (14, 0, 5, 4), [_q(f"sum(canary_successes_total{{{ns}}}) or vector(0)", "promotions")],
        description="Promotions since the controller started.",
        defaults={"color": {"mode": "fixed", "fixedColor": "green"}}, options=_stat_options(),
    )  # fmt: skip
    board.add(
        "stat", "Rollbacks", (19, 0, 5, 4), [_q(f"sum(canary_failures_total{{{ns}}}) or vector(0)", "rollbacks")],
        description="Rollbacks since the controller started.",
        defaults={"color": {"mode": "fixed", "fixedColor": "red"}}, options=_stat_options(),
    )  # fmt: skip
    board.add(
        "table", "Canaries", (0, 4, 24, 8),
        [_table_q(f"max by (namespace, name, phase) (canary_status{{{ns}}} == 1)"),
         _table_q(named_weight),
         _table_q(f"max by (namespace, name) (canary_failed_checks{{{ns}}})"),
         _table_q(f"sum by (namespace, name) (canary_successes_total{{{ns}}})"),
         _table_q(f"sum by (namespace, name) (canary_failures_total{{{ns}}})"),
         _table_q(f"max by (namespace, name, provider, canary, primary) (canary_info{{{ns}}})")],
        description="Each Canary now: phase, canary weight, failed checks, promotions and rollbacks since the "
        "controller started, mesh provider and workloads.",
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True, "Value #A": True, "Value #F": True},
                "renameByName": {"namespace": "Namespace", "name": "Canary", "phase": "Phase",
                                 "Value #B": "Canary weight", "Value #C": "Failed checks",
                                 "Value #D": "Promotions", "Value #E": "Rollbacks", "provider": "Provider",
                                 "canary": "Canary workload", "primary": "Primary workload"},
                "indexByName": {"namespace": 0, "name": 1, "phase": 2, "Value #B": 3, "Value #C": 4,
                                "Value #D": 5, "Value #E": 6, "provider": 7, "canary": 8, "primary": 9},
            }},
        ],
        overrides=[
            {"matcher": {"id": "byName", "options": "Canary weight"},
             "properties": [{"id": "unit", "value": "percent"},
                            {"id": "custom.cellOptions", "value": {"type": "gauge", "mode": "basic"}},
                            {"id": "min", "value": 0}, {"id": "max", "value": 100}]},
            {"matcher": {"id": "byName", "options": "Phase"},
             "properties": [{"id": "custom.cellOptions", "value": {"type": "color-text"}},
                            {"id": "mappings", "value": [{"type": "value", "options": {
                                phase: {"text": phase, "color": colour} for phase, colour in PHASE_COLOURS.items()}}]}]},
        ],
        custom={"align": "auto", "cellOptions": {"type": "auto"}},
        options={"showHeader": True, "cellHeight": "sm", "sortBy": [{"displayName": "Canary", "desc": False}]},
    )  # fmt: skip
    board.add(
        "state-timeline", "Phases", (0, 12, 24, 8), [_q(_phase_code(ns, by="namespace, name"), "{{namespace}}/{{name}}")],
        description="Each Canary's phase over time.",
        defaults={"mappings": _phase_mappings(), "color": {"mode": "fixed", "fixedColor": "text"}},
        custom={"fillOpacity": 80, "lineWidth": 0},
        options={"showValue": "auto", "mergeValues": True, "rowHeight": 0.9, "alignValue": "left",
                 "legend": {"showLegend": False, "displayMode": "list", "placement": "bottom"},
                 "tooltip": {"mode": "single", "sort": "none"}},
    )  # fmt: skip
    board.add(
        "timeseries", "Canary weight", (0, 20, 12, 8), [_q(named_weight, "{{namespace}}/{{name}}")],
        description="Traffic percentage on each Canary's canary workload.",
        unit="percent", custom=_lines(), defaults={"min": 0, "max": 100}, options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Failed checks", (12, 20, 12, 8),
        [_q(f"max by (namespace, name) (canary_failed_checks{{{ns}}})", "{{namespace}}/{{name}}")],
        description="Failed checks of each Canary's current analysis.",
        custom=_lines(), defaults={"min": 0, "decimals": 0}, options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Reconcile duration p50 / p99", (0, 28, 12, 8),
        [_q(f"histogram_quantile(0.5, sum by (namespace, name, le) "
            f"(rate(canary_duration_seconds_bucket{{{ns}}}[$__rate_interval])))", "{{namespace}}/{{name}} p50"),
         _q(f"histogram_quantile(0.99, sum by (namespace, name, le) "
            f"(rate(canary_duration_seconds_bucket{{{ns}}}[$__rate_interval])))", "{{namespace}}/{{name}} p99")],
        description="How long one reconcile tick of each Canary takes in the controller.",
        unit="s", custom=_lines(), defaults={"min": 0}, options=_timeseries_options(),
    )  # fmt: skip
    board.add(
        "timeseries", "Reconciles per second", (12, 28, 12, 8),
        [_q(f"sum by (namespace, name) (rate(canary_duration_seconds_count{{{ns}}}[$__rate_interval]))",
            "{{namespace}}/{{name}}")],
        description="Reconcile ticks per second, per Canary.",
        unit="ops", custom=_lines(), defaults={"min": 0}, options=_timeseries_options(),
    )  # fmt: skip
    variables = [
        _datasource_variable(),
        _query_variable("namespace", "Namespace", "label_values(canary_info, namespace)", multi=True, include_all=True),
    ]
    annotations = [
        _annotation("Promotions", _decision_expr("canary_successes_total", ns), "green", "Promoted"),
        _annotation("Rollbacks", _decision_expr("canary_failures_total", ns), "red", "Rolled back"),
    ]
    return _dashboard(
        "canary-overview",
        "Canary overview",
        "Every Canary: phase, weight and failed checks, promotions and rollbacks, and the controller's "
        "reconcile duration.",
        variables,
        board,
        annotations,
    )


DASHBOARDS = {"canary-rollout.json": rollout_dashboard, "canary-overview.json": overview_dashboard}
"""File name -> builder, for every dashboard in ``deploy/grafana/``."""


def render(dashboard: Json) -> str:
    """The dashboard as the committed file holds it (stable key order, trailing newline)."""
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def write(directory: Path) -> list[Path]:
    """Write every dashboard into ``directory``; answers the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, build in DASHBOARDS.items():
        path = directory / name
        path.write_text(render(build()), encoding="utf-8")
        written.append(path)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m canary.report.dashboards [DIR] [--check]``: write, or check the committed files are current."""
    parser = argparse.ArgumentParser(description="Write the Grafana dashboards (default: deploy/grafana).")
    parser.add_argument("directory", nargs="?", default="deploy/grafana")
    parser.add_argument("--check", action="store_true", help="exit 1 if a committed dashboard differs")
    args = parser.parse_args(argv)
    directory = Path(args.directory)
    if args.check:
        stale = [
            name
            for name, build in DASHBOARDS.items()
            if not (directory / name).is_file() or (directory / name).read_text(encoding="utf-8") != render(build())
        ]
        for name in stale:
            print(f"{directory / name} is out of date: run python -m canary.report.dashboards {directory}")
        return 1 if stale else 0
    for path in write(directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
