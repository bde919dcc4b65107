"""Compatibility corpus: Flagger's 42 published manifests, with apiVersion rewritten to ours.

Each one either validates against our generated CRD schema and loads into the
models, or is refused with a message naming the part we do not support. The
table below states the exact expectation for every file, so a change in
behaviour fails here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import jsonschema
import pytest
from pydantic import BaseModel, ValidationError

from canary.models import AlertProvider, Canary, MetricTemplate, describe
from canary.models.crdgen import generate, validation_schema
from canary.routers import refusals, unsupported
from tests.unit.models.conftest import MANIFESTS_DIR, load_manifest, ours

MODELS: dict[str, type[BaseModel]] = {
    "Canary": Canary,
    "MetricTemplate": MetricTemplate,
    "AlertProvider": AlertProvider,
}
SCHEMAS = {crd["spec"]["names"]["kind"]: validation_schema(crd) for crd in generate()}


@dataclass(frozen=True)
class Expect:
    """What happens to one manifest."""

    refused: tuple[str, ...] = ()
    """Paths of the parts we refuse (empty: accepted)."""
    invalid: tuple[str, ...] = ()
    """describe() lines when the manifest does not validate at all (a fragment or a broken example)."""
    schema_errors: tuple[str, ...] = field(default=())
    """``path: message`` of the CRD schema errors (empty: the schema accepts it)."""


OK = Expect()
BUILTINS = ("spec.analysis.metrics[0].name", "spec.analysis.metrics[1].name")
NO_ANALYSIS = ("spec.analysis: required field is missing",)
FRAGMENT = ("spec.targetRef: required field is missing", "spec.analysis: required field is missing")
NO_QUERY = ("spec.query: required field is missing",)

EXPECTED: dict[str, Expect] = {
    "001": OK,  # Istio A/B testing
    "002": OK,  # Istio canary
    "003": OK,  # Kuma example without spec.provider: the controller's default mesh routes it
    "004": OK,  # Linkerd, stepWeights
    "005": OK,  # Linkerd canary
    "006": OK,  # Prometheus MetricTemplate
    "007": Expect(invalid=NO_ANALYSIS, schema_errors=("spec: 'analysis' is a required property",)),  # FAQ fragment
    "008": Expect(
        invalid=FRAGMENT,
        schema_errors=("spec: 'targetRef' is a required property", "spec: 'analysis' is a required property"),
    ),
    "009": Expect(refused=("spec.provider",)),  # APISIX
    "010": OK,  # Contour tutorial without spec.provider
    "011": OK,
    "012": OK,
    "013": OK,  # Gateway API tutorial (gatewayRefs, templateRef metrics)
    "014": Expect(refused=("spec.provider",)),  # Gloo
    "015": OK,  # Istio A/B testing tutorial
    "016": OK,  # Istio tutorial
    "017": Expect(refused=BUILTINS),  # kubernetes blue/green with KEDA and built-in metrics: no mesh metrics
    "018": Expect(refused=("spec.provider", "spec.targetRef.kind", "spec.service")),  # Knative Service
    "019": Expect(refused=BUILTINS),  # kubernetes blue/green with built-in metrics
    "020": OK,  # Kuma tutorial without spec.provider
    "021": OK,
    "022": OK,
    "023": OK,  # Linkerd via Gateway API refs, templated metrics
    "024": Expect(refused=("spec.provider",)),  # NGINX
    "025": OK,
    "026": OK,
    "027": OK,  # kubernetes blue/green with MetricTemplates
    "028": Expect(refused=("spec.provider",)),  # Skipper
    "029": Expect(refused=("spec.provider",)),  # Traefik
    "030": Expect(
        invalid=FRAGMENT,
        schema_errors=("spec: 'targetRef' is a required property", "spec: 'analysis' is a required property"),
    ),
    "031": OK,  # Slack AlertProvider
    "032": OK,  # how-it-works example without spec.provider
    "033": Expect(  # the docs' field list with null placeholders (the API server prunes nulls)
        invalid=(
            "spec.provider.type: must be one of 'prometheus', 'influxdb', 'datadog', 'externalmetrics', "
            "'stackdriver', 'cloudwatch', 'newrelic', 'graphite', 'dynatrace', 'keptn' or 'splunk' (got null)",
            "spec.provider.secretRef.name: must be a valid string (got null)",
            "spec.provider.insecureSkipVerify: must be a valid boolean (got null)",
            "spec.query: must be a valid string (got null)",
        ),
        schema_errors=(
            "spec.provider.secretRef: 'name' is a required property",
            "spec.provider: 'type' is a required property",
            "spec: 'query' is a required property",
        ),
    ),
    "034": OK,
    "035": OK,
    "036": OK,
    "037": Expect(invalid=NO_QUERY, schema_errors=("spec: 'query' is a required property",)),  # secretRef snippet
    "038": Expect(refused=("spec.provider.type",)),  # Datadog
    "039": Expect(  # the docs label this CloudWatch example flagger.app/v1alpha1: not rewritten, so not ours
        invalid=(
            "apiVersion: expected canary.dev/v1beta1 (got flagger.app/v1alpha1); a Flagger resource converts "
            "with `canary convert`",
        ),
    ),
    "040": Expect(refused=("spec.provider.type",)),  # New Relic
    "041": Expect(refused=("spec.provider.type",)),  # Graphite
    "042": Expect(invalid=NO_QUERY, schema_errors=("spec: 'query' is a required property",)),  # Graphite auth snippet
}

FILES = sorted(path.name for path in MANIFESTS_DIR.glob("*.yaml"))


def _prune_nulls(value: Any) -> Any:
    """Drop null fields, as the API server does before validating against a structural schema."""
    if isinstance(value, dict):
        return {key: _prune_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_prune_nulls(item) for item in value]
    return value


def test_the_table_covers_all_42_manifests() -> None:
    assert len(FILES) == 42
    assert sorted(name[:3] for name in FILES) == sorted(EXPECTED)


@pytest.mark.parametrize("name", FILES)
def test_manifest(name: str) -> None:
    expect = EXPECTED[name[:3]]
    obj = ours(load_manifest(name))
    kind = obj["kind"]

    validator = jsonschema.Draft7Validator(SCHEMAS[kind])
    schema_errors = [
        f"{'.'.join(str(p) for p in error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(_prune_nulls(obj))
    ]
    assert tuple(schema_errors) == expect.schema_errors

    try:
        model = MODELS[kind].model_validate(obj)
    except ValidationError as error:
        assert tuple(describe(error)) == expect.invalid
        assert expect.invalid, f"{name} was expected to load"
        return
    assert not expect.invalid, f"{name} was expected not to validate"
    assert isinstance(model, Canary | MetricTemplate | AlertProvider)

    refused = refusals(model)
    assert tuple(problem.path for problem in refused) == expect.refused
    for problem in refused:
        assert problem.message.startswith(problem.path)
        assert "not supported" in problem.message or "not available" in problem.message or "required" in problem.message
    for problem in unsupported(model):
        if problem.severity == "not-yet":
            assert problem.message.startswith(f"{problem.path} is not supported yet")

    # What loads dumps back to a Flagger-shaped object that loads to the same model.
    dumped = model.model_dump(mode="json", exclude_none=True)
    assert MODELS[kind].model_validate(dumped) == model
    assert list(validator.iter_errors(dumped)) == []
