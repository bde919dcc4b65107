"""The rollout loop end to end on the testbed, for both meshes.

kopf + the emulated API server over HTTP + the real Prometheus scraping the
simulated mesh + the controller in its own process. One testbed per mesh runs
several Canaries at once, as a controller does in a cluster:

- ``podinfo``: a healthy new revision, with the controller killed mid-rollout
  and restarted: it must still walk every weight step and succeed;
- ``backend``: a new revision failing 10 % of requests: rolled back, traffic
  100 % on the primary within one interval of the decision;
- four invalid Canaries: a status condition and an Event each, while the
  valid ones keep being served;
- then Prometheus is stopped during a further rollout of ``podinfo``: no
  promotion while it is down.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from canary.kube.api import DEPLOYMENTS, EVENTS, ApiError, JsonDict
from canary_testbed.demo import demo_canary
from canary_testbed.testbed import Testbed

pytestmark = [pytest.mark.testbed]

INTERVAL = 2.0  # analysis.interval of the test Canaries, seconds

# Invalid Canaries: the CRD schema refuses what it can express at admission (HTTP 422
# naming the field, as a real API server does); what only the models can see reaches the
# controller, which must answer with a status condition and an Event and keep serving the rest.
REFUSED_AT_ADMISSION: dict[str, tuple[str, object]] = {
    "no-target": ("spec.targetRef", None),
    "step-zero": ("spec.analysis.stepWeight", 0),
    "max-150": ("spec.analysis.maxWeight", 150),
}
INVALID: dict[str, tuple[str, object]] = {
    # name -> (JSON path to break, new value); the condition must name the field
    "unknown-metric": ("spec.analysis.metrics", [{"name": "cpu-usage", "thresholdRange": {"max": 80}}]),
    "max-below-step": ("spec.analysis.maxWeight", 5),
    "steps-descending": ("spec.analysis.stepWeights", [50, 20]),
}


def _canary(provider: str, name: str) -> JsonDict:
    manifest = demo_canary(provider, name=name, interval=f"{INTERVAL:g}s", deadline=30)
    # three failed checks in a row: at 10 canary requests a second, one error of the healthy canary's
    # 0.1 % in a short window already reads as a success rate under 99 %, and two in a row happen
    manifest["spec"]["analysis"]["threshold"] = 3
    manifest["spec"]["analysis"]["judge"] = {"alpha": 0.01, "dryRun": True}
    return manifest


def _broken(provider: str, name: str, path: str, value: object) -> JsonDict:
    manifest = _canary(provider, name)
    node = manifest
    *parents, leaf = path.split(".")
    for key in parents:
        node = node[key]
    if value is None:
        del node[leaf]
    else:
        node[leaf] = value
    return manifest


@pytest_asyncio.fixture(params=["istio", "linkerd"], scope="module", loop_scope="module")
async def bed(request: pytest.FixtureRequest) -> AsyncIterator[Testbed]:
    async with Testbed(provider=request.param, namespace="test", tick=0.5, min_interval=1.0, rps=100) as testbed:
        yield testbed


def _monotone_until_promotion(samples: list[int]) -> bool:
    """Weights rise (or hold) until the last step, then drop to 0 once at promotion."""
    if 0 in samples[1:]:
        top = samples.index(max(samples))
        rising, after = samples[: top + 1], samples[top + 1 :]
        return (
            rising == sorted(rising)
            and all(w in (max(samples), 0) for w in after)
            and after == sorted(after, reverse=True)
        )
    return samples == sorted(samples)


@pytest.mark.asyncio(loop_scope="module")
async def test_rollouts_survive_a_controller_restart_and_bad_input(bed: Testbed) -> None:
    assert bed.api is not None
    await bed.add_app("podinfo")
    await bed.add_app("backend")
    for name in INVALID:
        await bed.add_app(name)
    await bed.apply_canary(_canary(bed.provider, "podinfo"))
    await bed.apply_canary(_canary(bed.provider, "backend"))
    for name, (path, value) in REFUSED_AT_ADMISSION.items():
        with pytest.raises(ApiError) as refused:
            await bed.apply_canary(_broken(bed.provider, name, path, value))
        assert refused.value.status == 422
        assert path.split(".")[-1] in refused.value.message, refused.value.message
    for name, (path, value) in INVALID.items():
        await bed.apply_canary(_broken(bed.provider, name, path, value))
    bed.start_controller()

    await bed.wait_phase("podinfo", {"Initialized"}, timeout=40)
    await bed.wait_phase("backend", {"Initialized"}, timeout=40)
    assert await bed.routes("podinfo") == await bed.routes("backend")
    assert (await bed.routes("podinfo")).primary == 100

    # Invalid Canaries: a Valid=False condition naming the field, and an Event; no crash.
    events = await bed.api.list(EVENTS, bed.namespace)
    for name, (path, _) in INVALID.items():
        status = (await bed.canary(name)).get("status") or {}
        valid = next(c for c in status.get("conditions", []) if c["type"] == "Valid")
        assert valid["status"] == "False", name
        assert path in valid["message"], valid
        assert any(e["involvedObject"]["name"] == name and e["type"] == "Warning" for e in events), name

    await bed.new_revision("podinfo", image="podinfo:6.0.1", behaviour="healthy")
    await bed.new_revision("backend", image="backend:2.0.0", behaviour="errors")

    # Kill the controller mid-rollout (SIGKILL, as a node failure would) and start a new one.
    async def mid_rollout() -> bool:
        return (await bed.routes("podinfo")).canary >= 20

    await bed.wait_for("podinfo at 20 % or more", mid_rollout, timeout=60, poll=0.1)
    bed.stop_process("controller", kill=True)
    frozen = (await bed.canary("podinfo"))["status"]["canaryWeight"]
    await asyncio.sleep(2 * INTERVAL)
    assert (await bed.canary("podinfo"))["status"]["canaryWeight"] == frozen  # nobody moved it meanwhile
    bed.start_controller()

    failed = await bed.wait_phase("backend", {"Failed", "Succeeded"}, timeout=90)
    assert failed["status"]["phase"] == "Failed", failed["status"]
    assert "request-success-rate" in failed["status"]["message"]

    async def all_on_primary() -> bool:
        return (await bed.routes("backend")).canary == 0

    # Within one interval of the decision (plus a second for the simulator's poll of the routing object).
    await bed.wait_for("backend traffic back on the primary", all_on_primary, timeout=INTERVAL + 1, poll=0.1)

    done = await bed.wait_phase("podinfo", {"Succeeded", "Failed"}, timeout=120)
    assert done["status"]["phase"] == "Succeeded", (done["status"].get("message"), done["status"].get("checks"))
    assert done["status"]["lastPromotedSpec"] == done["status"]["lastAppliedSpec"]
    promoted = next(c for c in done["status"]["conditions"] if c["type"] == "Promoted")
    assert (promoted["status"], promoted["reason"]) == ("True", "Succeeded")
    assert (await bed.routes("podinfo")).primary == 100

    samples = [s.canary for s in bed.weights if s.app == "podinfo"]
    assert _monotone_until_promotion(samples), samples
    assert {10, 20, 30, 40, 50} <= set(samples), f"every step must carry traffic: {sorted(set(samples))}"

    # Each decision is an Event with its reason and the measured values.
    messages = [
        e["message"] for e in await bed.api.list(EVENTS, bed.namespace) if e["involvedObject"]["name"] == "backend"
    ]
    assert any("request-success-rate" in m and "%" in m for m in messages), messages
    # The primary now runs the promoted template, and the target is scaled to zero.
    primary = await bed.api.get(DEPLOYMENTS, bed.namespace, "podinfo-primary")
    target = await bed.api.get(DEPLOYMENTS, bed.namespace, "podinfo")
    assert primary is not None and target is not None
    assert primary["spec"]["template"]["spec"] == target["spec"]["template"]["spec"]
    assert primary["spec"]["template"]["spec"]["containers"][0]["image"] == "podinfo:6.0.1"
    assert target["spec"]["replicas"] == 0


CONTROLLER_METRICS = {
    # metric -> a PromQL query that must return data after the rollouts above. Over a window, because
    # the controller was killed and restarted meanwhile: a series the new process has not (yet)
    # exported again is stale now, and its counters restarted at 0.
    "canary_info": 'max_over_time(canary_info{name="podinfo"}[10m])',
    "canary_status": 'max_over_time(canary_status{name="podinfo",phase="Succeeded"}[10m]) == 1',
    "canary_weight": 'max_over_time(canary_weight{workload="podinfo-primary"}[10m])',
    "canary_duration_seconds": 'max_over_time(canary_duration_seconds_bucket{name="podinfo"}[10m])',
    "canary_metric_value": 'max_over_time(canary_metric_value{name="backend",metric="request-success-rate"}[10m])',
    "canary_judge_evidence": 'max_over_time(canary_judge_evidence{name="podinfo"}[10m])',
    "canary_successes_total": 'max_over_time(canary_successes_total{name="podinfo"}[10m]) > 0',
    "canary_failures_total": 'max_over_time(canary_failures_total{name="backend"}[10m]) > 0',
    "canary_failed_checks": 'max_over_time(canary_failed_checks{name="backend"}[10m])',
}


@pytest.mark.asyncio(loop_scope="module")
async def test_prometheus_scrapes_the_controllers_own_metrics(bed: Testbed) -> None:
    assert bed.prometheus_url is not None
    # The backend may have failed before the kill above, and a killed process' counters die unscraped:
    # roll out another failing revision under the controller that runs now.
    before = (await bed.canary("backend"))["status"]["lastAppliedSpec"]
    await bed.new_revision("backend", image="backend:3.0.0", behaviour="errors")

    async def failed_again() -> bool:
        status = (await bed.canary("backend")).get("status") or {}
        return status.get("lastAppliedSpec") != before and status.get("phase") == "Failed"

    await bed.wait_for("the backend's second rollback", failed_again, timeout=60)
    missing: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=bed.prometheus_url) as client:

        async def scraped() -> bool:
            missing.clear()
            for name, query in CONTROLLER_METRICS.items():
                answer = (await client.get("/api/v1/query", params={"query": query})).json()
                if not answer["data"]["result"]:
                    missing[name] = query
            return not missing

        with contextlib.suppress(TimeoutError):
            await bed.wait_for("every controller metric in Prometheus", scraped, timeout=20, poll=1.0)
    assert not missing, f"no data in Prometheus for: {missing}"


@pytest.mark.asyncio(loop_scope="module")
async def test_no_promotion_while_prometheus_is_down(bed: Testbed) -> None:
    assert bed.prometheus is not None
    if not bed.controller_running():
        bed.start_controller()
    before = copy.deepcopy((await bed.canary("podinfo"))["status"])
    await bed.new_revision("podinfo", image="podinfo:6.0.2", behaviour="healthy")

    async def analysing() -> bool:
        status = (await bed.canary("podinfo")).get("status") or {}
        return status.get("lastAppliedSpec") != before["lastAppliedSpec"] and status.get("canaryWeight", 0) >= 10

    await bed.wait_for("the new revision's analysis", analysing, timeout=40, poll=0.1)
    await bed.prometheus.astop()
    mark = len(bed.weights)
    weight_when_down = (await bed.canary("podinfo"))["status"]["canaryWeight"]
    status = (await bed.wait_phase("podinfo", {"Failed", "Succeeded"}, timeout=60))["status"]
    assert status["phase"] == "Failed", status
    assert status["lastPromotedSpec"] == before["lastPromotedSpec"]
    weights_after = [s.canary for s in bed.weights[mark:] if s.app == "podinfo"]
    assert max(weights_after) <= weight_when_down + 10  # at most the step already decided before it went down
    assert any(
        "unreachable" in (c.get("reason") or "") or "no data" in (c.get("reason") or "")
        for c in status.get("checks", [])
    )
