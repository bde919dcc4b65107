"""``canary validate``: one bad manifest per rule, each message located down to the file, object and field."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from canary.cli import main
from canary.gitops import Finding, validate_paths
from tests.unit.gitops.conftest import CANARY, TEMPLATE, write

Mutation = Callable[[dict[str, Any]], None]


def canary_text(mutate: Mutation | None = None) -> str:
    """The valid Canary of conftest, changed by ``mutate``, as YAML."""
    obj = yaml.safe_load(CANARY)
    if mutate is not None:
        mutate(obj)
    return yaml.safe_dump(obj, sort_keys=False)


def check(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *files: tuple[str, str]) -> list[Finding]:
    """Write the files below tmp_path and validate the whole directory from there (relative names)."""
    for name, text in files:
        write(tmp_path, name, text)
    monkeypatch.chdir(tmp_path)
    return validate_paths(["."]).findings


def lines(findings: list[Finding], severity: str = "error") -> list[str]:
    return [str(finding) for finding in findings if finding.severity == severity]


def analysis(**fields: Any) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"].update(fields)

    return mutate


def test_the_valid_canary_and_template_have_no_finding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    findings = check(tmp_path, monkeypatch, ("canary.yaml", canary_text()), ("template.yaml", TEMPLATE))
    assert findings == []


def test_step_weight_out_of_range_names_file_object_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path, "apps/podinfo/canary.yaml", canary_text(analysis(stepWeight=0)))
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["apps"])
    assert lines(report.findings) == [
        "apps/podinfo/canary.yaml: Canary test/podinfo: spec.analysis.stepWeight: must be between 1 and 100 (got 0)"
    ]
    assert not report.ok


@pytest.mark.parametrize(
    ("fields", "path", "words"),
    [
        ({"stepWeights": [10, 5, 20]}, "spec.analysis.stepWeights", "strictly ascending"),
        ({"stepWeights": [10, 50, 120]}, "spec.analysis.stepWeights", "between 1 and 100"),
        ({"stepWeight": 20, "maxWeight": 10}, "spec.analysis.maxWeight", "must not be less than stepWeight (20)"),
        ({"interval": "1 minute"}, "spec.analysis.interval", "invalid duration"),
        ({"interval": "90"}, "spec.analysis.interval", "invalid duration"),
    ],
)
def test_analysis_rules(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: dict[str, Any], path: str, words: str
) -> None:
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(analysis(**fields)))))
    assert len(errors) == 1, errors
    assert errors[0].startswith(f"c.yaml: Canary test/podinfo: {path}: ")
    assert words in errors[0]


def test_metric_interval_and_webhook_timeout_must_be_durations(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"]["metrics"][0]["interval"] = "5mins"
        obj["spec"]["analysis"]["webhooks"] = [
            {"name": "gate", "type": "confirm-rollout", "url": "http://gate/", "timeout": "ten seconds"}
        ]

    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))))
    assert [error.split(": ")[2] for error in errors] == [
        "spec.analysis.metrics[0].interval",
        "spec.analysis.webhooks[0].timeout",
    ]
    assert all("invalid duration" in error for error in errors)


def test_threshold_range_min_above_max(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"]["metrics"][0]["thresholdRange"] = {"min": 99, "max": 90}

    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))))
    assert errors == [
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[0].thresholdRange.max: "
        "min (99.0) must not be greater than max (90.0)"
    ]


def test_custom_metric_without_query_or_template(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"]["metrics"].append({"name": "error-rate", "thresholdRange": {"max": 1}})

    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))))
    assert len(errors) == 1
    assert errors[0].startswith(
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[1].name: unknown metric 'error-rate'"
    )


def template_metric(namespace: str | None = None, variables: dict[str, str] | None = None) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        ref: dict[str, Any] = {"name": "error-rate"}
        if namespace:
            ref["namespace"] = namespace
        metric: dict[str, Any] = {"name": "error-rate", "templateRef": ref, "thresholdRange": {"max": 1}}
        if variables is not None:
            metric["templateVariables"] = variables
        obj["spec"]["analysis"]["metrics"] = [metric]

    return mutate


def test_referenced_template_must_be_among_the_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(template_metric()))))
    assert errors == [
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[0].templateRef: "
        "MetricTemplate test/error-rate is not among the given paths (namespace from the Canary's namespace)"
    ]


def test_template_is_looked_up_in_templateref_namespace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_monitoring = TEMPLATE.replace("namespace: test", "namespace: monitoring")
    found = check(
        tmp_path,
        monkeypatch,
        ("c.yaml", canary_text(template_metric(namespace="monitoring"))),
        ("t.yaml", in_monitoring),
    )
    assert found == []


def test_template_in_another_namespace_is_not_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    in_monitoring = TEMPLATE.replace("namespace: test", "namespace: monitoring")
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(template_metric())), ("t.yaml", in_monitoring)))
    assert len(errors) == 1
    assert "spec.analysis.metrics[0].templateRef: MetricTemplate test/error-rate is not among" in errors[0]


def test_template_query_must_parse_as_promql(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = TEMPLATE.replace("* 100", "* 100)")
    errors = lines(check(tmp_path, monkeypatch, ("t.yaml", broken)))
    assert len(errors) == 1
    assert errors[0].startswith("t.yaml: MetricTemplate test/error-rate: spec.query: not valid PromQL")


def test_template_query_type_errors_are_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # rate() of an instant vector: Prometheus refuses it before evaluating anything.
    broken = TEMPLATE.replace("}[{{ interval }}]))\n    / sum", "}))\n    / sum")
    errors = lines(check(tmp_path, monkeypatch, ("t.yaml", broken)))
    assert len(errors) == 1
    assert "spec.query: not valid PromQL" in errors[0] and "matrix" in errors[0]


def test_template_with_unknown_placeholder_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = TEMPLATE.replace("{{ target }}", "{{ .Target }}")
    errors = lines(check(tmp_path, monkeypatch, ("t.yaml", broken)))
    assert len(errors) == 1
    assert errors[0].startswith("t.yaml: MetricTemplate test/error-rate: spec.query: cannot be rendered: ")
    assert "unknown template variable {{ .Target }}" in errors[0]


def test_template_with_numeric_variable_parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    quantile = TEMPLATE.replace(
        "query: |", "query: |\n    histogram_quantile({{ variables.q }}, sum(rate(x_bucket[1m])) by (le)) +"
    )
    assert check(tmp_path, monkeypatch, ("t.yaml", quantile)) == []


def test_inline_query_must_parse_and_is_not_rendered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"]["metrics"] = [
            {"name": "bad", "query": "sum(rate(x[1m])", "thresholdRange": {"max": 1}},
            {"name": "templated", "query": 'sum(rate(x{ns="{{ namespace }}"}[1m]))', "thresholdRange": {"max": 1}},
            {"name": "good", "query": "sum(rate(x[1m]))", "thresholdRange": {"max": 1}},
        ]

    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))))
    assert errors == [
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[0].query: not valid PromQL: unclosed left parenthesis",
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[1].query: an inline query is run as written: "
        "template variables such as {{ namespace }} are only rendered in a MetricTemplate (use templateRef)",
    ]


def test_template_variable_that_could_inject_promql_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = TEMPLATE.replace('job="{{ target }}"', 'job="{{ variables.job }}"')
    errors = lines(
        check(
            tmp_path,
            monkeypatch,
            ("c.yaml", canary_text(template_metric(variables={"job": 'x"} or vector(1) #'}))),
            ("t.yaml", template),
        )
    )
    assert len(errors) == 1
    assert errors[0].startswith(
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[0].templateVariables.job: refused, it could inject PromQL"
    )


def test_template_variable_used_by_the_template_must_be_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    template = TEMPLATE.replace('job="{{ target }}"', 'job="{{ variables.job }}"')
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(template_metric())), ("t.yaml", template)))
    assert errors == [
        "c.yaml: Canary test/podinfo: spec.analysis.metrics[0].templateVariables: MetricTemplate test/error-rate "
        "(t.yaml) uses {{ variables.job }} but templateVariables has no 'job'"
    ]


def test_unknown_webhook_type_with_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    hooks = [{"name": "smoke", "type": "pre-rolout", "url": "http://loadtester/"}]
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(analysis(webhooks=hooks)))))
    assert len(errors) == 1
    assert errors[0].startswith("c.yaml: Canary test/podinfo: spec.analysis.webhooks[0].type: must be one of")
    assert errors[0].endswith("(got 'pre-rolout'); did you mean 'pre-rollout'?")


def test_unsupported_provider_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["provider"] = "traefik"

    write(tmp_path, "c.yaml", canary_text(mutate))
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["c.yaml"])
    assert lines(report.findings)[0].startswith("c.yaml: Canary test/podinfo: spec.provider: traefik is not supported")
    assert not report.ok


def test_not_yet_supported_field_is_a_warning_that_does_not_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "c.yaml", canary_text(analysis(sessionAffinity={"cookieName": "flagger-cookie"})))
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["c.yaml"])
    assert lines(report.findings, "warning") == [
        "c.yaml: Canary test/podinfo: spec.analysis.sessionAffinity: warning: not supported yet (session affinity is not built)"
    ]
    assert report.ok
    assert main(["validate", "c.yaml"]) == 0


def test_flagger_fields_built_since_are_not_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"].update(primaryReadyThreshold=50, canaryReadyThreshold=75, stepWeightPromotion=20)
        obj["spec"]["analysis"]["metrics"][0]["dryRun"] = True

    assert check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))) == []


def test_step_weight_promotion_with_the_kubernetes_provider_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["provider"] = "kubernetes"
        obj["spec"]["analysis"] = {"interval": "1m", "iterations": 5, "stepWeightPromotion": 20}

    findings = check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate)))
    assert lines(findings) == []
    assert lines(findings, "warning") == [
        "c.yaml: Canary test/podinfo: spec.analysis.stepWeightPromotion: warning: not supported yet with provider"
        " kubernetes (it switches all traffic at once: promotion does too, as with Flagger)"
    ]


def test_misspelled_field_is_reported_with_a_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        obj["spec"]["analysis"]["stepWeigth"] = obj["spec"]["analysis"].pop("stepWeight")
        obj["spec"]["analysis"]["iterations"] = 5  # so the misspelling is the only problem
        obj["metadata"]["lables"] = {"app": "podinfo"}

    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))))
    assert (
        "c.yaml: Canary test/podinfo: metadata.lables: unknown field 'lables' of metadata (it would be refused, "
        "not applied); did you mean 'labels'?" in errors
    )
    assert (
        "c.yaml: Canary test/podinfo: spec.analysis.stepWeigth: unknown field 'stepWeigth' (not in the Canary "
        "schema; it would be refused, not applied); did you mean 'stepWeight'?" in errors
    )
    assert len(errors) == 2


def test_unknown_field_far_from_any_name_has_no_suggestion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(analysis(colour="blue")))))
    assert errors == [
        "c.yaml: Canary test/podinfo: spec.analysis.colour: unknown field 'colour' (not in the Canary schema; "
        "it would be refused, not applied)"
    ]


def test_schema_refuses_what_the_model_would_coerce(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pydantic would read "10" as 10; the API server refuses a string where the CRD says integer.
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(analysis(stepWeight="10")))))
    assert errors == ["c.yaml: Canary test/podinfo: spec.analysis.stepWeight: must be an integer (got '10')"]


def test_flagger_resource_points_to_convert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    flagger = canary_text().replace("canary.dev/v1beta1", "flagger.app/v1beta1")
    write(tmp_path, "c.yaml", flagger)
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["c.yaml"])
    assert lines(report.findings) == ["c.yaml: Canary test/podinfo: apiVersion: Flagger resource: run `canary convert`"]
    assert report.flagger == 1


def test_other_kinds_are_ignored_and_counted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: podinfo}\nspec: {replicas: 'x'}\n"
    write(tmp_path, "all.yaml", f"{deployment}---\n{canary_text()}---\nkind: Kustomization\n")
    monkeypatch.chdir(tmp_path)
    report = validate_paths(["."])
    assert report.findings == []
    assert report.ignored == 2
    assert report.checked == {"Canary": 1}
    assert report.summary() == "1 file, 1 object checked (1 Canary), 2 other documents ignored: 0 errors, 0 warnings"


def test_unknown_kind_in_our_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = canary_text().replace("kind: Canary", "kind: Canery")
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", text)))
    assert errors == [
        "c.yaml: Canery test/podinfo: kind: unknown kind 'Canery' in canary.dev: expected one of Canary, "
        "MetricTemplate, AlertProvider; did you mean 'Canary'?"
    ]


def test_unnamed_object_is_named_by_document_index(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        del obj["metadata"]["name"]

    write(tmp_path, "c.yaml", f"{TEMPLATE}---\n{canary_text(mutate)}")
    errors = lines(check(tmp_path, monkeypatch))
    assert errors == [
        "c.yaml: Canary (document 2): metadata.name: required field is missing (kubectl apply needs a name)"
    ]


def test_duplicate_key_is_an_error_with_both_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = canary_text().replace("    stepWeight: 10\n", "    stepWeight: 10\n    stepWeight: 20\n")
    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", text)))
    assert len(errors) == 1
    assert errors[0].startswith(
        "c.yaml: Canary test/podinfo: spec.analysis.stepWeight: written twice (lines 18 and 19)"
    )


def test_alert_provider_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    provider = """
    apiVersion: canary.dev/v1beta1
    kind: AlertProvider
    metadata:
      name: on-call
      namespace: test
    spec:
      type: slak
      channel: on-call-alerts
    """
    errors = lines(check(tmp_path, monkeypatch, ("p.yaml", provider)))
    assert len(errors) == 1
    assert errors[0].startswith("p.yaml: AlertProvider test/on-call: spec.type: must be one of")
    assert errors[0].endswith("did you mean 'slack'?")


def test_json_output_has_one_object_per_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "c.yaml", canary_text(analysis(stepWeight=0)))
    monkeypatch.chdir(tmp_path)
    assert main(["validate", "--format", "json", "c.yaml"]) == 1
    problems = json.loads(capsys.readouterr().out)
    assert problems == [
        {
            "file": "c.yaml",
            "kind": "Canary",
            "namespace": "test",
            "name": "podinfo",
            "path": "spec.analysis.stepWeight",
            "severity": "error",
            "message": "must be between 1 and 100 (got 0)",
            "document": 1,
            "line": 18,
        }
    ]


def test_metric_checks_still_run_when_another_field_is_invalid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def mutate(obj: dict[str, Any]) -> None:
        template_metric(variables={"job": "a b"})(obj)
        obj["spec"]["analysis"]["stepWeight"] = 0

    errors = lines(check(tmp_path, monkeypatch, ("c.yaml", canary_text(mutate))))
    assert [error.split(": ")[2] for error in errors] == [
        "spec.analysis.stepWeight",
        "spec.analysis.metrics[0].templateRef",
        "spec.analysis.metrics[0].templateVariables.job",
    ]


def test_alert_provider_reference_is_looked_up_among_the_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    alerts = [{"name": "on-call", "severity": "error", "providerRef": {"name": "on-call", "namespace": "flagger"}}]
    findings = check(tmp_path, monkeypatch, ("c.yaml", canary_text(analysis(alerts=alerts))))
    assert lines(findings) == []
    assert lines(findings, "warning") == [
        "c.yaml: Canary test/podinfo: spec.analysis.alerts[0].providerRef: warning: AlertProvider flagger/on-call "
        "is not among the given paths",
    ]


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("flagger-loadtester.test/", "is not an http(s) URL"),
        ("ftp://loadtester.test/", "is not an http(s) URL"),
        ("http:///gate", "names no host"),
        ("http://loadtester.test:port/", "is not a URL"),
    ],
)
def test_a_webhook_address_that_could_never_be_called_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, url: str, reason: str
) -> None:
    hooks = [{"name": "load-test", "url": url, "timeout": "5s"}]
    findings = check(tmp_path, monkeypatch, ("canary.yaml", canary_text(analysis(webhooks=hooks))))
    assert len(lines(findings)) == 1
    assert lines(findings)[0].startswith(
        f"canary.yaml: Canary test/podinfo: spec.analysis.webhooks[0].url: {url!r} {reason}"
    )
