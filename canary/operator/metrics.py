"""The controller's own metrics (``/metrics``) and health (``/healthz``) for Grafana and probes.

Names follow Flagger's (``flagger_canary_*``) with our ``canary_`` prefix, so
a dashboard built for Flagger ports by renaming, plus what Flagger lacks:
the phase as a label, failed checks, and the judge's evidence per metric.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from canary.core import Decision, Phase, State
from canary.models import Canary, CanaryCheck, JudgeStatus
from canary.operator.checks import TickChecks

__all__ = ["Recorder", "serve_metrics"]

_PHASES = [p.value for p in Phase if p is not Phase.NEW]


class _Series:
    """The series one tick sets for one Canary, by collector (so those it no longer sets can be removed)."""

    def __init__(self) -> None:
        self.labels: dict[Any, set[tuple[str, ...]]] = {}

    def put(self, collector: Any, labels: tuple[str, ...], value: float | None = None) -> Any:
        """The child of ``collector`` with ``labels``, set to ``value`` if given, and remembered."""
        self.labels.setdefault(collector, set()).add(labels)
        child = collector.labels(*labels)
        if value is not None:
            child.set(value)
        return child


class Recorder:
    """Updates the controller's metrics from each reconcile tick; one registry per controller."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ["name", "namespace"]
        self.info = Gauge(
            "canary_info", "Canaries known to the controller (1 each)", [*labels, "primary", "canary", "provider"],
            registry=self.registry,
        )  # fmt: skip
        self.status = Gauge(
            "canary_status",
            "1 for the Canary's current phase, 0 for the others",
            [*labels, "phase"],
            registry=self.registry,
        )
        self.weight = Gauge(
            "canary_weight",
            "Traffic weight per workload (primary and canary)",
            ["workload", "namespace"],
            registry=self.registry,
        )
        self.failed_checks = Gauge(
            "canary_failed_checks", "Failed checks of the current analysis", labels, registry=self.registry
        )
        self.duration = Histogram(
            "canary_duration_seconds", "Seconds one reconcile tick of a Canary took", labels,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10), registry=self.registry,
        )  # fmt: skip
        self.metric_value = Gauge(
            "canary_metric_value",
            "Last measured value of each metric check",
            [*labels, "metric"],
            registry=self.registry,
        )
        self.metric_bound = Gauge(
            "canary_metric_threshold",
            "Threshold of each metric check (bound=min|max)",
            [*labels, "metric", "bound"],
            registry=self.registry,
        )
        self.evidence = Gauge(
            "canary_judge_evidence",
            "The judge's evidence of a regression per metric (rollback at threshold)",
            [*labels, "metric"],
            registry=self.registry,
        )
        self.evidence_threshold = Gauge(
            "canary_judge_threshold",
            "Evidence at which the judge rolls back",
            [*labels, "metric"],
            registry=self.registry,
        )
        self.successes = Counter(
            "canary_successes", "Promotions, by strategy", [*labels, "strategy"], registry=self.registry
        )
        self.failures = Counter(
            "canary_failures", "Rollbacks, by strategy", [*labels, "strategy"], registry=self.registry
        )
        self.lag = Histogram(
            "canary_tick_lag_seconds", "Seconds a reconcile tick started after it was due (controller load)",
            buckets=(0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300), registry=self.registry,
        )  # fmt: skip
        self.saturated = Gauge(
            "canary_controller_saturated",
            "1 while ticks start late or wait for the API request budget, else 0",
            registry=self.registry,
        )
        self.last_tick: float | None = None  # monotonic time of the last reconcile tick, None before any
        self.known: set[tuple[str, str]] = set()
        # every series each Canary has, by collector: replaced ones are removed, and all of them on forget
        self._series: dict[tuple[str, str], dict[Any, set[tuple[str, ...]]]] = {}

    def observe_lag(self, seconds: float) -> None:
        """A reconcile tick started ``seconds`` after it was due."""
        self.lag.observe(seconds)

    def observe_saturated(self, saturated: bool) -> None:
        """The controller started (True) or stopped (False) falling behind."""
        self.saturated.set(1 if saturated else 0)

    def ticking(self, within: float) -> bool:
        """Healthy unless Canaries were being reconciled and the ticks stopped (a silent watch, a hung loop)."""
        return self.last_tick is None or time.monotonic() - self.last_tick <= within

    def observe_tick(
        self,
        canary: Canary,
        provider: str,
        previous: State,
        decision: Decision,
        measured: TickChecks | None,
        seconds: float,
    ) -> None:
        """Record one reconcile tick of ``canary`` (see :meth:`observe`): it started in ``previous``, took ``seconds``."""
        self.observe(
            name=canary.name,
            namespace=canary.namespace,
            target=canary.spec.targetRef.name,
            primary=canary.primary_deployment_name(),
            provider=provider,
            strategy=canary.strategy(),
            phase=decision.state.phase.value,
            previous_phase=previous.phase.value,
            canary_weight=decision.state.canary_weight,
            failed_checks=decision.state.failed_checks,
            seconds=seconds,
            checks=measured.records if measured else (),
            judge=measured.judge_status if measured else None,
        )

    def observe(
        self,
        *,
        name: str,
        namespace: str,
        target: str,
        primary: str,
        provider: str,
        strategy: str,
        phase: str,
        previous_phase: str,
        canary_weight: int,
        failed_checks: int,
        seconds: float,
        checks: Sequence[CanaryCheck] = (),
        judge: JudgeStatus | None = None,
    ) -> None:
        """Record one tick's outcome for one Canary.

        ``checks`` and ``judge`` are this tick's measurements, if it measured:
        a check or judged metric no longer measured loses its series then
        (between measurements the last values stay). Series of a former target,
        primary or provider are removed at once.
        """
        self.last_tick = time.monotonic()
        key = (name, namespace)
        self.known.add(key)
        series = _Series()
        series.put(self.info, (name, namespace, primary, target, provider), 1)
        for known in _PHASES:
            series.put(self.status, (name, namespace, known), 1 if known == phase else 0)
        series.put(self.weight, (target, namespace), canary_weight)
        series.put(self.weight, (primary, namespace), 100 - canary_weight)
        series.put(self.failed_checks, (name, namespace), failed_checks)
        series.put(self.duration, (name, namespace)).observe(seconds)
        self._measurements(series, key, checks, judge)
        # Both counters exist from the first tick at 0, so increase() sees the first promotion too.
        successes = series.put(self.successes, (name, namespace, strategy))
        failures = series.put(self.failures, (name, namespace, strategy))
        if phase != previous_phase:
            if phase == Phase.SUCCEEDED.value:
                successes.inc()
            elif phase == Phase.FAILED.value and previous_phase != Phase.INITIALIZING.value:
                failures.inc()
        # what this tick did not set is gone, except measurements on a tick that measured nothing and the counters
        kept: set[Any] = {self.successes, self.failures}
        if not checks:
            kept |= {self.metric_value, self.metric_bound}
        if judge is None:
            kept |= {self.evidence, self.evidence_threshold}
        self._replace(key, series, kept)

    def _measurements(
        self, series: _Series, key: tuple[str, str], checks: Sequence[CanaryCheck], judge: JudgeStatus | None
    ) -> None:
        """The checks' values and bounds, and the judge's evidence and threshold per judged metric."""
        for check in checks:
            if check.value is not None:
                series.put(self.metric_value, (*key, check.name), check.value)
            for bound, limit in (("min", check.min), ("max", check.max)):
                if limit is not None:
                    series.put(self.metric_bound, (*key, check.name, bound), limit)
        for verdict in judge.verdict.metrics if judge is not None and judge.verdict is not None else ():
            metric = str(verdict.name)
            for gauge, value in ((self.evidence, verdict.evidence), (self.evidence_threshold, verdict.threshold)):
                if value is not None:
                    series.put(gauge, (*key, metric), value)

    def _replace(self, key: tuple[str, str], series: _Series, kept: set[Any]) -> None:
        """Make ``series`` the Canary's: remove the ones it had before and not now, unless their collector is kept."""
        now = series.labels
        for collector, labels in self._series.get(key, {}).items():
            if collector in kept:
                now.setdefault(collector, set()).update(labels)
            else:
                for stale in labels - now.get(collector, set()):
                    collector.remove(*stale)
        self._series[key] = now

    def forget(self, name: str, namespace: str) -> None:
        """Drop a deleted Canary's series (its phase gauge would otherwise linger)."""
        self.known.discard((name, namespace))
        if not self.known:
            self.last_tick = None  # nothing left to reconcile: silence is healthy
        for collector, labels in self._series.pop((name, namespace), {}).items():
            for each in labels:
                collector.remove(*each)


async def serve_metrics(
    recorder: Recorder, port: int, healthy: Callable[[], bool], host: str = "0.0.0.0"
) -> web.AppRunner:
    """Serve ``/metrics`` and ``/healthz`` on ``host:port``; answers the runner (``cleanup()`` stops it)."""

    async def metrics(_: web.Request) -> web.Response:
        # Rendering is ~3.6 KB per Canary: thousands of them take a second or more, which must not stall the
        # ticks that share this event loop. The collectors lock their own series, so a thread may read them.
        body = await asyncio.to_thread(generate_latest, recorder.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        ok = healthy()
        return web.Response(status=200 if ok else 503, text="ok\n" if ok else "not ready\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
