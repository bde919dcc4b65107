"""An in-memory :class:`~canary.kube.api.KubeApi` for unit tests.

It keeps objects by (resource, namespace, name), applies JSON merge patches,
stamps ``metadata.resourceVersion`` / ``uid`` / ``creationTimestamp`` like an
API server and records every call in ``calls`` so a test can assert what was
written. It is a seam of ours, not a stand-in for a cluster: the testbed's
emulated API server plays that part.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from typing import Any

from canary.kube.api import ApiError, Conflict, JsonDict, NotFound, Resource

__all__ = ["MemoryApi", "merge_patch"]


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply a JSON merge patch (RFC 7386) and return the result (inputs untouched)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


class MemoryApi:
    """A dict-backed object store speaking the KubeApi protocol."""

    def __init__(self) -> None:
        self.objects: dict[tuple[Resource, str | None, str], JsonDict] = {}
        self.calls: list[tuple[str, str, str | None, str | None]] = []
        self._versions = itertools.count(1)

    def _key(self, resource: Resource, namespace: str | None, name: str) -> tuple[Resource, str | None, str]:
        return (resource, namespace if resource.namespaced else None, name)

    def _stamp(self, body: JsonDict, resource: Resource, namespace: str | None) -> JsonDict:
        meta = body.setdefault("metadata", {})
        meta["resourceVersion"] = str(next(self._versions))
        meta.setdefault("uid", str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", "2026-01-01T00:00:00Z")
        if resource.namespaced and namespace:
            meta["namespace"] = namespace
        body.setdefault("apiVersion", resource.api_version)
        body.setdefault("kind", resource.kind)
        return body

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        self.calls.append(("get", resource.plural, namespace, name))
        obj = self.objects.get(self._key(resource, namespace, name))
        return copy.deepcopy(obj) if obj is not None else None

    async def list(
        self, resource: Resource, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonDict]:
        self.calls.append(("list", resource.plural, namespace, None))
        wanted = dict(part.split("=", 1) for part in label_selector.split(",")) if label_selector else {}
        found = []
        for (res, ns, _), obj in self.objects.items():
            if res != resource or (namespace is not None and ns != namespace):
                continue
            labels = obj.get("metadata", {}).get("labels") or {}
            if all(labels.get(k) == v for k, v in wanted.items()):
                found.append(copy.deepcopy(obj))
        return found

    async def create(self, resource: Resource, namespace: str | None, body: JsonDict) -> JsonDict:
        name = body.get("metadata", {}).get("name")
        self.calls.append(("create", resource.plural, namespace, name))
        if not name:
            raise ApiError(422, "Invalid", "metadata.name: Required value")
        key = self._key(resource, namespace, name)
        if key in self.objects:
            raise Conflict(409, "AlreadyExists", f'{resource.plural} "{name}" already exists')
        obj = self._stamp(copy.deepcopy(body), resource, namespace)
        self.objects[key] = obj
        return copy.deepcopy(obj)

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: JsonDict) -> JsonDict:
        self.calls.append(("replace", resource.plural, namespace, name))
        key = self._key(resource, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise NotFound(404, "NotFound", f'{resource.plural} "{name}" not found')
        sent_version = body.get("metadata", {}).get("resourceVersion")
        if sent_version and sent_version != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", f'{resource.plural} "{name}" was modified')
        obj = copy.deepcopy(body)
        obj.setdefault("metadata", {})["uid"] = current["metadata"]["uid"]
        obj["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"]
        self.objects[key] = self._stamp(obj, resource, namespace)
        return copy.deepcopy(self.objects[key])

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: JsonDict,
        *,
        subresource: str | None = None,
    ) -> JsonDict:
        self.calls.append(("patch" if not subresource else f"patch/{subresource}", resource.plural, namespace, name))
        key = self._key(resource, namespace, name)
        current = self.objects.get(key)
        if current is None:
            raise NotFound(404, "NotFound", f'{resource.plural} "{name}" not found')
        expected = (patch.get("metadata") or {}).get("resourceVersion")
        if expected and expected != current["metadata"]["resourceVersion"]:
            raise Conflict(409, "Conflict", f'{resource.plural} "{name}" was modified: resourceVersion precondition')
        self.objects[key] = self._stamp(merge_patch(current, patch), resource, namespace)
        return copy.deepcopy(self.objects[key])

    async def delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        self.calls.append(("delete", resource.plural, namespace, name))
        if self.objects.pop(self._key(resource, namespace, name), None) is None:
            raise NotFound(404, "NotFound", f'{resource.plural} "{name}" not found')
