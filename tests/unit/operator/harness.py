"""A test harness for the reconcile shell: the in-memory API, a recording router, a manual clock."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

from canary.core import Routes
from canary.kube.api import CANARIES, DEPLOYMENTS, KubeApi
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
        self.api = MemoryApi()
        self.router = RecordingRouter()
        self.clock = Clock()
        self.body = body or canary_body()

        def router_factory(provider: str | None, api: KubeApi) -> RecordingRouter:
            return self.router

        self.reconciler = Reconciler(
            self.api,
            settings or ReconcilerSettings(min_interval=1.0),
            clock=self.clock,
            router_factory=router_factory,  # type: ignore[arg-type]
        )

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
