"""kopf lives here and only here: one timer per Canary and a finalizer, both thin.

Each Canary gets one reconcile entry point (a kopf timer every ``tick``
seconds) that hands the raw body to :class:`~canary.operator.reconcile.Reconciler`.
There are no per-phase handlers: the Canary's status is the only state, so a
restarted controller simply resumes ticking.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import kopf

from canary.kube.api import ApiError
from canary.kube.client import ClusterApi, load_client_config
from canary.models import API_GROUP, API_VERSION
from canary.operator.metrics import Recorder, serve_metrics
from canary.operator.reconcile import Reconciler, ReconcilerSettings
from canary.routers.base import RoutingError

__all__ = ["ControllerSettings", "build_registry", "run_controller"]

log = logging.getLogger(__name__)

FINALIZER = "canary.dev/finalizer"


@dataclass(frozen=True)
class ControllerSettings:
    """How the controller runs: where the API and Prometheus are, how often it ticks, its API budget."""

    kubeconfig: Path | None = None
    namespaces: tuple[str, ...] = ()  # empty: every namespace
    tick: float = 5.0  # seconds between two reconciles of one Canary
    qps: float = 50.0
    burst: int = 100
    metrics_port: int | None = 8080  # /metrics and /healthz; None: not served
    reconciler: ReconcilerSettings = field(default_factory=ReconcilerSettings)
    # Threads for the blocking clients (Kubernetes, Prometheus) and the /metrics rendering; asyncio's
    # default pool has min(32, cores + 4), 6 on a 2-core node, and a tick makes a dozen blocking calls.
    io_threads: int = 32


def _spread(uid: str, period: float) -> float:
    """A stable offset within the period, so Canaries do not all tick at once after a restart."""
    digest = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)
    return (digest % 1000) / 1000.0 * period


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

    Its API client ("api"), its Reconciler ("reconciler"), and the /metrics server ("metrics") if served.
    """
    asyncio.get_running_loop().set_default_executor(
        ThreadPoolExecutor(max_workers=controller.io_threads, thread_name_prefix="canary-io")
    )
    config = load_client_config(controller.kubeconfig)
    config.connection_pool_maxsize = controller.io_threads  # one kept connection per thread that may call
    api = ClusterApi(config, qps=controller.qps, burst=controller.burst)
    parts["api"] = api
    recorder = Recorder()
    parts["reconciler"] = Reconciler(api, controller.reconciler, recorder=recorder)
    if controller.metrics_port is not None:
        # Unhealthy once ticks stop for a while: the liveness probe then restarts a controller whose
        # watch went quiet (kopf issue #585) instead of leaving Canaries unattended.
        silence = max(120.0, 10 * controller.tick)
        parts["metrics"] = await serve_metrics(
            recorder, controller.metrics_port, healthy=lambda: recorder.ticking(silence)
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
        reconciler = holder.get("reconciler")
        if reconciler is not None:
            await reconciler.close()
        api = holder.get("api")
        if api is not None:
            await asyncio.to_thread(api.close)
        runner = holder.get("metrics")
        if runner is not None:
            await runner.cleanup()

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

    @kopf.on.delete(API_GROUP, API_VERSION, "canaries", registry=registry)
    async def finalize(body: kopf.Body, **_: Any) -> None:
        try:
            await holder["reconciler"].finalize(dict(body))
            meta = body.get("metadata", {})
            holder["reconciler"].recorder.forget(meta.get("name"), meta.get("namespace"))
        except (ApiError, RoutingError) as error:
            raise kopf.TemporaryError(str(error), delay=controller.tick) from error

    return registry


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
