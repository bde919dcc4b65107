"""A test harness for the reconcile shell: the in-memory API, a recording router, a manual clock."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from canary.core import Routes
from canary.kube.api import CANARIES, DEPLOYMENTS, ApiError, JsonDict, KubeApi, Resource
from canary.kube.memory import MemoryApi
from canary.models import Canary
from canary.operator.reconcile import Reconciler, ReconcilerSettings

NS = "test"


class RecordingRouter:
    """A Router that keeps the split in memory and records every call."""

    def __init__(self) -> None:
        self.routes = Routes(100, 0)
        self.calls: list[str] = []
        self.history: list[int] = []

    async def reconcile(self, canary: Canary) -> None:
        self.calls.append("reconcile")

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        self.calls.append(f"set {routes.canary}")
        self.routes = routes
        self.history.append(routes.canary)

    async def get_routes(self, canary: Canary) -> Routes:
        return self.routes

    async def finalize(self, canary: Canary) -> None:
        self.calls.append("finalize")


WRITES = ("create", "replace", "patch", "patch/status", "delete")


class FaultyApi(MemoryApi):
    """The in-memory API, with faults to inject: creates of a resource that answer an error.

    ``fail_creates(plural, status, times)``: the next ``times`` creates of
    ``plural`` answer ``status`` (every one while ``times`` is None); with
    ``landed`` the object is stored first, as when the answer, not the
    request, was lost.
    """

    def __init__(self) -> None:
        super().__init__()
        self._faults: dict[str, tuple[int, int | None, bool]] = {}

    def fail_creates(self, plural: str, status: int = 503, times: int | None = 1, landed: bool = False) -> None:
        self._faults[plural] = (status, times, landed)

    def heal(self, plural: str) -> None:
        self._faults.pop(plural, None)

    async def create(self, resource: Resource, namespace: str | None, body: JsonDict) -> JsonDict:
        fault = self._faults.get(resource.plural)
        if fault is None:
            return await super().create(resource, namespace, body)
        status, times, landed = fault
        if times is not None:
            if times <= 1:
                del self._faults[resource.plural]
            else:
                self._faults[resource.plural] = (status, times - 1, landed)
        if landed:
            await super().create(resource, namespace, body)
        else:
            self.calls.append(("create", resource.plural, namespace, body.get("metadata", {}).get("name")))
        raise ApiError(status, "InternalError", f"injected: {resource.plural} create answered {status}")

    def writes(self) -> list[tuple[str, str, str | None, str | None]]:
        """The write requests made so far."""
        return [call for call in self.calls if call[0] in WRITES]


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def deployment(name: str, image: str = "podinfo:1") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": NS, "generation": 1},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def canary_body(**analysis: Any) -> dict[str, Any]:
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": "podinfo", "namespace": NS},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
            "service": {"port": 9898},
            "analysis": {
                "interval": "10s",
                "threshold": 2,
                "stepWeight": 25,
                "maxWeight": 50,
                "metrics": [],
                **analysis,
            },
        },
    }


async def mark_ready(api: MemoryApi) -> None:
    """Play the Deployment controller: every Deployment with replicas > 0 is rolled out."""
    for dep in await api.list(DEPLOYMENTS, NS):
        spec = dep["spec"]
        replicas = spec.get("replicas", 1)
        status = {
            "observedGeneration": dep["metadata"].get("generation", 0),
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
        }
        await api.patch(DEPLOYMENTS, NS, dep["metadata"]["name"], {"status": status}, subresource="status")


class Harness:
    def __init__(self, body: dict[str, Any] | None = None, settings: ReconcilerSettings | None = None) -> None:
        self.api = FaultyApi()
        self.router = RecordingRouter()
        self.clock = Clock()
        self.body = body or canary_body()

        def router_factory(provider: str | None, api: KubeApi) -> RecordingRouter:
            return self.router

        self.router_factory = router_factory
        self.settings = settings or ReconcilerSettings(min_interval=1.0)
        self.reconciler = self.restart()

    def restart(self) -> Reconciler:
        """A new controller process: a fresh Reconciler (nothing in memory) on the same API, clock and router."""
        self.reconciler = Reconciler(
            self.api,
            self.settings,
            clock=self.clock,
            router_factory=self.router_factory,
        )
        return self.reconciler

    async def setup(self) -> None:
        await self.api.create(DEPLOYMENTS, NS, deployment("podinfo"))
        await self.api.create(CANARIES, NS, copy.deepcopy(self.body))

    async def tick(self, seconds: float = 10) -> dict[str, Any]:
        self.clock.now += timedelta(seconds=seconds)
        await mark_ready(self.api)
        body = await self.api.get(CANARIES, NS, "podinfo")
        assert body is not None
        await self.reconciler.tick(body)
        after = await self.api.get(CANARIES, NS, "podinfo")
        assert after is not None
        return after.get("status") or {}

    async def new_revision(self, image: str) -> None:
        await self.api.patch(
            DEPLOYMENTS, NS, "podinfo",
            {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": image}]}}}},
        )  # fmt: skip
