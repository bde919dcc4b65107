"""Converting Flagger resources to ours, with notes on what does not carry over."""

from __future__ import annotations

from typing import Any

import pytest

from canary.models import Canary, MetricTemplate
from canary.models.convert import convert_flagger
from canary.routers import PROVIDER_SUPPORT
from tests.unit.models.conftest import load_manifest


def test_a_supported_canary_converts_by_changing_the_api_version() -> None:
    flagger = load_manifest("027-canary-podinfo--docs-gitbook-tutorials-prometheus-operator-md.yaml")
    converted, notes = convert_flagger(flagger, PROVIDER_SUPPORT)
    assert converted["apiVersion"] == "canary.dev/v1beta1"
    assert {k: v for k, v in converted.items() if k != "apiVersion"} == {
        k: v for k, v in flagger.items() if k != "apiVersion"
    }
    assert flagger["apiVersion"] == "flagger.app/v1beta1", "the input is left untouched"
    assert notes == []  # its webhooks are called as in Flagger: nothing is left behind
    assert Canary.model_validate(converted).spec.provider == "kubernetes"


def test_a_complete_template_has_no_notes() -> None:
    converted, notes = convert_flagger(
        load_manifest("021-metrictemplate-success-rate--docs-gitbook-tutorials-linkerd-progressive-delivery-md.yaml"),
        PROVIDER_SUPPORT,
    )
    assert notes == []
    assert MetricTemplate.model_validate(converted).spec.provider.type == "prometheus"


def test_refused_parts_are_noted() -> None:
    _, notes = convert_flagger(
        load_manifest("024-canary-podinfo--docs-gitbook-tutorials-nginx-progressive-delivery-md.yaml"),
        PROVIDER_SUPPORT,
    )
    assert notes[0].startswith("refused: spec.provider nginx is not supported")
    assert "not yet: spec.ingressRef is not supported yet (ingress controller routing is not built)" in notes


def test_invalid_objects_are_returned_with_the_errors() -> None:
    converted, notes = convert_flagger(load_manifest("007-canary-podinfo--docs-gitbook-faq-md.yaml"), PROVIDER_SUPPORT)
    assert converted["apiVersion"] == "canary.dev/v1beta1"
    assert notes == ["invalid: spec.analysis: required field is missing"]


def test_old_canary_analysis_status_and_server_metadata() -> None:
    old: dict[str, Any] = {
        "apiVersion": "flagger.app/v1alpha3",
        "kind": "Canary",
        "metadata": {"name": "web", "namespace": "prod", "uid": "1", "resourceVersion": "9", "labels": {"a": "b"}},
        "spec": {
            "provider": "istio",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "service": {"port": 80},
            "canaryAnalysis": {"interval": "1m", "threshold": 5, "stepWeight": 10},
        },
        "status": {"phase": "Succeeded", "canaryWeight": 0},
    }
    converted, notes = convert_flagger(old, PROVIDER_SUPPORT)
    assert notes == [
        "apiVersion: converted from flagger.app/v1alpha3; fields were checked against v1beta1",
        "status: Flagger's status is not carried over; the controller starts a new one",
        "spec.canaryAnalysis: renamed to spec.analysis",
    ]
    assert converted["metadata"] == {"name": "web", "namespace": "prod", "labels": {"a": "b"}}
    assert "status" not in converted
    assert Canary.model_validate(converted).step_weights()[:2] == [10, 20]


@pytest.mark.parametrize(
    "obj",
    [
        {"apiVersion": "apps/v1", "kind": "Deployment"},
        {"apiVersion": "flagger.app/v1beta1", "kind": "Rollout"},
        {"kind": "Canary"},
    ],
)
def test_non_flagger_objects_are_refused(obj: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not a Flagger resource"):
        convert_flagger(obj)
