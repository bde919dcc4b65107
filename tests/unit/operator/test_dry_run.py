"""A metric's ``dryRun``: measured and shown like any check, never a failed check."""

from __future__ import annotations

from typing import Any

from canary.kube.api import EVENTS
from canary.models import CanaryCheck, CanaryMetric
from canary.operator.checks import _metric_record, core_check
from canary.operator.reconcile import ReconcilerSettings
from canary.providers.base import Measurement
from tests.unit.operator.harness import NS, Harness, canary_body

LATENCY = {"name": "latency", "query": "latency_ms", "thresholdRange": {"max": 500}}


class FixedProvider:
    """A metrics backend answering every query with one value."""

    def __init__(self, value: float) -> None:
        self.value = value

    async def query(self, promql: str, *, at: float | None = None) -> float:
        return self.value

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        return {}

    async def check_online(self) -> None:
        return None


def test_a_dry_run_metric_is_marked_on_its_record_and_for_the_core() -> None:
    metric = CanaryMetric.model_validate({**LATENCY, "dryRun": True})
    record = _metric_record(metric, Measurement(name="latency", value=700.0))
    assert (record.outcome, record.dryRun) == ("fail", True)
    assert record.reason.endswith("(dry run)")
    check = core_check(record)
    assert (check.ok, check.dry_run) == (False, True)
    plain = _metric_record(CanaryMetric.model_validate(LATENCY), Measurement(name="latency", value=700.0))
    assert plain.dryRun is None and not core_check(plain).dry_run


def test_an_unreadable_dry_run_metric_is_an_errored_dry_run_check() -> None:
    metric = CanaryMetric.model_validate({**LATENCY, "dryRun": True})
    record = _metric_record(metric, Measurement(name="latency", value=None))
    assert (record.outcome, record.dryRun) == ("error", True)


async def test_a_rollout_with_a_failing_dry_run_metric_promotes_and_shows_the_check() -> None:
    def provider(*args: Any, **kwargs: Any) -> FixedProvider:
        return FixedProvider(700.0)

    settings = ReconcilerSettings(
        min_interval=1.0, prometheus_url="http://prometheus:9090", metric_providers={"prometheus": provider}
    )
    h = Harness(canary_body(metrics=[{**LATENCY, "dryRun": True}]), settings)
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    seen: list[dict[str, Any]] = []
    for _ in range(10):
        status = await h.tick()
        seen += status.get("checks") or []
        if status["phase"] == "Succeeded":
            break
    assert status["phase"] == "Succeeded"
    assert status["failedChecks"] == 0
    assert seen and all(c["dryRun"] is True and c["outcome"] == "fail" for c in seen)
    assert CanaryCheck.model_validate(seen[0]).dryRun is True
    messages = [e["message"] for e in await h.api.list(EVENTS, NS)]
    assert any("latency 700" in m and "(dry run)" in m for m in messages), messages
