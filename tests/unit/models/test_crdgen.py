"""The generated CRDs: checked in, structural, and carrying what kubectl users see."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from canary.models import crdgen
from tests.unit.models.conftest import REPO_ROOT, minimal_canary


def _crd(kind: str) -> dict[str, Any]:
    (crd,) = [c for c in crdgen.generate() if c["spec"]["names"]["kind"] == kind]
    return crd


def _schema(kind: str) -> dict[str, Any]:
    schema: dict[str, Any] = _crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _node(schema: dict[str, Any], path: str) -> dict[str, Any]:
    node = schema
    for part in path.split("."):
        node = node["items"]["properties"][part] if node.get("type") == "array" else node["properties"][part]
    return node


@pytest.mark.parametrize("name", crdgen.CRD_FILES)
def test_checked_in_crds_equal_the_generator_output(name: str) -> None:
    path = REPO_ROOT / "crds" / name
    expected = crdgen.rendered_files()[name]
    assert path.exists(), f"crds/{name} is missing: run `make crds`"
    assert path.read_text(encoding="utf-8") == expected, f"crds/{name} is stale: run `make crds`"


def test_write_produces_the_three_files(tmp_path: Path) -> None:
    written = crdgen.write(tmp_path / "out")
    assert [p.name for p in written] == ["canaries.yaml", "metrictemplates.yaml", "alertproviders.yaml"]
    docs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in written]
    assert docs == crdgen.generate()


@pytest.mark.parametrize("kind", ["Canary", "MetricTemplate", "AlertProvider"])
def test_schemas_are_structural(kind: str) -> None:
    assert crdgen.structural_problems(_schema(kind)) == []


def test_structural_check_catches_what_kubernetes_refuses() -> None:
    bad = {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
            "b": {"$ref": "#/x"},
            "c": {"type": "array"},
            "d": {"type": "object", "properties": {}, "additionalProperties": {"type": "string"}},
        },
    }
    assert crdgen.structural_problems(bad) == [
        ".a: uses anyOf",
        ".a: has no type",
        ".b: uses $ref",
        ".b: has no type",
        ".c: array without items",
        ".d: has both properties and additionalProperties",
    ]


@pytest.mark.parametrize(
    ("kind", "plural", "short"),
    [
        ("Canary", "canaries", ["cn"]),
        ("MetricTemplate", "metrictemplates", ["mt"]),
        ("AlertProvider", "alertproviders", ["ap"]),
    ],
)
def test_names(kind: str, plural: str, short: list[str]) -> None:
    crd = _crd(kind)
    assert crd["metadata"]["name"] == f"{plural}.canary.dev"
    names = crd["spec"]["names"]
    assert (names["plural"], names["singular"], names["listKind"]) == (plural, kind.lower(), f"{kind}List")
    assert names["shortNames"] == short
    assert names["categories"] == ["progressive-delivery"]
    # kubectl expands a category before a singular name: a clash would break `kubectl get canary NAME`.
    assert not set(names["categories"]) & {names["singular"], names["plural"], *names["shortNames"]}
    assert crd["spec"]["group"] == "canary.dev"
    assert crd["spec"]["scope"] == "Namespaced"
    assert [v["name"] for v in crd["spec"]["versions"]] == ["v1beta1"]


def test_canary_has_status_subresource_and_printer_columns() -> None:
    version = _crd("Canary")["spec"]["versions"][0]
    assert version["subresources"] == {"status": {}}
    visible = [(c["name"], c["jsonPath"]) for c in version["additionalPrinterColumns"] if not c.get("priority")]
    assert visible == [
        ("Status", ".status.phase"),
        ("Weight", ".status.canaryWeight"),
        ("FailedChecks", ".status.failedChecks"),
        ("Interval", ".spec.analysis.interval"),
        ("LastTransitionTime", ".status.lastTransitionTime"),
    ]


def test_every_printer_column_points_at_a_schema_field() -> None:
    schema = _schema("Canary")
    for column in _crd("Canary")["spec"]["versions"][0]["additionalPrinterColumns"]:
        assert _node(schema, column["jsonPath"].lstrip(".")), column


def test_int_or_string_and_free_form_fields() -> None:
    schema = _schema("Canary")
    target_port = _node(schema, "spec.service.targetPort")
    assert target_port.get("x-kubernetes-int-or-string") is True
    assert "type" not in target_port

    free: list[str] = []

    def walk(node: dict[str, Any], path: str) -> None:
        if node.get("x-kubernetes-preserve-unknown-fields"):
            free.append(path)
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{path}.{name}".lstrip("."))
        for key in ("items", "additionalProperties"):
            if isinstance(node.get(key), dict):
                walk(node[key], path)

    walk(schema, "")
    assert free == ["status.judge"]


def test_flagger_enums_and_bounds_reach_the_schema() -> None:
    schema = _schema("Canary")
    assert "istio" in _node(schema, "spec.provider")["enum"]
    assert _node(schema, "spec.targetRef.kind")["enum"] == ["DaemonSet", "Deployment", "Service"]
    assert "confirm-promotion" in _node(schema, "spec.analysis.webhooks.type")["enum"]
    assert "Progressing" in _node(schema, "status.phase")["enum"]
    step = _node(schema, "spec.analysis.stepWeight")
    assert (step["type"], step["minimum"], step["maximum"]) == ("integer", 1, 100)
    alpha = _node(schema, "spec.analysis.judge.alpha")
    assert (alpha["minimum"], alpha["exclusiveMinimum"], alpha["maximum"], alpha["exclusiveMaximum"]) == (
        0,
        True,
        0.5,
        True,
    )
    assert set(_schema("Canary")["properties"]["spec"]["required"]) == {"targetRef", "analysis"}


def test_descriptions_come_from_the_docstrings() -> None:
    schema = _schema("Canary")
    assert _node(schema, "spec.analysis.judge.dryRun")["description"] == (
        "Judge and report the verdicts, but never let them decide the rollout."
    )
    assert (
        _node(schema, "spec.analysis.stepWeight")["description"] == "Weight added to the canary at each passing tick."
    )


def test_metric_template_and_alert_provider_have_no_status() -> None:
    for kind in ("MetricTemplate", "AlertProvider"):
        version = _crd(kind)["spec"]["versions"][0]
        assert "subresources" not in version
        assert "status" not in version["schema"]["openAPIV3Schema"]["properties"]


def test_validation_schema_refuses_unknown_fields_and_bad_values() -> None:
    validator = jsonschema.Draft7Validator(crdgen.validation_schema(_crd("Canary")))
    good = minimal_canary()
    assert list(validator.iter_errors(good)) == []
    good["spec"]["service"]["targetPort"] = "http"
    assert list(validator.iter_errors(good)) == []

    misspelled = minimal_canary(stepWieght=5)
    assert [e.message for e in validator.iter_errors(misspelled)] == [
        "Additional properties are not allowed ('stepWieght' was unexpected)"
    ]
    too_far = minimal_canary(maxWeight=150)
    assert [list(e.absolute_path) for e in validator.iter_errors(too_far)] == [["spec", "analysis", "maxWeight"]]
    bad_interval = minimal_canary(interval="1 minute")
    assert [list(e.absolute_path) for e in validator.iter_errors(bad_interval)] == [["spec", "analysis", "interval"]]
    judged = minimal_canary(judge={"alpha": 0.5})
    assert [e.validator for e in validator.iter_errors(judged)] == ["exclusiveMaximum"]
