"""Fixtures for the router tests: an in-memory API, target Deployments, Canaries from Flagger's manifests."""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import yaml

from canary.kube.api import CANARIES, DEPLOYMENTS, JsonDict
from canary.kube.memory import MemoryApi
from canary.models import Canary
from tests.unit.routers.schemas import reference_dir

WRITES = ("create", "replace", "patch", "delete")


def flagger_manifest(number: str) -> JsonDict:
    """One of the reference Flagger manifests (by its 3-digit number), apiVersion rewritten to ours."""
    matches = sorted((reference_dir() / "flagger-manifests").glob(f"{number}-*.yaml"))
    assert len(matches) == 1, f"expected one manifest numbered {number}, found {matches}"
    with matches[0].open() as stream:
        manifest: JsonDict = yaml.safe_load(stream)
    manifest["apiVersion"] = "canary.dev/v1beta1"
    return manifest


def deployment(
    name: str = "podinfo",
    namespace: str = "test",
    selector: dict[str, str] | None = None,
    containers: list[JsonDict] | None = None,
) -> JsonDict:
    """A target Deployment as the API would hold it."""
    labels = selector if selector is not None else {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {
                    "containers": containers
                    if containers is not None
                    else [{"name": "podinfod", "image": "podinfo:6.0.0", "ports": [{"containerPort": 9898}]}]
                },
            },
        },
    }


def writes(api: MemoryApi, since: int = 0) -> list[tuple[str, str, str | None, str | None]]:
    """The write calls the API received after the first ``since`` calls."""
    return [call for call in api.calls[since:] if call[0].split("/")[0] in WRITES]


@pytest.fixture
def api() -> MemoryApi:
    """An empty in-memory API."""
    return MemoryApi()


StoreCanary = Callable[..., Awaitable[Canary]]


@pytest.fixture
def store_canary(api: MemoryApi) -> StoreCanary:
    """Store a Canary manifest (and its target Deployment) in the API; answer the parsed Canary.

    The Canary is read back from the API so it has a uid, as the controller sees it.
    """

    async def store(manifest: JsonDict, target: JsonDict | None = None, **changes: Any) -> Canary:
        body = copy.deepcopy(manifest)
        for dotted, value in changes.items():
            node = body
            *parents, leaf = dotted.split("__")
            for key in parents:
                node = node.setdefault(key, {})
            if value is None:
                node.pop(leaf, None)
            else:
                node[leaf] = value
        namespace = body["metadata"].get("namespace", "default")
        stored = await api.create(CANARIES, namespace, body)
        target_name = body["spec"]["targetRef"]["name"]
        if await api.get(DEPLOYMENTS, namespace, target_name) is None:
            await api.create(DEPLOYMENTS, namespace, target or deployment(target_name, namespace))
        api.calls.clear()
        return Canary.model_validate(stored)

    return store
