"""The local testbed: a whole cluster's worth of stand-ins for one rollout on one machine.

Parts, each real where a user has a real part:

- the emulated Kubernetes API server (kmock-based) in its own process, over HTTP;
- the controller in its own process (``canary controller``), so tests can kill
  and restart it against the same API state;
- the real Prometheus server scraping the simulated mesh every second (or,
  where it is not installed, no Prometheus: see :mod:`canary_testbed.demo`);
- in this process: the simulated kubelet (Deployment readiness) and the mesh
  traffic simulator, which reads the live weights from the routing object the
  controller writes and gives each version the behaviour named by its pod
  template's ``sandbox.canary.dev/behaviour`` annotation.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import ValidationError

from canary.core import Routes
from canary.kube.api import CANARIES, DEPLOYMENTS, NAMESPACES, ApiError, JsonDict, Resource
from canary.kube.client import ClusterApi, load_client_config
from canary.models import Canary, primary_deployment_name
from canary.models.crdgen import generate as generate_crds
from canary.operator.handlers import ControllerSettings, run_controller
from canary.operator.reconcile import ReconcilerSettings
from canary.providers.builtin import metrics_mesh
from canary.providers.registry import ProviderFactory
from canary.routers.base import RoutingError
from canary.routers.registry import router_for
from canary_testbed.kubelet import Kubelet
from canary_testbed.mesh import SCENARIOS, MeshSimulator, VersionBehaviour
from canary_testbed.meshcrds import mesh_crds
from canary_testbed.prom import PrometheusServer, free_port, prometheus_available
from kubeemu.faults import FaultRule, clear_faults, fault_counts, set_faults
from kubeemu.server import write_kubeconfig

__all__ = ["BEHAVIOURS", "BEHAVIOUR_ANNOTATION", "Testbed", "WeightSample"]

log = logging.getLogger(__name__)

CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False)

BEHAVIOUR_ANNOTATION = "sandbox.canary.dev/behaviour"
BEHAVIOURS: dict[str, VersionBehaviour] = {
    "healthy": SCENARIOS["healthy"].canary,
    "errors": SCENARIOS["error-regression"].canary,
    "slow": SCENARIOS["latency-regression"].canary,
}


@dataclass(frozen=True)
class WeightSample:
    """The canary weight the routing object held at one moment (what traffic really saw)."""

    at: float
    app: str
    canary: int


@dataclass
class Testbed:
    """Starts and stops the testbed's parts; use as ``async with Testbed(...) as bed``."""

    __test__ = False  # not a pytest test class, despite the name

    provider: str = "istio"
    namespace: str = "test"
    tick: float = 0.5
    min_interval: float = 1.0
    seed: int = 1
    rps: float = 100.0
    use_prometheus: bool = True
    kubelet_delay: float = 1.0
    metrics_port: int = field(default_factory=free_port)
    workdir: Path | None = None
    controller_log: Path | None = None
    # The user the controller authenticates as (a bearer token is its user in kubeemu), so that its
    # requests can be told apart from the testbed's own: faults hit only the controller's.
    controller_user: str | None = None
    weights: list[WeightSample] = field(default_factory=list)
    _procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    _tmp: tempfile.TemporaryDirectory[str] | None = None
    api: ClusterApi | None = None
    url: str = ""
    kubeconfig: Path | None = None
    prometheus: PrometheusServer | None = None
    simulator: MeshSimulator | None = None

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Testbed:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def controller_target(self) -> str:
        """Where the controller serves /metrics (a Prometheus scrape target)."""
        return f"127.0.0.1:{self.metrics_port}"

    @property
    def prometheus_url(self) -> str | None:
        """Where the real Prometheus listens, if it runs."""
        return self.prometheus.url if self.prometheus is not None else None

    _stop_controller: asyncio.Event | None = None

    def _spawn(self, name: str, args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
        handle = log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen([sys.executable, *args], stdout=handle, stderr=subprocess.STDOUT, env=env)
        handle.close()
        self._procs[name] = proc
        return proc

    async def start(self) -> None:
        """Start the API server, kubelet, mesh simulator and Prometheus (not yet the controller)."""
        if self.workdir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="canary-testbed-")
            self.workdir = Path(self._tmp.name)
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        self._spawn(
            "apiserver",
            ["-m", "kubeemu.server", "--port", str(port), "--namespace", self.namespace],
            self.workdir / "apiserver.log",
        )
        await self._wait_http(f"{self.url}/api", "the emulated API server", self._procs["apiserver"])
        self.kubeconfig = write_kubeconfig(self.url, self.workdir / "kubeconfig", namespace=self.namespace)
        self.api = ClusterApi(load_client_config(self.kubeconfig), qps=500, burst=1000)
        for crd in [*generate_crds(), *mesh_crds()]:
            with contextlib.suppress(ApiError):
                await self.api.create(CRDS, None, crd)
        if await self.api.get(NAMESPACES, None, self.namespace) is None:
            await self.api.create(NAMESPACES, None, {"metadata": {"name": self.namespace}})

        kubelet = Kubelet(self.api, self.namespace, delay=self.kubelet_delay)
        self._tasks.append(asyncio.create_task(kubelet.run(), name="kubelet"))

        self.simulator = MeshSimulator(metrics_mesh(self.provider), seed=self.seed)
        self.simulator.start()
        self._tasks.append(asyncio.create_task(self._sync_behaviours(), name="behaviours"))

        if self.use_prometheus:
            if not prometheus_available():
                raise RuntimeError(
                    "the Prometheus server is not installed: `make test` installs Debian's `prometheus` package "
                    "(or run `apt-get install prometheus`)"
                )
            self.prometheus = PrometheusServer(targets=[self.simulator.target, self.controller_target])
            await self.prometheus.astart()

    async def close(self) -> None:
        """Stop everything this testbed started, in reverse order."""
        if self._stop_controller is not None:
            self._stop_controller.set()
            await asyncio.sleep(0)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        for name in list(self._procs):
            self.stop_process(name, kill=False)
        if self.simulator is not None:
            await self.simulator.stop()
        if self.prometheus is not None:
            await self.prometheus.astop()
        if self.api is not None:
            self.api.close()
        if self._tmp is not None:
            self._tmp.cleanup()

    # ------------------------------------------------------------------ faults

    async def inject_api_faults(self, rules: Iterable[Mapping[str, Any] | FaultRule], seed: int = 0) -> JsonDict:
        """Put a fault plan in force on the API server (see :mod:`kubeemu.faults`); its counts start at 0."""
        return await asyncio.to_thread(set_faults, self.url, list(rules), seed)

    async def api_fault_counts(self) -> JsonDict:
        """What the API server injected under the current plan (``examined``, ``injected`` by fault, per rule)."""
        return await asyncio.to_thread(fault_counts, self.url)

    async def clear_api_faults(self) -> JsonDict:
        """Turn API fault injection off; returns the counts of the plan that ends."""
        return await asyncio.to_thread(clear_faults, self.url)

    async def stop_prometheus(self) -> None:
        """Take Prometheus away (its port stops answering); :meth:`start_prometheus` brings it back."""
        if self.prometheus is None:
            raise RuntimeError("this testbed runs no Prometheus")
        await self.prometheus.astop()

    async def start_prometheus(self) -> None:
        """Bring Prometheus back on the same port with what it had scraped, and wait until it is ready."""
        if self.prometheus is None:
            raise RuntimeError("this testbed runs no Prometheus")
        await self.prometheus.astart()

    async def _wait_http(self, url: str, what: str, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"{what} exited with code {proc.returncode}")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url, timeout=1.0)).status_code < 500:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{what} did not answer at {url} within {timeout:g}s")

    # ------------------------------------------------------------------ the controller

    def start_controller(
        self, in_process: bool = False, metric_providers: Mapping[str, ProviderFactory] | None = None
    ) -> None:
        """Start the controller against this testbed: ``canary controller`` in its own process.

        ``in_process`` runs it as a task of this event loop instead, with
        ``metric_providers`` replacing the registered ones for it alone: the demo
        does that without Prometheus, so the controller can use the simulator as
        its metric provider.
        """
        assert self.kubeconfig is not None and self.workdir is not None
        if in_process:
            settings = ControllerSettings(
                kubeconfig=self.kubeconfig,
                namespaces=(self.namespace,),
                tick=self.tick,
                metrics_port=self.metrics_port,
                reconciler=ReconcilerSettings(
                    default_provider=self.provider,
                    prometheus_url=self.prometheus_url or "http://simulator.invalid",
                    min_interval=self.min_interval,
                    metric_providers=metric_providers,
                ),
            )
            self._stop_controller = asyncio.Event()
            self._tasks.append(asyncio.create_task(run_controller(settings, self._stop_controller), name="controller"))
            return
        args = [
            "-m", "canary", "controller",
            "--kubeconfig", str(self._controller_kubeconfig()),
            "--namespace", self.namespace,
            "--provider", self.provider,
            "--tick", str(self.tick),
            "--min-interval", str(self.min_interval),
            "--metrics-port", str(self.metrics_port),
        ]  # fmt: skip
        if self.prometheus_url:
            args += ["--prometheus", self.prometheus_url]
        self._spawn("controller", args, self.controller_log or self.workdir / "controller.log")

    def _controller_kubeconfig(self) -> Path:
        """The testbed's kubeconfig, or a copy that authenticates as :attr:`controller_user`."""
        assert self.kubeconfig is not None and self.workdir is not None
        if self.controller_user is None:
            return self.kubeconfig
        config = yaml.safe_load(self.kubeconfig.read_text())
        for user in config["users"]:
            user["user"] = {"token": self.controller_user}
        path = self.workdir / "controller.kubeconfig"
        path.write_text(yaml.safe_dump(config))
        return path

    def stop_process(self, name: str, kill: bool = True) -> None:
        """Stop a child process: SIGKILL (as a crash would) or SIGTERM and wait."""
        proc = self._procs.pop(name, None)
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def controller_running(self) -> bool:
        """Whether the controller process is alive."""
        proc = self._procs.get("controller")
        return proc is not None and proc.poll() is None

    # ------------------------------------------------------------------ objects

    async def add_app(
        self, name: str, behaviour: str = "healthy", replicas: int = 2, image: str = "podinfo:6.0.0"
    ) -> JsonDict:
        """Create a Deployment ``name`` and simulate its traffic; answers the Deployment."""
        assert self.api is not None and self.simulator is not None
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": name, "namespace": self.namespace, "labels": {"app": name}},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}, "annotations": {BEHAVIOUR_ANNOTATION: behaviour}},
                    "spec": {"containers": [{"name": name, "image": image, "ports": [{"containerPort": 9898}]}]},
                },
            },
        }
        created = await self.api.create(DEPLOYMENTS, self.namespace, deployment)
        self.simulator.add_app(self.namespace, name, weights=self._weights_source(name), rps=self.rps)
        return created

    async def new_revision(self, name: str, image: str, behaviour: str = "healthy", ready: str | None = None) -> None:
        """Change the target's pod template (a new image), as a GitOps agent applying a commit would."""
        assert self.api is not None
        annotations: dict[str, Any] = {BEHAVIOUR_ANNOTATION: behaviour, "sandbox.canary.dev/ready": ready}
        current = await self.api.get(DEPLOYMENTS, self.namespace, name)
        assert current is not None, f"deployment {name} does not exist"
        containers = copy.deepcopy(current["spec"]["template"]["spec"]["containers"])
        containers[0]["image"] = image
        patch = {"spec": {"template": {"metadata": {"annotations": annotations}, "spec": {"containers": containers}}}}
        await self.api.patch(DEPLOYMENTS, self.namespace, name, patch)

    async def apply_canary(self, manifest: JsonDict) -> JsonDict:
        """Create a Canary (the namespace defaults to the testbed's)."""
        assert self.api is not None
        body = copy.deepcopy(manifest)
        body.setdefault("metadata", {}).setdefault("namespace", self.namespace)
        return await self.api.create(CANARIES, self.namespace, body)

    async def canary(self, name: str) -> JsonDict:
        """The Canary object as the API has it now."""
        assert self.api is not None
        found = await self.api.get(CANARIES, self.namespace, name)
        assert found is not None, f"canary {name} does not exist"
        return found

    async def wait_for(
        self, what: str, predicate: Callable[[], Awaitable[bool]], timeout: float, poll: float = 0.25
    ) -> None:
        """Wait until ``predicate`` holds; raise TimeoutError naming ``what`` otherwise."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await predicate():
                return
            await asyncio.sleep(poll)
        raise TimeoutError(f"timed out after {timeout:g}s waiting for {what}")

    async def wait_phase(self, name: str, phases: set[str], timeout: float) -> JsonDict:
        """Wait until the Canary's status.phase is one of ``phases``; answers the Canary."""
        seen: dict[str, JsonDict] = {}

        async def reached() -> bool:
            seen["obj"] = await self.canary(name)
            return (seen["obj"].get("status") or {}).get("phase") in phases

        try:
            await self.wait_for(f"canary {name} to reach {sorted(phases)}", reached, timeout)
        except TimeoutError as error:
            status = (seen.get("obj") or {}).get("status")
            raise TimeoutError(f"{error}; last status: {status}") from None
        return seen["obj"]

    async def routes(self, name: str) -> Routes:
        """The split the routing object holds now (100/0 before it exists)."""
        assert self.api is not None
        try:
            canary = Canary.model_validate(await self.canary(name))
            return await router_for(canary.spec.provider or self.provider, self.api).get_routes(canary)
        except (RoutingError, ValidationError, AssertionError, ApiError):
            return Routes(100, 0)

    # ------------------------------------------------------------------ simulation glue

    def _weights_source(self, name: str) -> Callable[[], Awaitable[Routes]]:
        async def read() -> Routes:
            routes = await self.routes(name)
            self.weights.append(WeightSample(time.monotonic(), name, routes.canary))
            return routes

        return read

    async def _sync_behaviours(self) -> None:
        """Give each simulated version the behaviour its Deployment's template names."""
        assert self.api is not None and self.simulator is not None
        while True:
            with contextlib.suppress(ApiError):
                for app in list(self.simulator.apps):
                    for version, name in (("canary", app.name), ("primary", primary_deployment_name(app.name))):
                        deployment = await self.api.get(DEPLOYMENTS, app.namespace, name)
                        if deployment is None:
                            continue
                        annotations = deployment["spec"]["template"].get("metadata", {}).get("annotations") or {}
                        behaviour = BEHAVIOURS.get(str(annotations.get(BEHAVIOUR_ANNOTATION, "healthy")))
                        if behaviour is not None and app.behaviour(version) != behaviour:  # type: ignore[arg-type]
                            app.set_behaviour(version, behaviour)  # type: ignore[arg-type]
            await asyncio.sleep(0.5)
