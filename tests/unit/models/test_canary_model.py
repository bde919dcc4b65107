"""The Canary model: Flagger's field names and defaults, helper methods, our additions."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from canary.models import (
    API_GROUP,
    API_VERSION,
    Canary,
    CanaryJudge,
    CanaryMetric,
    CanaryStatus,
    CanaryWebhook,
)
from tests.unit.models.conftest import minimal_canary


def canary(**analysis: Any) -> Canary:
    return Canary.model_validate(minimal_canary(**analysis))


def test_api_group_and_version() -> None:
    assert (API_GROUP, API_VERSION) == ("canary.dev", "v1beta1")
    assert canary().apiVersion == "canary.dev/v1beta1"


def test_flagger_defaults_apply_when_fields_are_absent() -> None:
    c = canary()
    assert c.analysis_interval_seconds() == 60.0
    assert c.threshold() == 1
    assert c.max_weight() == 100
    assert c.progress_deadline_seconds() == 600
    assert c.iterations() == 0
    assert c.skip_analysis() is False


def test_analysis_interval_is_parsed_and_floored_at_ten_seconds() -> None:
    assert canary(interval="1m30s").analysis_interval_seconds() == 90.0
    assert canary(interval="2s").analysis_interval_seconds() == 10.0
    assert canary(interval="2s").analysis_interval_seconds(floor=1.0) == 2.0
    assert canary(interval="500ms").analysis_interval_seconds(floor=1.0) == 1.0


def test_threshold_zero_means_one_as_in_flagger() -> None:
    assert canary(threshold=0).threshold() == 1
    assert canary(threshold=5).threshold() == 5


def test_progress_deadline_is_read_from_the_spec() -> None:
    obj = minimal_canary()
    obj["spec"]["progressDeadlineSeconds"] = 60
    assert Canary.model_validate(obj).progress_deadline_seconds() == 60


@pytest.mark.parametrize(
    ("analysis", "steps", "top"),
    [
        ({"stepWeight": 10}, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100], 100),
        ({"stepWeight": 5, "maxWeight": 20}, [5, 10, 15, 20], 20),
        # The last step is capped at maxWeight, as Flagger caps the weight.
        ({"stepWeight": 30, "maxWeight": 50}, [30, 50], 50),
        ({"stepWeight": 50, "maxWeight": 50}, [50], 50),
        # Explicit steps win over stepWeight/maxWeight.
        ({"stepWeight": 10, "maxWeight": 90, "stepWeights": [1, 5, 25, 60]}, [1, 5, 25, 60], 60),
        ({"stepWeight": None, "iterations": 10}, [], 100),
    ],
)
def test_step_weights(analysis: dict[str, Any], steps: list[int], top: int) -> None:
    c = canary(**analysis)
    assert c.step_weights() == steps
    assert c.max_weight() == top


@pytest.mark.parametrize(
    ("analysis", "strategy"),
    [
        ({"stepWeight": 10}, "canary"),
        ({"stepWeight": None, "stepWeights": [10, 50]}, "canary"),
        ({"stepWeight": None, "iterations": 5}, "blue-green"),
        ({"stepWeight": None, "iterations": 5, "match": [{"headers": {"x-canary": {"exact": "1"}}}]}, "ab-testing"),
    ],
)
def test_strategy(analysis: dict[str, Any], strategy: str) -> None:
    assert canary(**analysis).strategy() == strategy


def test_the_primary_is_named_after_the_target_not_the_service() -> None:
    obj = minimal_canary()
    obj["spec"]["service"]["name"] = "web"
    named = Canary.model_validate(obj)
    assert named.primary_deployment_name() == "podinfo-primary"


def test_metric_bounds_read_the_deprecated_threshold_as_flagger_does() -> None:
    success = CanaryMetric(name="request-success-rate", threshold=99)
    duration = CanaryMetric(name="request-duration", threshold=500)
    ranged = CanaryMetric.model_validate({"name": "request-duration", "thresholdRange": {"min": 1, "max": 2}})
    assert success.bounds() == (99, None)
    assert duration.bounds() == (None, 500)
    assert ranged.bounds() == (1, 2)


def test_metric_kind_and_interval_default() -> None:
    builtin = CanaryMetric(name="request-success-rate")
    query = CanaryMetric(name="errors", query="sum(x)")
    template = CanaryMetric.model_validate({"name": "latency", "templateRef": {"name": "latency"}, "interval": "30s"})
    assert [builtin.kind(), query.kind(), template.kind()] == ["builtin", "query", "template"]
    assert builtin.interval_or_default() == "1m"
    assert template.interval_or_default() == "30s"


def test_webhook_defaults() -> None:
    hook = CanaryWebhook(name="load", url="http://tester/")
    assert hook.hook_type() == "rollout"
    assert hook.timeout_seconds() == 10.0
    gate = CanaryWebhook.model_validate(
        {"name": "gate", "url": "http://g/", "type": "confirm-rollout", "timeout": "1m"}
    )
    assert gate.hook_type() == "confirm-rollout"
    assert gate.timeout_seconds() == 60.0


@pytest.mark.parametrize("timeout", ["0s", "0m"])
def test_a_webhook_timeout_of_no_time_is_read_as_the_default(timeout: str) -> None:
    # Flagger's CRD admits it and its Go client reads it as "no timeout": neither refused nor an instant failure
    hook = CanaryWebhook.model_validate({"name": "gate", "url": "http://g/", "timeout": timeout})
    assert hook.timeout_seconds() == 10.0


def test_judge_block_turns_the_judge_on_with_documented_defaults() -> None:
    assert canary().spec.analysis.judge is None
    judge = canary(judge={}).spec.analysis.judge
    assert judge == CanaryJudge()
    assert judge is not None
    assert (judge.alpha, judge.dryRun, judge.promoteOnPass) == (0.01, False, False)
    assert (judge.errorRate.enabled, judge.errorRate.tolerance) == (True, 0.1)
    assert (judge.latency.enabled, judge.latency.tolerance, judge.latency.quantile) == (True, 10.0, 0.99)
    assert judge.latencyBuckets is None


def test_a_judge_with_nothing_to_compare_is_refused_naming_the_block() -> None:
    with pytest.raises(ValidationError) as caught:
        canary(judge={"errorRate": {"enabled": False}, "latency": {"enabled": False}})
    assert "the judge compares nothing" in str(caught.value)
    assert caught.value.errors()[0]["loc"] == ("spec", "analysis", "judge")
    # a template pair compares error rates whatever the mesh blocks say
    templates = {"requests": {"name": "r"}, "errors": {"name": "e"}}
    assert canary(judge={"errorRate": {"enabled": False}, "latency": {"enabled": False}, "templates": templates})


def test_judge_fields_use_their_json_names() -> None:
    c = canary(judge={"alpha": 0.05, "dryRun": True, "latency": {"quantile": 0.95}, "latencyBuckets": [5, 10, 50]})
    dumped = c.model_dump(mode="json", exclude_none=True)["spec"]["analysis"]["judge"]
    assert dumped["alpha"] == 0.05
    assert dumped["dryRun"] is True
    assert dumped["latency"] == {"enabled": True, "tolerance": 10.0, "quantile": 0.95, "jitter": 3.5}
    assert dumped["latencyBuckets"] == [5.0, 10.0, 50.0]


def test_dump_is_flagger_shaped_and_round_trips(istio_canary: dict[str, Any]) -> None:
    c = Canary.model_validate(istio_canary)
    dumped = c.model_dump(mode="json", exclude_none=True)
    assert dumped["spec"]["targetRef"] == istio_canary["spec"]["targetRef"]
    assert dumped["spec"]["analysis"]["stepWeight"] == 5
    assert dumped["spec"]["service"]["trafficPolicy"] == {"tls": {"mode": "DISABLE"}}
    assert dumped["spec"]["service"]["match"] == [{"uri": {"prefix": "/"}}]
    assert Canary.model_validate(dumped) == c


def test_python_keyword_fields_dump_under_their_json_name() -> None:
    obj = minimal_canary()
    obj["spec"]["service"]["trafficPolicy"] = {
        "loadBalancer": {"localityLbSetting": {"failover": [{"from": "us-east", "to": "us-west"}]}}
    }
    dumped = Canary.model_validate(obj).model_dump(mode="json", exclude_none=True)
    failover = dumped["spec"]["service"]["trafficPolicy"]["loadBalancer"]["localityLbSetting"]["failover"]
    assert failover == [{"from": "us-east", "to": "us-west"}]


def test_status_carries_flagger_fields_and_ours() -> None:
    status = CanaryStatus.model_validate(
        {
            "phase": "Progressing",
            "canaryWeight": 20,
            "failedChecks": 1,
            "iterations": 3,
            "lastAppliedSpec": "abc",
            "lastTransitionTime": "2026-01-02T03:04:05Z",
            "conditions": [{"type": "Promoted", "status": "Unknown", "reason": "Progressing"}],
            "checks": [
                {
                    "name": "request-success-rate",
                    "value": 97.2,
                    "min": 99,
                    "unit": "%",
                    "outcome": "fail",
                    "reason": "request-success-rate 97.2 % < 99 %",
                },
                {"name": "request-duration", "value": None, "outcome": "error", "reason": "no data"},
            ],
            "message": "advanced to 20 %",
            "observedGeneration": 4,
            "judge": {"anything": {"the": ["judge", "keeps"]}},
        }
    )
    assert status.condition("Promoted") is not None
    assert status.condition("Missing") is None
    dumped = status.model_dump(mode="json", exclude_none=True)
    assert dumped["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert dumped["checks"][1] == {"name": "request-duration", "outcome": "error", "reason": "no data"}
    assert dumped["judge"] == {"anything": {"the": ["judge", "keeps"]}}


def test_a_new_canary_has_an_empty_status() -> None:
    status = canary().status
    assert (status.phase, status.canaryWeight, status.failedChecks, status.conditions) == (None, 0, 0, [])


def test_metadata_keeps_server_fields() -> None:
    obj = minimal_canary()
    obj["metadata"].update({"uid": "u-1", "managedFields": [{"manager": "kubectl"}], "generation": 2})
    c = Canary.model_validate(obj)
    assert (c.name, c.namespace, c.metadata.uid, c.metadata.generation) == ("podinfo", "test", "u-1", 2)
    assert c.model_dump(mode="json")["metadata"]["managedFields"] == [{"manager": "kubectl"}]


def test_from_kube_tolerates_foreign_status_keys_but_not_spec_mistakes() -> None:
    obj = minimal_canary()
    obj["status"] = {"phase": "Progressing", "canaryWeight": 30, "kopf": {"progress": {}}, "handler": "done"}
    c = Canary.from_kube(obj)
    assert (c.status.phase, c.status.canaryWeight) == ("Progressing", 30)
    with pytest.raises(ValidationError):
        Canary.model_validate(obj)
    obj["spec"]["analysis"]["stepWeight"] = 0
    with pytest.raises(ValidationError):
        Canary.from_kube(obj)
