"""The controller's /metrics and /healthz over real HTTP."""

from __future__ import annotations

import socket
from typing import Any

import httpx
from prometheus_client.exposition import generate_latest

from canary.models import CanaryCheck, JudgeStatus
from canary.operator.metrics import Recorder, serve_metrics


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def observe(recorder: Recorder, phase: str, previous: str) -> None:
    recorder.observe(
        name="podinfo", namespace="test", target="podinfo", primary="podinfo-primary", provider="istio",
        strategy="canary", phase=phase, previous_phase=previous, canary_weight=20, failed_checks=1, seconds=0.01,
        checks=[CanaryCheck(name="request-success-rate", value=99.5, min=99.0, outcome="pass", reason="ok")],
        judge=JudgeStatus.model_validate({"verdict": {"metrics": [{"name": "error-rate", "evidence": 3.5, "threshold": 200.0}]}}),
    )  # fmt: skip


async def test_metrics_and_health_are_served() -> None:
    recorder = Recorder()
    port = free_port()
    runner = await serve_metrics(recorder, port, healthy=lambda: recorder.ticking(60), host="127.0.0.1")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            assert (await client.get("/healthz")).status_code == 200  # nothing to reconcile yet
            observe(recorder, "Succeeded", "Finalising")
            text = (await client.get("/metrics")).text
            assert 'canary_status{name="podinfo",namespace="test",phase="Succeeded"} 1.0' in text
            assert 'canary_weight{namespace="test",workload="podinfo"} 20.0' in text
            assert 'canary_weight{namespace="test",workload="podinfo-primary"} 80.0' in text
            assert 'canary_metric_value{metric="request-success-rate",name="podinfo",namespace="test"} 99.5' in text
            assert 'canary_judge_evidence{metric="error-rate",name="podinfo",namespace="test"} 3.5' in text
            assert 'canary_successes_total{name="podinfo",namespace="test",strategy="canary"} 1.0' in text
            assert 'canary_failures_total{name="podinfo",namespace="test",strategy="canary"} 0.0' in text
            assert recorder.last_tick is not None
            recorder.last_tick -= 120  # ticks stopped two minutes ago: a silent watch
            assert (await client.get("/healthz")).status_code == 503
            recorder.forget("podinfo", "test")  # the last Canary is gone: silence is fine
            assert (await client.get("/healthz")).status_code == 200
            after = (await client.get("/metrics")).text
            assert "canary_status{" not in after and "canary_info{" not in after  # no phase of a deleted Canary
    finally:
        await runner.cleanup()


def test_a_hand_edited_verdict_in_status_exports_what_it_can_and_never_raises() -> None:
    recorder = Recorder()
    for judge in ({"verdict": "pass"}, {"verdict": {"metrics": "junk"}}, {"verdict": None}):
        recorder.observe(
            name="podinfo", namespace="test", target="podinfo", primary="podinfo-primary", provider="istio",
            strategy="canary", phase="Progressing", previous_phase="Progressing", canary_weight=20, failed_checks=0,
            seconds=0.01, checks=[], judge=JudgeStatus.model_validate(judge),
        )  # fmt: skip
    recorder.observe(
        name="podinfo", namespace="test", target="podinfo", primary="podinfo-primary", provider="istio",
        strategy="canary", phase="Progressing", previous_phase="Progressing", canary_weight=20, failed_checks=0,
        seconds=0.01, checks=[],
        judge=JudgeStatus.model_validate({"verdict": {"metrics": ["junk", {"name": "latency", "evidence": "lots", "threshold": "inf"},
                                       {"name": "error-rate", "evidence": 2.5, "threshold": 200.0}]}}),
    )  # fmt: skip
    assert recorder.evidence.labels("podinfo", "test", "error-rate")._value.get() == 2.5
    assert recorder.evidence_threshold.labels("podinfo", "test", "latency")._value.get() == float("inf")


def test_series_of_what_is_gone_are_removed_and_forget_removes_them_all() -> None:
    recorder = Recorder()

    def tick(target: str = "podinfo", checks: tuple[CanaryCheck, ...] = (), judge: dict[str, Any] | None = None) -> str:
        recorder.observe(
            name="podinfo", namespace="test", target=target, primary=f"{target}-primary", provider="istio",
            strategy="canary", phase="Progressing", previous_phase="Progressing", canary_weight=20, failed_checks=0,
            seconds=0.01, checks=checks, judge=JudgeStatus.model_validate(judge) if judge is not None else None,
        )  # fmt: skip
        return generate_latest(recorder.registry).decode()

    both = (
        CanaryCheck(name="request-success-rate", value=99.5, min=99.0, outcome="pass", reason="ok"),
        CanaryCheck(name="latency", value=80.0, outcome="pass", reason="ok"),
    )
    verdict = {"verdict": {"metrics": [{"name": "error-rate", "evidence": 2.0, "threshold": 200.0}]}}
    text = tick(checks=both, judge=verdict)
    assert 'metric="latency"' in text and 'canary_judge_threshold{metric="error-rate"' in text
    text = tick()  # a tick that measured nothing: the last measurements stay
    assert 'canary_metric_value{metric="latency"' in text and "canary_judge_evidence{" in text
    text = tick(checks=both[:1], judge={"verdict": {"metrics": []}})  # latency no longer checked, nothing judged
    assert 'metric="latency"' not in text and "canary_judge_evidence{" not in text
    assert 'canary_metric_value{metric="request-success-rate"' in text
    text = tick(target="web")  # the Canary now rolls out another Deployment
    assert 'workload="podinfo"' not in text and 'primary="podinfo-primary"' not in text
    assert 'canary_weight{namespace="test",workload="web"} 20.0' in text

    recorder.forget("podinfo", "test")

    controller_wide = ("#", "canary_tick_lag_seconds", "canary_controller_saturated")  # no Canary's series
    left = [line for line in generate_latest(recorder.registry).decode().splitlines()]
    assert [line for line in left if not line.startswith(controller_wide)] == []


def test_a_dry_run_check_is_exported_like_any_check() -> None:
    recorder = Recorder()
    dry = CanaryCheck(name="latency", value=700.0, max=500.0, outcome="fail", reason="r (dry run)", dryRun=True)
    recorder.observe(
        name="podinfo", namespace="test", target="podinfo", primary="podinfo-primary", provider="istio",
        strategy="canary", phase="Progressing", previous_phase="Progressing", canary_weight=20, failed_checks=0,
        seconds=0.01, checks=[dry], judge=None,
    )  # fmt: skip
    text = generate_latest(recorder.registry).decode()
    assert 'canary_metric_value{metric="latency",name="podinfo",namespace="test"} 700.0' in text
    assert 'canary_metric_threshold{bound="max",metric="latency",name="podinfo",namespace="test"} 500.0' in text
