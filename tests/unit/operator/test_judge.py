"""The statistical judge inside the reconcile loop: fed each tick, kept in status, deciding or not."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from canary.kube.api import CANARIES, EVENTS, METRIC_TEMPLATES
from canary.models import Canary, JudgeStatus
from canary.operator.checks import (
    MAX_WINDOW_INTERVALS,
    _judge_from_status,
    judge_settings,
    judge_window,
    settings_digest,
)
from canary.operator.reconcile import Reconciler, ReconcilerSettings
from canary.providers import registry
from canary.providers.base import ProviderError, UnreachableError
from canary_testbed.mesh import SCENARIOS, MeshSimulator, SimulatedApp, SimulatorProvider
from tests.unit.operator.harness import NS, Harness, canary_body

INTERVAL = 60.0


@pytest.fixture
def simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[MeshSimulator]:
    """The mesh simulator answers the judge's Prometheus queries (our own seam: the provider registry)."""
    sim = MeshSimulator("istio", seed=7)
    monkeypatch.setitem(registry._FACTORIES, "prometheus", lambda address, **_: SimulatorProvider(sim))
    yield sim


def judged(**judge: Any) -> dict[str, Any]:
    body = canary_body(interval="1m", stepWeight=10, maxWeight=50, judge={"alpha": 0.01, **judge})
    body["spec"]["metricsServer"] = "http://prometheus.invalid"
    return body


async def start(h: Harness, sim: MeshSimulator, behaviour: str = "healthy") -> SimulatedApp:
    """Set the Canary up and start a new revision whose canary behaves as ``behaviour`` (200 rps in all)."""
    app = sim.add_app(NS, "podinfo", rps=200, canary=SCENARIOS[behaviour].canary)
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    return app


async def minute(h: Harness, sim: MeshSimulator, app: SimulatedApp) -> dict[str, Any]:
    """One analysis interval of traffic along the router's current routes, then a tick; the Canary's status."""
    app.set_routes(h.router.routes)
    sim.step(INTERVAL)
    return await h.tick(INTERVAL)


async def run(h: Harness, sim: MeshSimulator, behaviour: str, ticks: int) -> list[dict[str, Any]]:
    """Roll out a new revision whose canary behaves as ``behaviour``; traffic follows the router."""
    app = await start(h, sim, behaviour)
    seen = []
    for _ in range(ticks):
        status = await minute(h, sim, app)
        seen.append(status)
        if status["phase"] in ("Failed", "Succeeded"):
            break
    return seen


async def test_the_judge_rolls_back_an_error_regression_with_its_reason(simulator: MeshSimulator) -> None:
    h = Harness(judged())
    seen = await run(h, simulator, "error-regression", ticks=12)
    final = seen[-1]
    assert final["phase"] == "Failed", [s.get("message") for s in seen]
    assert "the judge found a regression" in final["message"]
    verdict = final["judge"]["verdict"]
    assert verdict["outcome"] == "fail"
    assert verdict["evidence"] >= verdict["threshold"]
    assert any(m["name"] == "error-rate" and m["outcome"] == "fail" for m in verdict["metrics"])
    assert h.router.routes.canary == 0


async def test_in_dry_run_the_judge_reports_but_never_decides(simulator: MeshSimulator) -> None:
    h = Harness(judged(dryRun=True))
    seen = await run(h, simulator, "error-regression", ticks=12)
    verdicts = [s["judge"]["verdict"]["outcome"] for s in seen if s.get("judge")]
    assert "fail" in verdicts
    assert seen[-1]["phase"] == "Succeeded"  # no threshold metrics: nothing else stops it
    assert any(c["name"] == "judge" and "dry run" in c["reason"] for s in seen for c in s.get("checks", []))


async def test_evidence_survives_a_controller_restart(simulator: MeshSimulator) -> None:
    h = Harness(judged())
    app = await start(h, simulator)
    ticks = []
    for step in range(6):
        if step == 3:  # a new controller process: nothing but the Canary's status carries over
            h.reconciler = Reconciler(
                h.api,
                ReconcilerSettings(min_interval=1.0),
                clock=h.clock,
                router_factory=lambda p, a: h.router,  # type: ignore[arg-type, return-value]
            )
        status = await minute(h, simulator, app)
        if status.get("judge"):
            ticks.append(status["judge"]["verdict"]["ticks"])
    assert ticks == sorted(ticks) and len(set(ticks)) == len(ticks), ticks  # one more tick of evidence each time


@pytest.mark.parametrize(
    "edit",
    [
        {"latency": {"enabled": False}},  # fewer metrics: the saved state has another shape
        {"latencyBuckets": [5, 10, 25, 50, 100, 250, 500]},  # other buckets: likewise
        {"errorRate": {"tolerance": 1.0}},  # another null: same shape, evidence about another question
    ],
)
async def test_editing_the_judge_mid_analysis_starts_its_evidence_afresh_and_says_so(
    simulator: MeshSimulator, edit: dict[str, Any]
) -> None:
    h = Harness(judged())
    app = await start(h, simulator)
    ticks = []
    for step in range(7):  # the first tick scales the canary up; the judge starts with the second
        if step == 4:
            await h.api.patch(CANARIES, NS, "podinfo", {"spec": {"analysis": {"judge": edit}}})
        status = await minute(h, simulator, app)  # never an exception: the tick goes on
        ticks.append(status.get("judge", {}).get("verdict", {}).get("ticks"))
    assert ticks == [None, None, 1, 2, 1, 2, 3], ticks  # the evidence restarted once, with the edit
    assert status["phase"] in ("Progressing", "Promoting"), status.get("message")  # the rollout goes on
    warnings = [e for e in await h.api.list(EVENTS, NS) if e["reason"] == "JudgeRestarted"]
    assert len(warnings) == 1
    assert warnings[0]["type"] == "Warning"
    assert "spec.analysis.judge changed" in warnings[0]["message"]


@pytest.mark.parametrize(
    ("state", "why"),
    [({"v": 99}, "unsupported judge state version 99"), ("garbage", "judge state must be an object, got str")],
)
async def test_unreadable_judge_state_starts_afresh_instead_of_failing_every_tick(
    simulator: MeshSimulator, state: Any, why: str
) -> None:
    h = Harness(judged())
    app = await start(h, simulator)
    for _ in range(4):
        status = await minute(h, simulator, app)
    assert status["judge"]["verdict"]["ticks"] == 2
    # a hand edit (or an older controller) left a state this judge cannot read
    await h.api.patch(CANARIES, NS, "podinfo", {"status": {"judge": {"state": state, "settings": None}}})
    status = await minute(h, simulator, app)
    assert status["judge"]["verdict"]["ticks"] == 1
    warnings = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "JudgeRestarted"]
    assert len(warnings) == 1 and "status.judge.state cannot be read" in warnings[0], warnings
    assert why in warnings[0]


async def test_a_controller_without_a_mesh_reports_that_the_judge_has_no_evidence() -> None:
    # Gateway API routes read the controller's mesh metrics; a controller run with --provider
    # gatewayapi:v1 has none: the judge has no evidence (an errored check), the tick goes on.
    body = judged()
    body["spec"]["service"]["gatewayRefs"] = [{"name": "gateway", "namespace": "istio-ingress"}]
    h = Harness(body)
    h.reconciler = Reconciler(
        h.api,
        ReconcilerSettings(min_interval=1.0, default_provider="gatewayapi:v1"),
        clock=h.clock,
        router_factory=lambda p, a: h.router,  # type: ignore[arg-type, return-value]
    )
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    statuses = [await h.tick(INTERVAL) for _ in range(3)]
    judged_checks = [c for s in statuses for c in s.get("checks", []) if c["name"] == "judge"]
    assert judged_checks and all(c["outcome"] == "error" for c in judged_checks)
    assert "no built-in metrics for provider 'gatewayapi:v1'" in judged_checks[-1]["reason"]
    assert statuses[-1]["failedChecks"] >= 1  # no evidence is no pass


class CountingProvider:
    """Answers the judge's template queries like Prometheus would: a count per workload.

    Records each query with the instant it was asked for; ``down`` makes every
    query fail (Prometheus unreachable).
    """

    def __init__(self, counts: dict[tuple[str, str], float]) -> None:
        self.counts = counts
        self.queries: list[str] = []
        self.asked: list[tuple[str, float | None]] = []
        self.down = False

    async def query(self, promql: str, *, at: float | None = None) -> float:
        if self.down:
            raise UnreachableError("Prometheus at http://prometheus.invalid is unreachable: connection refused")
        self.queries.append(promql)
        self.asked.append((promql, at))
        kind = "errors" if "code=~" in promql else "requests"
        workload = "podinfo-primary" if '"podinfo-primary-' in promql else "podinfo"
        return self.counts[(workload, kind)]

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        raise AssertionError("the template pair has no histogram")

    async def check_online(self) -> None:
        return None


async def template_pair_harness(monkeypatch: pytest.MonkeyPatch, provider: CountingProvider) -> Harness:
    """A Canary whose judge counts with a MetricTemplate pair answered by ``provider``, a new revision started."""
    monkeypatch.setitem(registry._FACTORIES, "prometheus", lambda address, **_: provider)
    body = judged(templates={"requests": {"name": "requests"}, "errors": {"name": "errors"}})
    h = Harness(body)
    for name, query in {
        "requests": 'sum(increase(http_requests_total{namespace="{{ namespace }}",pod=~"{{ workload }}-.*"}[{{ interval }}]))',
        "errors": 'sum(increase(http_requests_total{namespace="{{ namespace }}",pod=~"{{ workload }}-.*",code=~"5.."}[{{ interval }}]))',
    }.items():
        template = {"apiVersion": "canary.dev/v1beta1", "kind": "MetricTemplate", "metadata": {"name": name},
                    "spec": {"provider": {"type": "prometheus", "address": "http://prometheus.invalid"}, "query": query}}  # fmt: skip
        await h.api.create(METRIC_TEMPLATES, NS, template)
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    return h


async def test_a_metric_template_pair_feeds_the_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = CountingProvider(
        {("podinfo", "requests"): 600.0, ("podinfo", "errors"): 60.0,
         ("podinfo-primary", "requests"): 5400.0, ("podinfo-primary", "errors"): 5.4}
    )  # fmt: skip
    h = await template_pair_harness(monkeypatch, provider)
    seen = [await h.tick(INTERVAL) for _ in range(8)]
    assert seen[-1]["phase"] == "Failed", [s.get("message") for s in seen]
    assert "error rate" in seen[-1]["message"]
    assert any('pod=~"podinfo-primary-.*"' in q and "[60000ms]" in q for q in provider.queries)
    assert [m["name"] for m in seen[-1]["judge"]["verdict"]["metrics"]] == ["error-rate"]


async def test_judge_windows_tile_time_and_each_tick_asks_at_one_instant(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each window starts where the last judged one ended: no request judged twice, none skipped."""
    provider = CountingProvider(
        {("podinfo", "requests"): 600.0, ("podinfo", "errors"): 0.6,
         ("podinfo-primary", "requests"): 5400.0, ("podinfo-primary", "errors"): 5.4}
    )  # fmt: skip
    h = await template_pair_harness(monkeypatch, provider)
    for _ in range(2):  # starts the analysis, then sends the canary its first weight: nothing measured yet
        await h.tick(INTERVAL)
    assert provider.asked == []
    ticks: list[tuple[float, set[float | None], set[int]]] = []
    # the timer fires late by a varying amount; one tick finds Prometheus down
    for spacing, down in ((INTERVAL, False), (67.2506, False), (INTERVAL, True), (61.5, False), (90.0, False)):
        provider.asked.clear()
        provider.down = down
        status = await h.tick(spacing)
        assert status["phase"] in ("Progressing", "Promoting"), status.get("message")
        ranges = {int(m) for q, _ in provider.asked for m in re.findall(r"\[(\d+)ms\]", q)}
        ticks.append((h.clock.now.timestamp(), {at for _, at in provider.asked}, ranges))
        if not down:  # the instant, in whole milliseconds (the sub-millisecond rest is dropped)
            assert status["judge"]["windowEnd"] == h.clock.now.isoformat(timespec="milliseconds")
            assert status["judge"]["windowTicks"] == status["judge"]["state"]["ticks"]
    judged_ticks = [t for t in ticks if t[1]]
    assert len(judged_ticks) == 4
    for now, instants, _ in judged_ticks:
        assert len(instants) == 1  # all four queries of the tick (two workloads, two counts) at one instant
        (at,) = instants
        assert at is not None and now - 0.001 < at <= now and round(at * 1000) == pytest.approx(at * 1000)
    ranges = [r for _, _, r in judged_ticks]
    # the first window is the interval; each next one reaches back to the end of the last judged one,
    # across the tick without evidence
    assert ranges == [{60000}, {67250}, {121500}, {90000}]  # whole milliseconds that add up exactly


def test_a_judge_window_reaches_back_to_the_last_judged_end_within_limits() -> None:
    now = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)

    def window(saved: dict[str, Any] | None) -> float:
        return judge_window(JudgeStatus.model_validate(saved) if saved is not None else None, now, 60.0)

    ended = {"windowEnd": (now - timedelta(seconds=75.5)).isoformat(timespec="milliseconds")}
    assert window(ended) == pytest.approx(75.5)
    assert window(None) == 60.0  # the first window of a revision
    assert window({"windowEnd": "yesterday"}) == 60.0
    assert window({"windowEnd": "2026-01-01T11:59:00"}) == 60.0  # no time zone: unreadable
    long_ago = {"windowEnd": (now - timedelta(seconds=MAX_WINDOW_INTERVALS * 60.0 + 1)).isoformat()}
    assert window(long_ago) == 60.0  # the gap stays unjudged
    # the end written with the judge's fourth tick, the state since moved on by a controller without windows
    stale = {**ended, "windowTicks": 4.0, "state": {"ticks": 6.0}}
    assert window(stale) == 60.0
    assert window({**stale, "windowTicks": 6.0}) == pytest.approx(75.5)
    with pytest.raises(ProviderError, match="not after the end of the last judged window"):
        window({"windowEnd": (now + timedelta(seconds=2)).isoformat()})


@pytest.mark.parametrize(("jitter", "expected"), [(None, 0.035), (6.0, 0.06), (0.0, 0.0)])
def test_the_latency_jitter_allowance_reaches_the_judge(jitter: float | None, expected: float) -> None:
    latency = {"tolerance": 10} if jitter is None else {"tolerance": 10, "jitter": jitter}
    canary = Canary.model_validate(judged(latency=latency))
    settings = judge_settings(canary, "istio")
    judge, restart = _judge_from_status(canary, settings, settings_digest(canary, settings))
    assert restart is None
    assert judge.config.latency_jitter == pytest.approx(expected)
    assert judge.config.latency_tolerance == pytest.approx(0.10)


def test_the_settings_digest_covers_what_the_evidence_depends_on_and_nothing_else() -> None:
    def digest(**judge: Any) -> str:
        canary = Canary.model_validate(judged(**judge))
        return settings_digest(canary, judge_settings(canary, "istio"))

    pair = {"requests": {"name": "requests"}, "errors": {"name": "errors"}}
    base = digest()
    assert digest(errorRate={"tolerance": 0.5}) != base
    assert digest(latency={"tolerance": 20}) != base
    assert digest(latencyBuckets=[5, 10, 50]) != base
    assert digest(dryRun=True, promoteOnPass=True) == base  # how verdicts are used, not what they are
    with_pair = digest(templates=pair)
    assert with_pair != base
    assert digest(templates={**pair, "errors": {"name": "server-errors"}}) != with_pair  # another source
    assert digest(templates=pair, latency={"tolerance": 20, "jitter": 8}) == with_pair  # latency is not judged
