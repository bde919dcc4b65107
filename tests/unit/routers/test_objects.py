"""The object rules shared by the routers: merge-patch diffs and ownership."""

from __future__ import annotations

from typing import Any

import pytest

from canary.core.routes import Routes
from canary.kube.api import CANARIES, DEPLOYMENTS, VIRTUAL_SERVICES, Conflict, JsonDict, Resource
from canary.kube.memory import MemoryApi, merge_patch
from canary.models import Canary
from canary.routers import IstioRouter
from canary.routers.objects import merge_diff, ownership
from tests.unit.routers.conftest import deployment, flagger_manifest

CASES: list[tuple[Any, Any]] = [
    ({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 2, "d": 3}}),
    ({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 2, "b": {"c": 2}}),
    ({"spec": {"http": [{"route": [1, 2]}]}}, {"spec": {"http": [{"route": [2, 1]}], "hosts": ["x"]}}),
    ({"x": {"y": {"z": 1}}}, {"x": {}}),
    ({"x": [1]}, {"x": {"now": "a dict"}}),
]


@pytest.mark.parametrize(("current", "target"), CASES)
def test_merge_diff_turns_current_into_target(current: Any, target: Any) -> None:
    assert merge_patch(current, merge_diff(current, target)) == target


def test_merge_diff_of_equal_objects_is_empty() -> None:
    assert merge_diff({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]}) == {}


def _canary() -> Canary:
    manifest = flagger_manifest("002")
    manifest["metadata"]["uid"] = "uid-1"
    return Canary.model_validate(manifest)


def _obj(owners: list[dict[str, Any]] | None = None, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "podinfo"}
    if owners is not None:
        meta["ownerReferences"] = owners
    if annotations is not None:
        meta["annotations"] = annotations
    return {"metadata": meta}


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        (
            _obj([{"apiVersion": "canary.dev/v1beta1", "kind": "Canary", "name": "podinfo", "controller": True}]),
            "created",
        ),
        (
            _obj([{"apiVersion": "flagger.app/v1beta1", "kind": "Canary", "name": "podinfo", "controller": True}]),
            "foreign",
        ),
        (
            _obj([{"apiVersion": "canary.dev/v1beta1", "kind": "Canary", "name": "other", "controller": True}]),
            "foreign",
        ),
        (_obj([{"apiVersion": "v1", "kind": "ConfigMap", "name": "podinfo"}]), "unowned"),
        (_obj(annotations={"canary.dev/adopted-by": "podinfo"}), "adopted"),
        (_obj(annotations={"canary.dev/adopted-by": "other"}), "foreign"),
        (_obj(), "unowned"),
    ],
)
def test_ownership(obj: dict[str, Any], expected: str) -> None:
    assert ownership(obj, _canary()) == expected


class RacingApi(MemoryApi):
    """A MemoryApi that checks ``metadata.resourceVersion`` in patches, as the API server does,
    and lets another writer change the VirtualService right after our first read of it."""

    def __init__(self) -> None:
        super().__init__()
        self.races_left = 1
        self.conflicts = 0

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        found = await super().get(resource, namespace, name)
        if found is not None and resource == VIRTUAL_SERVICES and self.races_left:
            self.races_left -= 1
            await super().patch(resource, namespace, name, {"metadata": {"labels": {"other": "writer"}}})
        return found

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: JsonDict,
        *,
        subresource: str | None = None,
    ) -> JsonDict:
        sent = patch.get("metadata", {}).get("resourceVersion")
        stored = self.objects.get((resource, namespace, name), {}).get("metadata", {}).get("resourceVersion")
        if sent is not None and sent != stored:
            self.conflicts += 1
            raise Conflict(409, "Conflict", f"{resource.plural} {name!r} was modified")
        return await super().patch(resource, namespace, name, patch, subresource=subresource)


async def test_a_lost_race_is_redone_from_a_fresh_read() -> None:
    api = RacingApi()
    api.races_left = 0
    stored = await api.create(CANARIES, "test", flagger_manifest("002"))
    await api.create(DEPLOYMENTS, "test", deployment())
    canary = Canary.model_validate(stored)
    router = IstioRouter(api)
    await router.reconcile(canary)
    api.races_left = 1

    await router.set_routes(canary, Routes.canary_at(30))

    virtual_service = api.objects[(VIRTUAL_SERVICES, "test", "podinfo")]
    assert virtual_service["metadata"]["labels"] == {"other": "writer"}, "the other writer's change is kept"
    assert await router.get_routes(canary) == Routes.canary_at(30)
    assert api.conflicts == 1, "the first write carried the stale resourceVersion and was refused"
