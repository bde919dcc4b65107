"""The rules a Canary must pass before traffic moves, as the controller runs them (canary.admission).

``canary validate`` runs the same functions over files (tests/unit/gitops);
here the templates come from a lookup as the controller's would, from the API.
"""

from __future__ import annotations

from typing import Any

import pytest

from canary.admission import FoundTemplate, Issue, admission_issues
from canary.models import Canary, MetricTemplate


def canary(**analysis: Any) -> Canary:
    return Canary.model_validate(
        {
            "apiVersion": "canary.dev/v1beta1",
            "kind": "Canary",
            "metadata": {"name": "podinfo", "namespace": "test"},
            "spec": {
                "provider": "istio",
                "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
                "service": {"port": 9898},
                "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10, **analysis},
            },
        }
    )


def template(query: str) -> MetricTemplate:
    return MetricTemplate.model_validate(
        {
            "apiVersion": "canary.dev/v1beta1",
            "kind": "MetricTemplate",
            "metadata": {"name": "errors", "namespace": "test"},
            "spec": {"provider": {"type": "prometheus", "address": "http://prometheus:9090"}, "query": query},
        }
    )


def lookup_of(*templates: MetricTemplate) -> Any:
    found = {(t.metadata.namespace or "default", t.metadata.name or ""): t for t in templates}

    def lookup(key: tuple[str, str]) -> list[FoundTemplate] | None:
        hit = found.get(key)
        return [FoundTemplate(f"MetricTemplate {key[0]}/{key[1]}", hit)] if hit else None

    return lookup


ERRORS = 'sum(rate(http_requests_total{namespace="{{ namespace }}", code=~"{{ variables.codes }}"}[{{ interval }}]))'


def errors(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(".".join(map(str, issue.path)), issue.message) for issue in issues if issue.level == "error"]


def metric(**fields: Any) -> dict[str, Any]:
    return {"name": "errors", "thresholdRange": {"max": 1}, "interval": "1m", **fields}


def test_a_canary_whose_rules_hold_has_no_error() -> None:
    ok = canary(metrics=[metric(templateRef={"name": "errors"}, templateVariables={"codes": "5.."})])
    assert errors(admission_issues(ok, lookup_of(template(ERRORS)), "istio")) == []


def test_a_variable_that_would_inject_promql_is_refused_before_any_query() -> None:
    bad = canary(metrics=[metric(templateRef={"name": "errors"}, templateVariables={"codes": '5.."} or vector(1)'})])
    [(path, message)] = errors(admission_issues(bad, lookup_of(template(ERRORS)), "istio"))
    assert path == "spec.analysis.metrics.0.templateVariables.codes"
    assert message.startswith("refused, it could inject PromQL")


def test_a_missing_template_is_named_with_where_its_namespace_came_from() -> None:
    bad = canary(metrics=[metric(templateRef={"name": "errors"}, templateVariables={"codes": "5.."})])
    assert errors(admission_issues(bad, lookup_of(), "istio")) == [
        (
            "spec.analysis.metrics.0.templateRef",
            "MetricTemplate test/errors was not found (namespace from the Canary's namespace)",
        )
    ]


def test_a_missing_variable_and_a_broken_template_are_reported_on_the_canary() -> None:
    missing = canary(metrics=[metric(templateRef={"name": "errors"})])
    assert errors(admission_issues(missing, lookup_of(template(ERRORS)), "istio")) == [
        (
            "spec.analysis.metrics.0.templateVariables",
            "MetricTemplate test/errors uses {{ variables.codes }} but templateVariables has no 'codes'",
        )
    ]
    broken = canary(metrics=[metric(templateRef={"name": "errors"})])
    [(path, message)] = errors(admission_issues(broken, lookup_of(template("sum(rate(x[")), "istio"))
    assert path == "spec.analysis.metrics.0.templateRef"
    assert message.startswith("MetricTemplate test/errors: spec.query not valid PromQL")


@pytest.mark.parametrize(("provider", "refused"), [("istio", False), ("nginx", True)])
def test_a_provider_we_do_not_route_is_refused(provider: str, refused: bool) -> None:
    routed = canary()
    routed.spec.provider = provider
    issues = admission_issues(routed, lookup_of(), "istio")
    assert any(issue.path == ("spec", "provider") for issue in issues if issue.level == "error") is refused
