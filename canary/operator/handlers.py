"""kopf lives here and only here: watch events for the scheduler, and a finalizer, all thin.

Each Canary has one reconcile entry point, :meth:`~canary.operator.reconcile.Reconciler.tick`,
run by the :class:`~canary.operator.scheduler.Scheduler` when the Canary is
due (its analysis interval, a short-lived phase's ``tick``, the slow resync)
or when it, or a Deployment it names, changed: kopf's watch events on
Canaries and Deployments feed the scheduler and its cache, so an idle Canary
costs no API request. There are no per-phase handlers: the Canary's status
is the only state, so a restarted controller simply resumes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import kopf

from canary.kube.api import CANARIES, DEPLOYMENTS, ApiError
from canary.kube.cache import CachedApi, WatchCache
from canary.kube.client import ClusterApi, load_client_config
from canary.models import API_GROUP, API_VERSION
from canary.operator.metrics import Recorder, serve_metrics
from canary.operator.reconcile import Reconciler, ReconcilerSettings
from canary.operator.scheduler import Scheduler, SchedulerSettings
from canary.routers.base import RoutingError

__all__ = ["ControllerSettings", "build_registry", "run_controller"]

log = logging.getLogger(__name__)

FINALIZER = "canary.dev/finalizer"


@dataclass(frozen=True)
class ControllerSettings:
    """How the controller runs: where the API and Prometheus are, how often it ticks, its API budget."""

    kubeconfig: Path | None = None
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    # Seconds between two reconciles of a Canary in a short-lived phase (initializing, promoting, waiting
    # on a gate webhook), and the retry delay; an analysis ticks at its interval, an idle Canary on changes.
    tick: float = 5.0
    resync: float = 300.0  # every Canary is reconciled at least this often (a missed watch event)
    # The API request budget. Idle Canaries cost nothing (see canary.operator.scheduler): the budget serves
    # rollouts (about 8 requests per analysis tick: ~700 Canaries analysing at once at 60 s intervals) and
    # the spread first ticks of a start (~3 requests per waiting Canary over 2 minutes: 3,000 at 75/s).
    qps: float = 100.0
    burst: int = 500
    metrics_port: int | None = 8080  # /metrics and /healthz; None: not served
    reconciler: ReconcilerSettings = field(default_factory=ReconcilerSettings)
    # Threads for the blocking clients (Kubernetes, Prometheus) and the /metrics rendering; asyncio's
    # default pool has min(32, cores + 4), 6 on a 2-core node, and a tick makes a dozen blocking calls.
    io_threads: int = 32
    # How Canaries are ticked: "timer" (a kopf timer per Canary every `tick`, the proven default) or
    # "events" (the due-time scheduler over watch caches: idle Canaries cost nothing; see
    # benchmarks/results/scale-*.md). "events" becomes the default once the fault soak holds it.
    scheduling: Literal["timer", "events"] = "timer"


def _configure(settings: kopf.OperatorSettings, controller: ControllerSettings) -> None:
    """kopf's settings for this controller: watch timeouts (kopf issue #585), our finalizer and annotations."""
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.posting.level = logging.WARNING
    settings.persistence.finalizer = FINALIZER
    # Deletion re-checks a running reconcile each tick, not each minute (kopf's default 60 s).
    settings.background.cancellation_polling = controller.tick
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=API_GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=API_GROUP, key="last-handled-configuration"
    )


def _connection_info(kubeconfig: Path | None) -> kopf.ConnectionInfo:
    """How kopf reaches the API server: the same configuration the controller's own client loads."""
    config = load_client_config(kubeconfig)
    token = (config.api_key or {}).get("authorization") or (config.api_key or {}).get("BearerToken")
    scheme = None
    if token and token.startswith("Bearer "):
        scheme, token = "Bearer", token[len("Bearer ") :]
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
    )


async def _start(controller: ControllerSettings, parts: dict[str, Any]) -> None:
    """Start the controller's parts into ``parts`` as each is made (so cleanup finds those that started).

    Its API client ("api"), its Reconciler ("reconciler"), the scheduler ("scheduler") and its task
    ("scheduling"), and the /metrics server ("metrics") if served.
    """
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=controller.io_threads, thread_name_prefix="canary-io")
    )
    config = load_client_config(controller.kubeconfig)
    config.connection_pool_maxsize = controller.io_threads  # one kept connection per thread that may call
    api = ClusterApi(config, qps=controller.qps, burst=controller.burst)
    parts["api"] = api
    recorder = Recorder()
    if controller.scheduling == "timer":
        parts["reconciler"] = Reconciler(api, controller.reconciler, recorder=recorder)
        if controller.metrics_port is not None:
            # Unhealthy once ticks stop for a while: the liveness probe then restarts a controller whose
            # watch went quiet (kopf issue #585) instead of leaving Canaries unattended.
            silence = max(120.0, 10 * controller.tick)
            parts["metrics"] = await serve_metrics(
                recorder, controller.metrics_port, healthy=lambda: recorder.ticking(silence)
            )
        return
    cache = WatchCache((CANARIES, DEPLOYMENTS))
    reconciler = Reconciler(CachedApi(api, cache), controller.reconciler, recorder=recorder)
    parts["reconciler"] = reconciler
    scheduler = Scheduler(
        tick=reconciler.tick,
        cache=cache,
        settings=SchedulerSettings(
            tick=controller.tick, resync=controller.resync, min_interval=controller.reconciler.min_interval
        ),
        on_lag=recorder.observe_lag,
        on_saturated=recorder.observe_saturated,
        throttled=lambda: api.throttled,
    )
    parts["scheduler"] = scheduler
    parts["scheduling"] = asyncio.create_task(scheduler.run(), name="canary scheduler")
    if controller.metrics_port is not None:
        # Unhealthy once the scheduling loop stops (it passes at least every 10 s): the liveness probe then
        # restarts the controller instead of leaving Canaries unattended.
        silence = max(120.0, 10 * controller.tick)
        parts["metrics"] = await serve_metrics(
            recorder, controller.metrics_port, healthy=lambda: scheduler.healthy(silence)
        )


def build_registry(settings: ControllerSettings) -> kopf.OperatorRegistry:
    """A kopf registry with the controller's handlers bound to ``settings``."""
    registry = kopf.OperatorRegistry()
    holder: dict[str, Any] = {}
    controller = settings

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, **_: Any) -> None:
        _configure(settings, controller)
        await _start(controller, holder)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return _connection_info(controller.kubeconfig)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(**_: Any) -> None:
        scheduling = holder.get("scheduling")
        if scheduling is not None:
            scheduling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await scheduling
        reconciler = holder.get("reconciler")
        if reconciler is not None:
            await reconciler.close()
        api = holder.get("api")
        if api is not None:
            await asyncio.to_thread(api.close)
        runner = holder.get("metrics")
        if runner is not None:
            await runner.cleanup()

    if controller.scheduling == "timer":
        _register_timer(registry, controller, holder)
    else:
        _register_watches(registry, holder)

    @kopf.on.delete(API_GROUP, API_VERSION, "canaries", registry=registry)
    async def finalize(body: kopf.Body, **_: Any) -> None:
        try:
            await holder["reconciler"].finalize(dict(body))
            meta = body.get("metadata", {})
            holder["reconciler"].recorder.forget(meta.get("name"), meta.get("namespace"))
        except (ApiError, RoutingError) as error:
            raise kopf.TemporaryError(str(error), delay=controller.tick) from error

    return registry


def _spread(uid: str, period: float) -> float:
    """A stable offset within the period, so Canaries do not all tick at once after a restart."""
    digest = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)
    return (digest % 1000) / 1000.0 * period


def _register_timer(registry: kopf.OperatorRegistry, controller: ControllerSettings, holder: dict[str, Any]) -> None:
    """``scheduling="timer"``: one kopf timer per Canary, every ``tick`` seconds, first ones spread by uid."""

    @kopf.timer(
        API_GROUP,
        API_VERSION,
        "canaries",
        interval=controller.tick,
        initial_delay=lambda body, **_: _spread(str(body.get("metadata", {}).get("uid", "")), controller.tick),
        registry=registry,
    )
    async def reconcile(body: kopf.Body, **_: Any) -> None:
        try:
            await holder["reconciler"].tick(dict(body))
        except ApiError as error:
            if error.retryable:
                raise kopf.TemporaryError(str(error), delay=controller.tick) from error
            raise


def _register_watches(registry: kopf.OperatorRegistry, holder: dict[str, Any]) -> None:
    """``scheduling="events"``: watch events on Canaries and Deployments feed the scheduler and its cache."""

    @kopf.on.event(API_GROUP, API_VERSION, "canaries", registry=registry)
    async def canary_event(body: kopf.Body, type: str | None, **_: Any) -> None:
        scheduler = holder.get("scheduler")
        if scheduler is not None:
            scheduler.observe("canary", dict(body), deleted=type == "DELETED", listed=type is None)

    @kopf.on.event("apps", "v1", "deployments", registry=registry)
    async def deployment_event(body: kopf.Body, type: str | None, **_: Any) -> None:
        scheduler = holder.get("scheduler")
        if scheduler is not None:
            scheduler.observe("deployment", dict(body), deleted=type == "DELETED", listed=type is None)


async def run_controller(settings: ControllerSettings, stop_flag: asyncio.Event | None = None) -> None:
    """Run the controller until ``stop_flag`` is set (or forever)."""
    registry = build_registry(settings)
    await kopf.operator(
        registry=registry,
        standalone=True,
        namespaces=list(settings.namespaces),
        clusterwide=not settings.namespaces,
        stop_flag=stop_flag,
    )
