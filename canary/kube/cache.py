"""Watched objects kept in memory, and a :class:`KubeApi` that reads them from there.

The controller watches its Canaries and the Deployments they name; the watch
events fill a :class:`WatchCache`. :class:`CachedApi` wraps the real API:
``get`` of a watched kind answers from the cache (falling back to the API on a
miss, so a cache that has not seen an object yet is never taken for "not
found"), and every write goes to the API, keeps its ``resourceVersion``
precondition, and stores the answer (write-through), so the next tick reads
what this one wrote even before the watch echoes it. Everything else passes
through unchanged.
"""

from __future__ import annotations

import copy

from canary.kube.api import JsonDict, KubeApi, Resource

__all__ = ["CachedApi", "WatchCache", "newer"]

Key = tuple[str, str, str]  # (plural.group, namespace, name)


def _kind(resource: Resource) -> str:
    return f"{resource.plural}.{resource.group}"


def _version(obj: JsonDict) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def newer(candidate: str, current: str) -> bool:
    """Whether ``candidate`` is a later resourceVersion than ``current`` (numeric ones compared as numbers).

    Kubernetes calls them opaque, but they come from one counter per API
    server (etcd's revision): comparing them keeps a lagging watch event from
    overwriting what a write of ours already stored. Non-numeric ones count
    as newer whenever they differ.
    """
    if not current:
        return True
    if candidate.isdigit() and current.isdigit():
        return int(candidate) > int(current)
    return candidate != current


class WatchCache:
    """The latest version seen of each watched object, by kind, namespace and name."""

    def __init__(self, kinds: tuple[Resource, ...]) -> None:
        self.kinds = frozenset(_kind(r) for r in kinds)
        self._objects: dict[Key, JsonDict] = {}

    def watches(self, resource: Resource) -> bool:
        """Whether objects of ``resource`` are kept here."""
        return _kind(resource) in self.kinds

    def lookup(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        """The cached object (not a copy: do not change it), None when not cached."""
        return self._objects.get((_kind(resource), namespace or "", name))

    def store(self, resource: Resource, obj: JsonDict) -> bool:
        """Keep ``obj`` unless an as-new version is kept already; answers whether it was news."""
        meta = obj.get("metadata") or {}
        key = (_kind(resource), str(meta.get("namespace") or ""), str(meta.get("name") or ""))
        current = self._objects.get(key)
        if current is not None and not newer(_version(obj), _version(current)):
            return False
        self._objects[key] = obj
        return True

    def drop(self, resource: Resource, namespace: str | None, name: str) -> None:
        """Forget a deleted object."""
        self._objects.pop((_kind(resource), namespace or "", name), None)

    def __len__(self) -> int:
        return len(self._objects)


class CachedApi:
    """:class:`KubeApi` reading watched kinds from a :class:`WatchCache`, writing through to the API and the cache."""

    def __init__(self, api: KubeApi, cache: WatchCache) -> None:
        self.api = api
        self.cache = cache

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        if self.cache.watches(resource):
            cached = self.cache.lookup(resource, namespace, name)
            if cached is not None:
                return copy.deepcopy(cached)
            found = await self.api.get(resource, namespace, name)
            if found is not None:
                self.cache.store(resource, copy.deepcopy(found))
            return found
        return await self.api.get(resource, namespace, name)

    async def list(
        self, resource: Resource, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonDict]:
        return await self.api.list(resource, namespace, label_selector)

    def _keep(self, resource: Resource, obj: JsonDict) -> JsonDict:
        if self.cache.watches(resource) and isinstance(obj, dict) and obj.get("metadata"):
            self.cache.store(resource, copy.deepcopy(obj))
        return obj

    async def create(self, resource: Resource, namespace: str | None, body: JsonDict) -> JsonDict:
        return self._keep(resource, await self.api.create(resource, namespace, body))

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: JsonDict) -> JsonDict:
        return self._keep(resource, await self.api.replace(resource, namespace, name, body))

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: JsonDict,
        *,
        subresource: str | None = None,
    ) -> JsonDict:
        return self._keep(resource, await self.api.patch(resource, namespace, name, patch, subresource=subresource))

    async def delete(self, resource: Resource, namespace: str | None, name: str) -> None:
        await self.api.delete(resource, namespace, name)
        if self.cache.watches(resource):
            self.cache.drop(resource, namespace, name)
