"""What the query path would refuse, the controller refuses before any traffic moves (canary.admission).

And the refusal is written the way ``kubectl wait --for=condition=Valid=false``
and Flux read it: for the generation it describes.
"""

from __future__ import annotations

from typing import Any

import pytest

from canary.kube.api import CANARIES, DEPLOYMENTS, EVENTS, METRIC_TEMPLATES
from tests.unit.operator.harness import NS, Harness, canary_body

TEMPLATE: dict[str, Any] = {
    "apiVersion": "canary.dev/v1beta1",
    "kind": "MetricTemplate",
    "metadata": {"name": "errors", "namespace": NS},
    "spec": {
        "provider": {"type": "prometheus", "address": "http://prometheus:9090"},
        "query": 'sum(rate(http_requests_total{namespace="{{ namespace }}", code=~"{{ variables.codes }}"}[1m]))',
    },
}


def with_metric(**fields: Any) -> dict[str, Any]:
    metric = {"name": "errors", "templateRef": {"name": "errors"}, "thresholdRange": {"max": 1}, "interval": "1m"}
    return canary_body(metrics=[{**metric, **fields}])


def valid_condition(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "Valid")


async def warnings(h: Harness) -> list[str]:
    return [e["message"] for e in await h.api.list(EVENTS, NS) if e["type"] == "Warning"]


async def edit_spec(h: Harness, spec: dict[str, Any], generation: int) -> None:
    """An edit as the API server records it: the spec changes and the generation moves on."""
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"generation": generation}, "spec": spec})


async def assert_nothing_moved(h: Harness) -> None:
    assert await h.api.get(DEPLOYMENTS, NS, "podinfo-primary") is None
    assert h.router.calls == []


async def test_a_variable_that_would_inject_promql_is_refused_before_traffic_moves() -> None:
    h = Harness(with_metric(templateVariables={"codes": '5.."} or vector(1) or {a="'}))
    await h.api.create(METRIC_TEMPLATES, NS, TEMPLATE)
    await h.setup()
    status = await h.tick()
    await h.tick()  # refused again: the same Event is not repeated
    valid = valid_condition(status)
    assert (valid["status"], valid["reason"]) == ("False", "InvalidSpec")
    assert valid["message"].startswith(
        "spec.analysis.metrics[0].templateVariables.codes: refused, it could inject PromQL"
    )
    assert await warnings(h) == [valid["message"]]
    await assert_nothing_moved(h)

    await edit_spec(
        h, {"analysis": {"metrics": with_metric(templateVariables={"codes": "5.."})["spec"]["analysis"]["metrics"]}}, 2
    )
    status = await h.tick()
    assert valid_condition(status)["status"] == "True"
    assert status["phase"] == "Initializing"
    assert await h.api.get(DEPLOYMENTS, NS, "podinfo-primary") is not None


async def test_a_missing_template_refuses_the_canary_until_it_exists() -> None:
    h = Harness(with_metric(templateVariables={"codes": "5.."}))
    await h.setup()
    valid = valid_condition(await h.tick())
    assert valid["status"] == "False"
    assert valid["message"] == (
        "spec.analysis.metrics[0].templateRef: MetricTemplate test/errors was not found"
        " (namespace from the Canary's namespace)"
    )
    await assert_nothing_moved(h)
    await h.api.create(METRIC_TEMPLATES, NS, TEMPLATE)  # applied second by GitOps: no spec change needed
    status = await h.tick()
    assert valid_condition(status)["status"] == "True"
    assert status["phase"] == "Initializing"


async def test_a_template_that_does_not_validate_is_named_on_the_canary() -> None:
    h = Harness(with_metric(templateVariables={"codes": "5.."}))
    broken = {**TEMPLATE, "spec": {**TEMPLATE["spec"], "provider": {"type": "prometheus", "address": 42}}}
    await h.api.create(METRIC_TEMPLATES, NS, broken)
    await h.setup()
    valid = valid_condition(await h.tick())
    assert valid["status"] == "False"
    assert valid["message"].startswith("spec.analysis.metrics[0].templateRef: MetricTemplate test/errors is invalid")
    await assert_nothing_moved(h)


@pytest.mark.parametrize("url", ["loadtester.test/", "http:///gate"])
async def test_a_webhook_that_could_never_be_called_is_refused(url: str) -> None:
    h = Harness(canary_body(webhooks=[{"name": "load", "url": url}]))
    await h.setup()
    valid = valid_condition(await h.tick())
    assert valid["status"] == "False"
    assert valid["message"].startswith(f"spec.analysis.webhooks[0].url: {url!r}")
    await assert_nothing_moved(h)
