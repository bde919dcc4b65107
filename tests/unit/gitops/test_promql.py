"""The PromQL check agrees with Prometheus itself (``promtool``) on valid and broken queries."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import yaml

from canary.gitops import promql_error
from canary.models import MetricTemplate
from canary.providers.templates import TemplateContext, render_query
from tests.unit.gitops.conftest import MANIFESTS_DIR

BROKEN = [
    "sum(rate(http_requests_total[1m])",
    "rate(http_requests_total)",
    "sum(rate(x[1m])) by le",
    'x{job=~"("}',
    "no_such_function(x)",
    "x[1m] + 1",
    "x[1x]",
    "100 -",
    'x{job="a"} or vector(1) #',  # valid: a comment ends the query
    "histogram_quantile(0.99, sum(rate(x_bucket[1m])) by (le)) / 1000",
    "sum without (pod) (rate(x[5m] offset 1m))",
    "max_over_time(rate(x[1m])[5m:30s])",
    'label_replace(x, "dst", "$1", "src", "(.*)")',
]


def corpus_queries() -> list[str]:
    """The Prometheus MetricTemplate queries of Flagger's examples, rendered with sample values."""
    context = TemplateContext(
        name="podinfo", namespace="test", target="podinfo", service="podinfo", interval="1m",
        variables={"direction": "inbound"},
    )  # fmt: skip
    queries = []
    for path in sorted(MANIFESTS_DIR.glob("*metrictemplate*.yaml")):
        obj = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec = obj.get("spec") or {}
        if (spec.get("provider") or {}).get("type") == "prometheus" and spec.get("query"):
            obj["apiVersion"] = "canary.dev/v1beta1"
            template = MetricTemplate.model_validate(obj)
            queries.append(render_query(template.spec.query, context))
    return queries


def promtool_verdicts(queries: list[str], tmp_path: Path) -> list[bool]:
    """For each query, whether Prometheus' promtool accepts it (one ``promtool check rules`` run)."""
    promtool = shutil.which("promtool") or "/usr/bin/promtool"
    assert Path(promtool).exists(), "promtool (Debian package prometheus) is part of the test environment"
    rules = {"groups": [{"name": "q", "rules": [{"record": f"r{i}", "expr": q} for i, q in enumerate(queries)]}]}
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(rules), encoding="utf-8")
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    failed = {int(found) - 1 for found in re.findall(r'group "q", rule (\d+),', done.stdout + done.stderr)}
    return [index not in failed for index in range(len(queries))]


def test_corpus_queries_are_valid_promql() -> None:
    queries = corpus_queries()
    assert len(queries) == 10
    assert [promql_error(query) for query in queries] == [None] * len(queries)


def test_verdicts_match_promtool(tmp_path: Path) -> None:
    queries = [*corpus_queries(), *BROKEN]
    ours = [promql_error(query) is None for query in queries]
    assert ours == promtool_verdicts(queries, tmp_path)
    assert ours.count(False) == 8


def test_empty_query_is_refused() -> None:
    assert promql_error("  \n") == "the query is empty"
