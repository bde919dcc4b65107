"""The validation errors users hit, each naming the field path, as ``describe`` renders them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import ValidationError

from canary.models import AlertProvider, Canary, CanaryStatus, MetricTemplate, describe
from canary.models.errors import field_path
from tests.unit.models.conftest import minimal_canary

Mutation = Callable[[dict[str, Any]], None]


def _analysis(**fields: Any) -> Mutation:
    return lambda obj: obj["spec"]["analysis"].update(fields)


def _metric(metric: dict[str, Any]) -> Mutation:
    return lambda obj: obj["spec"]["analysis"].setdefault("metrics", []).append(metric)


def _drop_target(obj: dict[str, Any]) -> None:
    del obj["spec"]["targetRef"]


def _drop_steps(obj: dict[str, Any]) -> None:
    del obj["spec"]["analysis"]["stepWeight"]


CASES: list[tuple[str, Mutation, list[str]]] = [
    ("missing targetRef", _drop_target, ["spec.targetRef: required field is missing"]),
    ("stepWeight 0", _analysis(stepWeight=0), ["spec.analysis.stepWeight: must be between 1 and 100 (got 0)"]),
    ("stepWeight -5", _analysis(stepWeight=-5), ["spec.analysis.stepWeight: must be between 1 and 100 (got -5)"]),
    (
        "stepWeight 101",
        _analysis(stepWeight=101),
        ["spec.analysis.stepWeight: must be between 1 and 100 (got 101)"],
    ),
    ("maxWeight 150", _analysis(maxWeight=150), ["spec.analysis.maxWeight: must be between 1 and 100 (got 150)"]),
    ("maxWeight 0", _analysis(maxWeight=0), ["spec.analysis.maxWeight: must be between 1 and 100 (got 0)"]),
    (
        "maxWeight below stepWeight",
        _analysis(stepWeight=20, maxWeight=10),
        ["spec.analysis.maxWeight: must not be less than stepWeight (20) (got 10)"],
    ),
    (
        "stepWeights not ascending",
        _analysis(stepWeights=[10, 30, 20]),
        ["spec.analysis.stepWeights: must be strictly ascending (got [10, 30, 20])"],
    ),
    (
        "stepWeights repeated",
        _analysis(stepWeights=[10, 10]),
        ["spec.analysis.stepWeights: must be strictly ascending (got [10, 10])"],
    ),
    (
        "stepWeights above 100",
        _analysis(stepWeights=[50, 120]),
        ["spec.analysis.stepWeights: every weight must be between 1 and 100 (got [50, 120])"],
    ),
    (
        "no way to progress",
        _drop_steps,
        [
            "spec.analysis.stepWeight: set one of iterations (A/B testing, blue/green), stepWeight or "
            "stepWeights (canary)"
        ],
    ),
    (
        "unknown metric",
        _metric({"name": "error-budget"}),
        [
            "spec.analysis.metrics[0].name: unknown metric 'error-budget': not a built-in metric "
            "(request-success-rate, request-duration) and has neither query nor templateRef"
        ],
    ),
    (
        "thresholdRange min > max",
        _metric({"name": "request-duration", "thresholdRange": {"min": 500, "max": 100}}),
        ["spec.analysis.metrics[0].thresholdRange.max: min (500.0) must not be greater than max (100.0)"],
    ),
    (
        "bad analysis interval",
        _analysis(interval="1 minute"),
        [
            "spec.analysis.interval: invalid duration: expected a number with a unit (ns, us, ms, s, m, h), "
            "such as '30s', '1m' or '1h30m' (got '1 minute')"
        ],
    ),
    (
        "bad metric interval",
        _metric({"name": "request-success-rate", "interval": "5"}),
        [
            "spec.analysis.metrics[0].interval: invalid duration: expected a number with a unit "
            "(ns, us, ms, s, m, h), such as '30s', '1m' or '1h30m' (got '5')"
        ],
    ),
    (
        "misspelled field",
        _analysis(stepWieght=5),
        ["spec.analysis.stepWieght: unknown field (not part of the resource's schema; check the spelling)"],
    ),
    (
        "unknown provider",
        lambda obj: obj["spec"].update(provider="envoy"),
        [
            "spec.provider: must be one of 'apisix', 'appmesh', 'appmesh:v1beta2', 'contour', 'gatewayapi:v1', "
            "'gatewayapi:v1beta1', 'gloo', 'istio', 'knative', 'kubernetes', 'kuma', 'linkerd', 'nginx', 'osm', "
            "'skipper', 'smi:v1alpha1', 'smi:v1alpha2', 'smi:v1alpha3' or 'traefik' (got 'envoy')"
        ],
    ),
    (
        "port not a number",
        lambda obj: obj["spec"]["service"].update(port="http"),
        ["spec.service.port: must be a valid integer, unable to parse string as an integer (got 'http')"],
    ),
    (
        "Flagger's apiVersion",
        lambda obj: obj.update(apiVersion="flagger.app/v1beta1"),
        [
            "apiVersion: expected canary.dev/v1beta1 (got flagger.app/v1beta1); a Flagger resource converts "
            "with `canary convert`"
        ],
    ),
    (
        "judge alpha out of range",
        _analysis(judge={"alpha": 0.5}),
        ["spec.analysis.judge.alpha: must be less than 0.5 (got 0.5)"],
    ),
    (
        "judge buckets not ascending",
        _analysis(judge={"latencyBuckets": [10, 5]}),
        ["spec.analysis.judge.latencyBuckets: must be positive and strictly ascending (got [10.0, 5.0])"],
    ),
    (
        "two string matches at once",
        _analysis(match=[{"headers": {"x-user": {"exact": "a", "prefix": "b"}}}]),
        ["spec.analysis.match[0].headers.x-user: set only one of exact, prefix, suffix, regex (got exact, prefix)"],
    ),
    (
        "two problems at once",
        _analysis(stepWeight=0, interval="x"),
        [
            "spec.analysis.interval: invalid duration: expected a number with a unit (ns, us, ms, s, m, h), "
            "such as '30s', '1m' or '1h30m' (got 'x')",
            "spec.analysis.stepWeight: must be between 1 and 100 (got 0)",
        ],
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [(m, e) for _, m, e in CASES], ids=[c[0] for c in CASES])
def test_canary_errors_name_the_field(mutate: Mutation, expected: list[str]) -> None:
    obj = minimal_canary()
    mutate(obj)
    with pytest.raises(ValidationError) as caught:
        Canary.model_validate(obj)
    assert describe(caught.value) == expected


def test_status_phase_must_be_a_flagger_phase() -> None:
    with pytest.raises(ValidationError) as caught:
        CanaryStatus.model_validate({"phase": "Rolling"})
    assert describe(caught.value) == [
        "phase: must be one of Initializing, Initialized, Waiting, Progressing, WaitingPromotion, Promoting, "
        "Finalising, Succeeded, Failed, Terminating, Terminated (got 'Rolling')"
    ]


def test_metric_template_needs_a_query_and_a_known_provider() -> None:
    with pytest.raises(ValidationError) as caught:
        MetricTemplate.model_validate(
            {"apiVersion": "canary.dev/v1beta1", "kind": "MetricTemplate", "spec": {"provider": {"type": "prom"}}}
        )
    assert describe(caught.value) == [
        "spec.provider.type: must be one of 'prometheus', 'influxdb', 'datadog', 'externalmetrics', "
        "'stackdriver', 'cloudwatch', 'newrelic', 'graphite', 'dynatrace', 'keptn' or 'splunk' (got 'prom')",
        "spec.query: required field is missing",
    ]


def test_alert_provider_needs_an_address_or_a_secret() -> None:
    with pytest.raises(ValidationError) as caught:
        AlertProvider.model_validate(
            {"apiVersion": "canary.dev/v1beta1", "kind": "AlertProvider", "spec": {"type": "slack"}}
        )
    assert describe(caught.value) == ["spec.address: set address or secretRef (the hook URL is needed)"]


@pytest.mark.parametrize(
    ("loc", "path"),
    [
        (("spec", "analysis", "metrics", 0, "name"), "spec.analysis.metrics[0].name"),
        (("spec",), "spec"),
        ((), "(object)"),
    ],
)
def test_field_path(loc: tuple[int | str, ...], path: str) -> None:
    assert field_path(loc) == path
