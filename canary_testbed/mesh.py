"""The mesh traffic simulator: requests split by the live weights, exported as Istio or Linkerd metrics.

For each simulated application (a Canary's target ``<name>`` and its
``<name>-primary``), the simulator reads the current split through an injected
async callable (the testbed passes a router's ``get_routes``) once a second,
draws that second's requests from a seeded ``numpy.random.Generator``, sends
each to the primary or the canary by the weights, and gives each version the
error rate and latency distribution of its ``VersionBehaviour``. The counts
are exported with prometheus-client, from the simulator's own
``CollectorRegistry``, under the mesh's real metric names and labels, so the
real Prometheus can scrape them and the controller's real queries read them:

- Istio: ``istio_requests_total`` and ``istio_request_duration_milliseconds``
  (Istio's default buckets), reported by the destination proxy *and* the
  source proxy (``reporter="source"``), as Istio does.
- Linkerd: ``response_total`` and ``response_latency_ms`` (the proxy's
  buckets), ``direction="inbound"``, ``classification`` success or failure.

``step(seconds)`` advances simulated time synchronously (tests drive it);
``run()`` does it in real time. Behaviours can change at runtime (a new
revision rolled out is a new canary behaviour).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from wsgiref.simple_server import WSGIServer

import numpy as np
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from canary.core.routes import Routes
from canary.models import primary_deployment_name
from canary.providers.base import NoDataError, QueryError
from canary.providers.builtin import (
    LATENCY_BUCKETS,
    MESHES,
    Mesh,
    builtin_query,
    window_queries,
)
from canary.routers.registry import METRIC_SERIES

__all__ = [
    "SCENARIOS",
    "VERSIONS",
    "MeshSimulator",
    "Scenario",
    "SimulatedApp",
    "SimulatorProvider",
    "StepCounts",
    "Version",
    "VersionBehaviour",
    "VersionTotals",
    "histogram_quantile",
    "scenario",
]

log = logging.getLogger(__name__)

Version = Literal["primary", "canary"]
VERSIONS: tuple[Version, ...] = ("primary", "canary")
WeightsSource = Callable[[], Awaitable[Routes]]


@dataclass(frozen=True)
class VersionBehaviour:
    """How one version answers: its error rate and its latency distribution.

    Latency is log-normal with median ``latency_median_ms`` and log-scale
    standard deviation ``latency_log_sd``; a fraction ``tail_fraction`` of
    requests takes ``tail_extra_ms`` longer (a slow dependency).
    """

    error_rate: float = 0.001
    latency_median_ms: float = 20.0
    latency_log_sd: float = 0.4
    tail_fraction: float = 0.0
    tail_extra_ms: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError(f"error_rate must be within 0..1, got {self.error_rate}")
        if not 0.0 <= self.tail_fraction <= 1.0:
            raise ValueError(f"tail_fraction must be within 0..1, got {self.tail_fraction}")
        if self.latency_median_ms <= 0 or self.latency_log_sd < 0 or self.tail_extra_ms < 0:
            raise ValueError("latency median must be > 0, log-sd and tail extra >= 0")

    def latency_quantile(self, q: float) -> float:
        """The ``q`` quantile (ms) of the latency without the tail (for checks and docs)."""
        from statistics import NormalDist

        return self.latency_median_ms * math.exp(self.latency_log_sd * NormalDist().inv_cdf(q))


@dataclass(frozen=True)
class Scenario:
    """A named pair of behaviours: the primary's and the canary's."""

    name: str
    primary: VersionBehaviour
    canary: VersionBehaviour
    description: str = ""


_HEALTHY = VersionBehaviour(error_rate=0.001, latency_median_ms=20.0, latency_log_sd=0.4)

SCENARIOS: dict[str, Scenario] = {
    "healthy": Scenario("healthy", _HEALTHY, _HEALTHY, "the canary behaves like the primary: 0.1 % errors, p99 ~50 ms"),
    "error-regression": Scenario(
        "error-regression",
        _HEALTHY,
        replace(_HEALTHY, error_rate=0.10),
        "the canary fails 10 % of requests (the primary 0.1 %)",
    ),
    "latency-regression": Scenario(
        "latency-regression",
        _HEALTHY,
        replace(_HEALTHY, latency_median_ms=400.0, latency_log_sd=0.5),
        "the canary's median latency is 400 ms (p99 ~1.3 s; the primary's p99 ~50 ms)",
    ),
    "never-ready": Scenario(
        "never-ready", _HEALTHY, _HEALTHY, "traffic is healthy; the canary's pods never become ready"
    ),
}
"""The demo's scenarios, as traffic behaviour (readiness is the simulated kubelet's business)."""


def scenario(name: str) -> Scenario:
    """The scenario called ``name``; unknown names raise ValueError listing the known ones."""
    try:
        return SCENARIOS[name]
    except KeyError:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}") from None


@dataclass
class VersionTotals:
    """Everything one version has answered so far: what the exported counters hold."""

    successes: int = 0
    errors: int = 0
    latency_sum_ms: float = 0.0
    success_buckets: np.ndarray[Any, np.dtype[np.int64]] = field(default_factory=lambda: np.zeros(0, np.int64))
    error_buckets: np.ndarray[Any, np.dtype[np.int64]] = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def requests(self) -> int:
        """All requests answered."""
        return self.successes + self.errors

    def cumulative_buckets(self) -> np.ndarray[Any, np.dtype[np.int64]]:
        """Cumulative counts per bucket bound, the last entry being +Inf (all requests)."""
        return np.cumsum(self.success_buckets + self.error_buckets)


@dataclass(frozen=True)
class _Snapshot:
    """Counter values of one version at one moment (or their increase between two moments)."""

    successes: float
    errors: float
    buckets: np.ndarray[Any, np.dtype[np.float64]]  # cumulative, +Inf last

    @property
    def requests(self) -> float:
        return self.successes + self.errors


@dataclass(frozen=True)
class StepCounts:
    """What one ``step`` generated for one app: requests and errors per version."""

    routes: Routes
    requests: dict[Version, int]
    errors: dict[Version, int]


class SimulatedApp:
    """One application under a Canary: the primary ``<name>-primary`` and the canary ``<name>``.

    ``weights`` is awaited by ``MeshSimulator.run`` each poll to learn the
    split; when it fails (the routing object does not exist yet), the last
    known split stays (at first 100 % primary).
    """

    def __init__(
        self,
        *,
        namespace: str,
        name: str,
        rps: float,
        primary: VersionBehaviour,
        canary: VersionBehaviour,
        weights: WeightsSource | None,
        buckets: tuple[float, ...],
    ) -> None:
        self.namespace = namespace
        self.name = name
        self.rps = rps
        self.weights = weights
        self.routes = Routes(primary=100, canary=0)
        self._behaviour: dict[Version, VersionBehaviour] = {"primary": primary, "canary": canary}
        self.bounds = np.asarray(buckets, dtype=float)
        size = len(buckets) + 1
        self.totals: dict[Version, VersionTotals] = {
            version: VersionTotals(success_buckets=np.zeros(size, np.int64), error_buckets=np.zeros(size, np.int64))
            for version in VERSIONS
        }
        # (simulated time, per version: successes, errors, cumulative buckets) after each step,
        # so the simulator can answer "increase over the last 1m" without Prometheus.
        self.history: deque[tuple[float, dict[Version, _Snapshot]]] = deque()

    def workload(self, version: Version) -> str:
        """The Deployment name of ``version``."""
        return primary_deployment_name(self.name) if version == "primary" else self.name

    def behaviour(self, version: Version) -> VersionBehaviour:
        """The current behaviour of ``version``."""
        return self._behaviour[version]

    def set_behaviour(self, version: Version, behaviour: VersionBehaviour) -> None:
        """Change how ``version`` answers from the next step on (e.g. a new revision)."""
        self._behaviour[version] = behaviour

    def promote(self) -> None:
        """The primary now runs the canary's version (after promotion copies its pod template)."""
        self._behaviour["primary"] = self._behaviour["canary"]

    def set_routes(self, routes: Routes) -> None:
        """Fix the split by hand (tests driving ``step`` without a router)."""
        self.routes = routes

    async def refresh_routes(self) -> None:
        """Ask ``weights`` for the current split; keep the last one if it cannot be read."""
        if self.weights is None:
            return
        try:
            self.routes = await self.weights()
        except Exception as error:  # the routing object may not exist yet: keep the last split
            log.debug("weights of %s/%s unavailable: %s", self.namespace, self.name, error)

    def _answer(self, version: Version, count: int, rng: np.random.Generator) -> int:
        behaviour = self._behaviour[version]
        totals = self.totals[version]
        if count <= 0:
            return 0
        failed = rng.random(count) < behaviour.error_rate
        latency = behaviour.latency_median_ms * np.exp(behaviour.latency_log_sd * rng.standard_normal(count))
        if behaviour.tail_fraction > 0:
            latency = latency + behaviour.tail_extra_ms * (rng.random(count) < behaviour.tail_fraction)
        # Bucket i holds bounds[i-1] < latency <= bounds[i]; index len(bounds) is +Inf.
        index = np.searchsorted(self.bounds, latency, side="left")
        errors = int(failed.sum())
        totals.errors += errors
        totals.successes += count - errors
        totals.latency_sum_ms += float(latency.sum())
        totals.error_buckets += np.bincount(index[failed], minlength=len(self.bounds) + 1)
        totals.success_buckets += np.bincount(index[~failed], minlength=len(self.bounds) + 1)
        return errors

    def snapshot(self) -> dict[Version, _Snapshot]:
        """The exported totals right now, per version."""
        return {
            version: _Snapshot(
                successes=float(totals.successes),
                errors=float(totals.errors),
                buckets=totals.cumulative_buckets().astype(float),
            )
            for version, totals in self.totals.items()
        }

    def since(self, version: Version, start: float) -> _Snapshot:
        """What ``version`` answered after simulated time ``start`` (everything began at 0)."""
        now = self.snapshot()[version]
        base = _Snapshot(0.0, 0.0, np.zeros_like(now.buckets))
        for when, snapshot in self.history:
            if when > start:
                break
            base = snapshot[version]
        return _Snapshot(now.successes - base.successes, now.errors - base.errors, now.buckets - base.buckets)

    def record(self, clock: float, keep: float) -> None:
        """Remember the totals at simulated time ``clock``; forget what is older than ``keep`` seconds."""
        self.history.append((clock, self.snapshot()))
        while len(self.history) > 1 and self.history[1][0] <= clock - keep:
            self.history.popleft()

    def step(self, seconds: float, rng: np.random.Generator) -> StepCounts:
        """Generate ``seconds`` worth of requests at the current split."""
        total = int(rng.poisson(self.rps * seconds)) if self.rps > 0 and seconds > 0 else 0
        to_canary = int(rng.binomial(total, self.routes.canary / 100.0)) if total else 0
        requests: dict[Version, int] = {"primary": total - to_canary, "canary": to_canary}
        errors: dict[Version, int] = {version: self._answer(version, requests[version], rng) for version in requests}
        return StepCounts(routes=self.routes, requests=requests, errors=errors)


class _Exporter(Collector):
    """Renders the simulator's totals as the mesh's metric families at scrape time."""

    def __init__(self, simulator: MeshSimulator) -> None:
        self._simulator = simulator

    def collect(self) -> Iterator[Metric]:
        # Build every family under the lock (one consistent scrape), yield after releasing it.
        with self._simulator.lock:
            families = list(self._istio() if self._simulator.mesh == "istio" else self._linkerd())
        yield from families

    def _bucket_list(self, app: SimulatedApp, counts: np.ndarray[Any, Any]) -> list[tuple[str, float]]:
        cumulative = np.cumsum(counts)
        labels = [_format_bound(b) for b in app.bounds] + ["+Inf"]
        return [(label, float(value)) for label, value in zip(labels, cumulative, strict=True)]

    def _istio(self) -> Iterator[Metric]:
        names = [
            "reporter", "source_workload", "source_workload_namespace", "source_app",
            "destination_workload", "destination_workload_namespace", "destination_app",
            "destination_service", "destination_service_name", "destination_service_namespace",
            "destination_canonical_service", "request_protocol", "response_code", "response_flags",
            "connection_security_policy",
        ]  # fmt: skip
        series = METRIC_SERIES["istio"]
        requests = CounterMetricFamily(series.requests, "Requests handled by Istio proxies.", labels=names)
        durations = HistogramMetricFamily(
            series.latency.removesuffix("_bucket"), "Request durations seen by Istio proxies.", labels=names
        )
        for app in self._simulator.apps:
            service = f"{app.name}.{app.namespace}.svc.cluster.local"
            for version in VERSIONS:
                totals = app.totals[version]
                workload = app.workload(version)
                for reporter in ("destination", "source"):
                    security = "mutual_tls" if reporter == "destination" else "unknown"
                    for code, count, buckets in (
                        ("200", totals.successes, totals.success_buckets),
                        ("503", totals.errors, totals.error_buckets),
                    ):
                        labels = [
                            reporter, "loadtester", app.namespace, "loadtester",
                            workload, app.namespace, app.name,
                            service, app.name, app.namespace,
                            app.name, "http", code, "-" if code == "200" else "UF",
                            security,
                        ]  # fmt: skip
                        requests.add_metric(labels, float(count))
                        bucket_list = self._bucket_list(app, buckets)
                        share = totals.latency_sum_ms * (count / totals.requests) if totals.requests else 0.0
                        durations.add_metric(labels, bucket_list, share)
        yield requests
        yield durations

    def _linkerd(self) -> Iterator[Metric]:
        names = [
            "direction", "namespace", "deployment", "pod", "authority", "tls",
            "classification", "status_code", "target_addr", "srv_kind", "srv_name",
        ]  # fmt: skip
        series = METRIC_SERIES["linkerd"]
        responses = CounterMetricFamily(series.requests, "Responses seen by the Linkerd proxy.", labels=names)
        latencies = HistogramMetricFamily(
            series.latency.removesuffix("_bucket"), "Response latencies seen by the Linkerd proxy.", labels=names
        )
        for app in self._simulator.apps:
            authority = f"{app.name}.{app.namespace}.svc.cluster.local:9898"
            for version in VERSIONS:
                totals = app.totals[version]
                workload = app.workload(version)
                for classification, code, count, buckets in (
                    ("success", "200", totals.successes, totals.success_buckets),
                    ("failure", "503", totals.errors, totals.error_buckets),
                ):
                    labels = [
                        "inbound", app.namespace, workload, f"{workload}-7d4b9c8f6-x2x2x", authority, "true",
                        classification, code, "10.0.0.1:9898", "default", "all-unauthenticated",
                    ]  # fmt: skip
                    responses.add_metric(labels, float(count))
                    share = totals.latency_sum_ms * (count / totals.requests) if totals.requests else 0.0
                    latencies.add_metric(labels, self._bucket_list(app, buckets), share)
        yield responses
        yield latencies


def _format_bound(bound: float) -> str:
    """A bucket bound as the mesh writes it in ``le`` ("0.5", "10", "3600000")."""
    return str(int(bound)) if float(bound).is_integer() else repr(float(bound))


class MeshSimulator:
    """Simulated traffic for one or more applications of one mesh (``istio`` or ``linkerd``).

    Typical testbed use::

        sim = MeshSimulator("istio", seed=1)
        sim.add_app("test", "podinfo", weights=lambda: router.get_routes(canary), rps=50)
        async with sim:                      # serves /metrics and runs the 1 s loop
            prom.set_targets([sim.target])   # "127.0.0.1:<port>"
    """

    def __init__(
        self, mesh: str, *, seed: int = 0, poll_interval: float = 1.0, history_seconds: float = 3600.0
    ) -> None:
        if mesh not in MESHES:
            raise ValueError(f"unknown mesh {mesh!r}; the simulator speaks: {', '.join(MESHES)}")
        self.mesh: Mesh = mesh
        self.rng = np.random.default_rng(seed)
        self.poll_interval = poll_interval
        self.history_seconds = history_seconds
        self.clock = 0.0
        """Simulated seconds since the start (advanced by ``step``)."""
        self.apps: list[SimulatedApp] = []
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Exporter(self))
        self.lock = threading.Lock()
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._task: asyncio.Task[None] | None = None
        self.port: int | None = None

    def add_app(
        self,
        namespace: str,
        name: str,
        *,
        weights: WeightsSource | None = None,
        rps: float = 50.0,
        primary: VersionBehaviour | None = None,
        canary: VersionBehaviour | None = None,
        scenario_name: str | None = None,
    ) -> SimulatedApp:
        """Simulate traffic to Canary target ``name`` in ``namespace`` (its series exist from now, at 0).

        Behaviours come from ``primary``/``canary``, else from ``scenario_name``,
        else both healthy.
        """
        chosen = scenario(scenario_name) if scenario_name else SCENARIOS["healthy"]
        app = SimulatedApp(
            namespace=namespace,
            name=name,
            rps=rps,
            primary=primary or chosen.primary,
            canary=canary or chosen.canary,
            weights=weights,
            buckets=LATENCY_BUCKETS[self.mesh],
        )
        with self.lock:
            self.apps.append(app)
        return app

    def app(self, namespace: str, name: str) -> SimulatedApp:
        """The simulated app for Canary target ``name`` in ``namespace``."""
        for app in self.apps:
            if app.namespace == namespace and app.name == name:
                return app
        raise KeyError(f"no simulated app {namespace}/{name}")

    def step(self, seconds: float = 1.0) -> dict[tuple[str, str], StepCounts]:
        """Advance simulated time by ``seconds`` at the current splits (synchronous; tests drive it)."""
        with self.lock:
            counts = {(app.namespace, app.name): app.step(seconds, self.rng) for app in self.apps}
            self.clock += max(seconds, 0.0)
            for app in self.apps:
                app.record(self.clock, self.history_seconds)
            return counts

    async def refresh_routes(self) -> None:
        """Read every app's current split from its ``weights`` source."""
        for app in list(self.apps):
            await app.refresh_routes()

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Every ``poll_interval``: read the splits, then generate the traffic of the time that passed."""
        last = time.monotonic()
        while stop is None or not stop.is_set():
            await self.refresh_routes()
            now = time.monotonic()
            self.step(now - last)
            last = now
            if stop is None:
                await asyncio.sleep(self.poll_interval)
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)

    # -- exposition

    def serve(self, port: int = 0) -> str:
        """Serve ``/metrics`` on 127.0.0.1 (a free port by default); returns the scrape target."""
        if self._server is None:
            self._server, self._thread = start_http_server(port, addr="127.0.0.1", registry=self.registry)
            self.port = int(self._server.server_port)
        return self.target

    @property
    def target(self) -> str:
        """``127.0.0.1:<port>`` for Prometheus' static_configs (after ``serve``)."""
        if self.port is None:
            raise RuntimeError("the simulator is not serving yet: call serve()")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The metrics page, ``http://127.0.0.1:<port>/metrics``."""
        return f"http://{self.target}/metrics"

    def close(self) -> None:
        """Stop serving metrics."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def start(self) -> None:
        """Serve metrics and start ``run()`` as a task of the running loop."""
        self.serve()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run(), name="mesh-simulator")

    async def stop(self) -> None:
        """Cancel the ``run()`` task and stop serving."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await asyncio.to_thread(self.close)

    async def __aenter__(self) -> MeshSimulator:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()


_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
_RANGE = re.compile(r"\[((?:[0-9]+(?:ms|s|m|h|d|w|y))+)\]")

_Kind = Literal["request-success-rate", "request-duration", "requests", "errors", "latency"]


def _seconds(duration: str) -> float:
    return sum(int(n) * _DURATION_UNITS[unit] for n, unit in _DURATION_PART.findall(duration))


def histogram_quantile(q: float, bounds: tuple[float, ...], cumulative: np.ndarray[Any, Any]) -> float:
    """Prometheus' ``histogram_quantile``: linear interpolation inside the bucket holding rank ``q``.

    ``cumulative`` has one count per bound plus the +Inf count last. NaN when
    there are no observations; the highest finite bound when the rank falls
    in the +Inf bucket.
    """
    total = float(cumulative[-1])
    if total <= 0:
        return math.nan
    rank = q * total
    index = int(np.searchsorted(cumulative, rank, side="left"))
    if index >= len(bounds):
        return float(bounds[-1])
    upper = float(bounds[index])
    lower = float(bounds[index - 1]) if index > 0 else 0.0
    below = float(cumulative[index - 1]) if index > 0 else 0.0
    inside = float(cumulative[index]) - below
    if inside <= 0:
        return upper
    return lower + (upper - lower) * (rank - below) / inside


class SimulatorProvider:
    """A MetricProvider answered by the simulator itself, for machines without Prometheus.

    It knows exactly the queries ``canary.providers.builtin`` writes (the built-in
    checks and the judge's window queries, for every simulated workload and any
    interval) and computes them from the simulator's own history, in simulated
    time. Any other query is a QueryError saying so: the demo tells the user it
    runs without Prometheus.
    """

    def __init__(self, simulator: MeshSimulator) -> None:
        self.simulator = simulator
        # known queries with their range left out (the judge asks for a new range nearly every tick)
        self._known: dict[str, tuple[SimulatedApp, Version, _Kind]] = {}

    def _lookup(self, promql: str) -> tuple[SimulatedApp, Version, _Kind, float]:
        window = _RANGE.search(promql)
        interval = window.group(1) if window is not None else ""
        key = _RANGE.sub("[]", promql)
        if window is not None and key not in self._known:
            mesh = self.simulator.mesh
            for app in list(self.simulator.apps):
                for version in VERSIONS:
                    workload = app.workload(version)
                    queries = window_queries(mesh, app.namespace, workload, interval)
                    candidates: dict[str, _Kind] = {
                        builtin_query("request-success-rate", mesh, app.namespace, workload, interval): (
                            "request-success-rate"
                        ),
                        builtin_query("request-duration", mesh, app.namespace, workload, interval): (
                            "request-duration"
                        ),
                        queries.requests: "requests",
                        queries.errors: "errors",
                        queries.latency: "latency",
                    }
                    for text, kind in candidates.items():
                        self._known[_RANGE.sub("[]", text)] = (app, version, kind)
        found = self._known.get(key)
        if found is None:
            raise QueryError(
                "the traffic simulator answers only the built-in queries of its workloads "
                f"(no Prometheus in this testbed); it cannot run: {promql}"
            )
        return (*found, _seconds(interval))

    def _increase(self, promql: str) -> tuple[SimulatedApp, _Kind, _Snapshot]:
        app, version, kind, seconds = self._lookup(promql)
        with self.simulator.lock:
            return app, kind, app.since(version, self.simulator.clock - seconds)

    async def query(self, promql: str, *, at: float | None = None) -> float:
        """The value Prometheus would give for a built-in query (NoDataError on no traffic, like it).

        Every query is answered at the simulator's current clock: ``at`` is an instant
        of the controller's wall clock, which has no counterpart in simulated time.
        """
        app, kind, delta = self._increase(promql)
        if kind == "requests":
            return delta.requests
        if kind == "errors":
            return delta.errors
        if kind == "latency":
            raise QueryError("a latency bucket query returns several series: use query_vector")
        if delta.requests <= 0:
            raise NoDataError("the query returned NaN (no requests in the interval?)")
        if kind == "request-success-rate":
            return 100.0 * delta.successes / delta.requests
        return histogram_quantile(0.99, tuple(app.bounds), delta.buckets)

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        """Latency bucket increases keyed by ``le`` (the judge's ``by (le)`` query), at the simulated clock."""
        app, kind, delta = self._increase(promql)
        if kind != "latency" or label != "le":
            raise QueryError(f"the simulator answers only by (le) bucket queries as vectors, not: {promql}")
        labels = [_format_bound(bound) for bound in app.bounds] + ["+Inf"]
        return {name: float(value) for name, value in zip(labels, delta.buckets, strict=True)}

    async def check_online(self) -> None:
        """Always online: the simulator is in this process."""
