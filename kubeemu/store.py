"""The state of the emulated API server: objects, resource versions, watches, CRDs, namespaces.

:class:`ObjectStore` is synchronous and single-threaded: the HTTP layer calls
it from one event loop. Objects are indexed by group resource, then by
``(namespace, name)``; every committed change takes the next value of one
global ``resourceVersion`` counter (as etcd's revision does) and is appended to
a bounded per-resource history, from which watches resume after any
``resourceVersion`` without losing events.

Stored objects are never mutated after they are committed, so watch events
and responses can share them.
"""

from __future__ import annotations

import asyncio
import collections
import copy
import dataclasses
import datetime
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from kubeemu.fieldmanager import track_update
from kubeemu.model import (
    BUILTIN_RESOURCES,
    FieldSelector,
    JsonDict,
    LabelSelector,
    ResourceType,
    StatusError,
    resource_types_from_crd,
    sort_versions,
)
from kubeemu.patch import PatchError, apply_patch
from kubeemu.schema import SchemaViolation, prune_and_default, validate
from kubeemu.validation import builtin_schema, name_errors, prune_unknown, unknown_fields

__all__ = ["SYSTEM_NAMESPACES", "ObjectStore", "UnknownFieldsHook", "WatchEvent", "Watcher"]

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_CRD = ("apiextensions.k8s.io", "customresourcedefinitions")
_NAMESPACES = ("", "namespaces")

# Told the unknown fields of an object about to be stored (and the object): raises to refuse, or records warnings.
UnknownFieldsHook = Callable[[list[str], JsonDict], None]
GroupResource = tuple[str, str]
ObjectKey = tuple[str, str]  # (namespace or "", name)


@dataclasses.dataclass(frozen=True)
class WatchEvent:
    """One committed change: ``ADDED``, ``MODIFIED`` or ``DELETED``, with the states around it."""

    type: str
    rv: int
    old: JsonDict | None
    new: JsonDict


@dataclasses.dataclass(eq=False)
class Watcher:
    """A live subscription to one group resource; events arrive in :attr:`queue` (``None`` = closed)."""

    group_resource: GroupResource
    queue: asyncio.Queue[WatchEvent | None] = dataclasses.field(default_factory=asyncio.Queue)


def _now() -> str:
    return datetime.datetime.now(tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: JsonDict) -> JsonDict:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _meta_fields(obj: JsonDict) -> JsonDict:
    """The metadata a write can change, without the ownership record."""
    return _without(obj.get("metadata") or {}, "managedFields", "resourceVersion")


def _without(obj: JsonDict, *keys: str) -> JsonDict:
    return {key: value for key, value in obj.items() if key not in keys}


class ObjectStore:
    """In-memory objects of all served resources, with Kubernetes' write semantics.

    ``require_namespaces``: refuse (404) namespaced objects in a namespace
    that does not exist, as a real cluster does. ``validate_schemas``: prune,
    default and validate custom resources with their CRD's schema, as a real
    cluster does (see :mod:`kubeemu.schema`).
    """

    def __init__(
        self,
        *,
        history_size: int = 20_000,
        require_namespaces: bool = True,
        validate_schemas: bool = True,
        clock: Callable[[], str] = _now,
    ) -> None:
        self.require_namespaces = require_namespaces
        self.validate_schemas = validate_schemas
        self._clock = clock
        self._history_size = history_size
        self._types: dict[tuple[str, str, str], ResourceType] = {}
        self._objects: dict[GroupResource, dict[ObjectKey, JsonDict]] = collections.defaultdict(dict)
        self._history: dict[GroupResource, collections.deque[WatchEvent]] = {}
        self._floor: dict[GroupResource, int] = collections.defaultdict(int)
        self._watchers: dict[GroupResource, set[Watcher]] = collections.defaultdict(set)
        self._ns_counts: collections.Counter[str] = collections.Counter()
        self._rv = 0
        self._ip = 0
        for rt in BUILTIN_RESOURCES:
            self._types[(rt.group, rt.version, rt.plural)] = rt

    # --- resource types ------------------------------------------------------------------------

    @property
    def resource_version(self) -> int:
        """The latest committed resourceVersion."""
        return self._rv

    def now(self) -> str:
        """The store's clock, as timestamps in objects read it."""
        return self._clock()

    def types(self) -> list[ResourceType]:
        """All served resource types (all versions)."""
        return list(self._types.values())

    def resolve(self, group: str, version: str, plural: str) -> ResourceType:
        """The served type for a URL's group, version and plural; 404 if none."""
        rt = self._types.get((group, version, plural))
        if rt is None:
            raise StatusError.no_resource()
        return rt

    def find_type(self, api_version: str, kind: str) -> ResourceType | None:
        """The served type for an object's ``apiVersion`` and ``kind``, if any."""
        for rt in self._types.values():
            if rt.api_version == api_version and rt.kind == kind:
                return rt
        return None

    def preferred_versions(self) -> dict[str, list[str]]:
        """Served versions of every group, most preferred first (core group under "")."""
        groups: dict[str, set[str]] = collections.defaultdict(set)
        for group, version, _ in self._types:
            groups[group].add(version)
        return {group: sort_versions(versions) for group, versions in sorted(groups.items())}

    # --- reading -------------------------------------------------------------------------------

    def _relabel(self, rt: ResourceType, obj: JsonDict) -> JsonDict:
        if obj.get("apiVersion") == rt.api_version:
            return obj
        return {**obj, "apiVersion": rt.api_version}

    def _key(self, rt: ResourceType, namespace: str | None, name: str) -> ObjectKey:
        return ((namespace or "") if rt.namespaced else "", name)

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> JsonDict:
        """The object, or 404."""
        obj = self._objects[rt.group_resource].get(self._key(rt, namespace, name))
        if obj is None:
            raise StatusError.not_found(rt, name)
        return self._relabel(rt, obj)

    def iter_objects(self, rt: ResourceType, namespace: str | None = None) -> Iterator[JsonDict]:
        """Objects of a resource in a namespace (all namespaces if None), unordered."""
        for (ns, _), obj in self._objects[rt.group_resource].items():
            if namespace is None or not rt.namespaced or ns == namespace:
                yield self._relabel(rt, obj)

    def list_objects(
        self, rt: ResourceType, namespace: str | None, labels: LabelSelector, fields: FieldSelector
    ) -> tuple[list[JsonDict], int]:
        """Matching objects sorted by namespace and name, and the list's resourceVersion."""
        items = [obj for obj in self.iter_objects(rt, namespace) if labels.matches(obj) and fields.matches(obj)]
        items.sort(key=lambda obj: (obj["metadata"].get("namespace", ""), obj["metadata"]["name"]))
        return items, self._rv

    # --- watching ------------------------------------------------------------------------------

    def watch(self, rt: ResourceType, since: int | None) -> tuple[list[WatchEvent], Watcher]:
        """Subscribe to a resource; return the events to send first and the live watcher.

        With ``since`` None, the first events are ``ADDED`` for the current
        objects; otherwise they are the recorded changes after ``since`` (410
        Gone if the history no longer reaches back that far). Subscription and
        snapshot happen in one step, so no change falls between them.
        """
        gr = rt.group_resource
        if since is None:
            initial = [
                WatchEvent("ADDED", int(obj["metadata"]["resourceVersion"]), None, obj)
                for obj in self._objects[gr].values()
            ]
            initial.sort(key=lambda event: event.rv)
        else:
            if since < self._floor[gr]:
                raise StatusError(410, "Expired", f"too old resource version: {since} ({self._floor[gr]})")
            initial = [event for event in self._history.get(gr, ()) if event.rv > since]
        watcher = Watcher(gr)
        self._watchers[gr].add(watcher)
        return initial, watcher

    def unwatch(self, watcher: Watcher) -> None:
        """Stop delivering events to a watcher."""
        self._watchers[watcher.group_resource].discard(watcher)

    def watcher_count(self) -> int:
        """How many watches are live (a closed connection must not leave one behind)."""
        return sum(len(watchers) for watchers in self._watchers.values())

    def close_watchers(self) -> None:
        """End every live watch (used on shutdown)."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.queue.put_nowait(None)
            watchers.clear()

    # --- committing ----------------------------------------------------------------------------

    def _commit(self, rt: ResourceType, kind: str, old: JsonDict | None, new: JsonDict) -> JsonDict:
        gr = rt.group_resource
        self._rv += 1
        meta = _meta(new)
        meta["resourceVersion"] = str(self._rv)
        key = (meta.get("namespace", ""), meta["name"])
        if kind == "DELETED":
            del self._objects[gr][key]
            if key[0]:
                self._ns_counts[key[0]] -= 1
        else:
            if old is None and key[0]:
                self._ns_counts[key[0]] += 1
            self._objects[gr][key] = new
        history = self._history.setdefault(gr, collections.deque())
        if len(history) >= self._history_size:
            self._floor[gr] = history.popleft().rv
        event = WatchEvent(kind, self._rv, old, new)
        history.append(event)
        for watcher in self._watchers[gr]:
            watcher.queue.put_nowait(event)
        self._after_commit(rt, event)
        return new

    def _after_commit(self, rt: ResourceType, event: WatchEvent) -> None:
        if rt.group_resource == _CRD:
            self._sync_crd(event)
        if event.type != "DELETED":
            return
        meta = event.new["metadata"]
        namespace = meta.get("namespace")
        if namespace and self._ns_counts[namespace] <= 0:
            self._finish_namespace(namespace)
        self._collect_garbage(meta.get("uid"))

    def _sync_crd(self, event: WatchEvent) -> None:
        old_types = resource_types_from_crd(event.old) if event.old else []
        new_types = [] if event.type == "DELETED" else resource_types_from_crd(event.new)
        for rt in old_types:
            self._types.pop((rt.group, rt.version, rt.plural), None)
        for rt in new_types:
            self._types[(rt.group, rt.version, rt.plural)] = rt
        if event.type == "DELETED" and old_types:
            rt = old_types[0]
            for obj in list(self._objects[rt.group_resource].values()):
                self._commit(rt, "DELETED", obj, copy.deepcopy(obj))

    def _finish_namespace(self, namespace: str) -> None:
        ns_type = self.resolve("", "v1", "namespaces")
        ns = self._objects[_NAMESPACES].get(("", namespace))
        if ns is not None and ns["metadata"].get("deletionTimestamp") and not ns["metadata"].get("finalizers"):
            self._commit(ns_type, "DELETED", ns, copy.deepcopy(ns))

    def _collect_garbage(self, uid: str | None) -> None:
        """Delete (or release) the dependents of a removed owner, as the garbage collector does."""
        if not uid:
            return
        for (group, plural), objects in list(self._objects.items()):
            rt = next((t for t in self._types.values() if t.group_resource == (group, plural)), None)
            if rt is None:
                continue
            for obj in list(objects.values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if not any(ref.get("uid") == uid for ref in refs):
                    continue
                remaining = [ref for ref in refs if ref.get("uid") != uid]
                meta = obj["metadata"]
                if remaining:
                    new = copy.deepcopy(obj)
                    new["metadata"]["ownerReferences"] = remaining
                    self._commit(rt, "MODIFIED", obj, new)
                elif not meta.get("deletionTimestamp"):
                    self._delete(rt, obj)

    # --- writing -------------------------------------------------------------------------------

    def _check_namespace(self, rt: ResourceType, namespace: str) -> None:
        if not rt.namespaced or not self.require_namespaces:
            return
        ns = self._objects[_NAMESPACES].get(("", namespace))
        if ns is None:
            raise StatusError(
                404, "NotFound", f'namespaces "{namespace}" not found', {"name": namespace, "kind": "namespaces"}
            )
        if ns["metadata"].get("deletionTimestamp"):
            raise StatusError(
                403,
                "Forbidden",
                f"unable to create new content in namespace {namespace} because it is being terminated",
            )

    def _default(self, rt: ResourceType, obj: JsonDict) -> None:
        """Server-side defaults a real API server would fill in."""
        meta = obj["metadata"]
        if rt.group_resource == _NAMESPACES:
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
            obj["status"] = {"phase": "Active"}
        elif rt.group_resource == ("apps", "deployments"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("replicas", 1)
            spec.setdefault("revisionHistoryLimit", 10)
            spec.setdefault("progressDeadlineSeconds", 600)
        elif rt.group_resource == ("", "services"):
            spec = obj.setdefault("spec", {})
            spec.setdefault("type", "ClusterIP")
            if spec["type"] != "ExternalName" and not spec.get("clusterIP"):
                self._ip += 1
                spec["clusterIP"] = f"10.96.{self._ip // 250}.{self._ip % 250 + 1}"
                spec["clusterIPs"] = [spec["clusterIP"]]
        elif rt.group_resource == _CRD:
            try:
                resource_types_from_crd(obj)
            except (ValueError, KeyError, TypeError) as exc:
                raise StatusError.invalid(rt, meta["name"], str(exc)) from None
            names = (obj.get("spec") or {}).get("names") or {}
            obj["status"] = {
                "acceptedNames": names,
                "storedVersions": [v["name"] for v in obj["spec"].get("versions") or [] if v.get("storage")],
                "conditions": [
                    {
                        "type": "NamesAccepted",
                        "status": "True",
                        "reason": "NoConflicts",
                        "lastTransitionTime": self._clock(),
                    },
                    {
                        "type": "Established",
                        "status": "True",
                        "reason": "InitialNamesAccepted",
                        "lastTransitionTime": self._clock(),
                    },
                ],
            }

    def _conform(self, rt: ResourceType, obj: JsonDict, unknown: UnknownFieldsHook | None = None) -> JsonDict:
        """Report and drop unknown fields, then default and validate a custom resource with its schema (422).

        ``unknown`` is told the fields the kind's schema does not declare
        before they are dropped (kube-apiserver's ``fieldValidation``).
        """
        if not self.validate_schemas:
            return obj
        schema = rt.schema if rt.custom else builtin_schema(rt)
        if unknown is not None:
            found = unknown_fields(obj, schema)
            if found:
                unknown(found, obj)
        obj = prune_unknown(obj, None if rt.custom else schema)
        if not rt.custom or not rt.schema:
            return obj
        obj = prune_and_default(obj, rt.schema)
        try:
            validate(obj, rt.schema)
        except SchemaViolation as exc:
            raise StatusError.invalid(rt, obj["metadata"].get("name", ""), str(exc), exc.causes) from None
        return obj

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        *,
        dry_run: bool = False,
        unknown: UnknownFieldsHook | None = None,
        manager: str | None = None,
    ) -> JsonDict:
        """Create an object (POST); the stored object, or 409 AlreadyExists, 422 (a bad name...), 404 namespace.

        ``manager`` is the field manager the create is recorded for in
        ``metadata.managedFields`` (None: keep the body's, as server-side apply does).
        """
        if not isinstance(body, dict):
            raise StatusError.bad_request("the request body must be a JSON object")
        obj = copy.deepcopy(body)
        meta = _meta(obj)
        if obj.get("kind", rt.kind) != rt.kind or obj.get("apiVersion", rt.api_version) != rt.api_version:
            raise StatusError.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the expected API "
                f"version ({rt.api_version}) or kind ({rt.kind})"
            )
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + secrets.token_hex(3)[:5]
        name = meta.get("name")
        if not name:
            raise StatusError.invalid(rt, "", "metadata.name: Required value: name or generateName is required")
        if not isinstance(name, str):
            raise StatusError.bad_request("metadata.name must be a string")
        causes = name_errors(rt, name)
        if causes:
            raise StatusError.invalid(rt, name, "", causes)
        if meta.get("resourceVersion"):
            raise StatusError.bad_request("resourceVersion should not be set on objects to be created")
        if rt.namespaced:
            body_ns = meta.get("namespace")
            if namespace and body_ns and body_ns != namespace:
                raise StatusError.bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            namespace = namespace or body_ns or "default"
            meta["namespace"] = namespace
            self._check_namespace(rt, namespace)
        else:
            meta.pop("namespace", None)
        if self._key(rt, namespace, name) in self._objects[rt.group_resource]:
            raise StatusError.already_exists(rt, name)
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        if "status" in rt.subresources:
            obj.pop("status", None)
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta["uid"] = str(uuid.uuid4())
        meta["creationTimestamp"] = self._clock()
        meta["generation"] = 1
        self._default(rt, obj)
        obj = self._conform(rt, obj, unknown)
        if manager is not None:
            obj["metadata"]["managedFields"] = self._track(rt, None, obj, manager, None)
        if dry_run:
            return obj
        return self._relabel(rt, self._commit(rt, "ADDED", None, obj))

    def _track(
        self, rt: ResourceType, old: JsonDict | None, new: JsonDict, manager: str, subresource: str | None
    ) -> list[JsonDict]:
        """The managedFields after ``manager``'s Update (see :mod:`kubeemu.fieldmanager`)."""
        return track_update(
            old,
            new,
            manager=manager,
            api_version=rt.api_version,
            now=self._clock(),
            schema=rt.schema if rt.custom else builtin_schema(rt),
            subresource=subresource,
            status_split="status" in rt.subresources,
        )

    def _finish_write(
        self,
        rt: ResourceType,
        old: JsonDict,
        new: JsonDict,
        *,
        subresource: str | None,
        dry_run: bool,
        unknown: UnknownFieldsHook | None = None,
        manager: str | None = None,
    ) -> JsonDict:
        """Keep immutable fields, honour the status subresource, bump generation, commit if changed."""
        name = old["metadata"]["name"]
        if not isinstance(new.get("metadata"), dict):
            raise StatusError.invalid(rt, name, "metadata: Required value")
        requested_rv = new["metadata"].get("resourceVersion")
        new = copy.deepcopy(new)
        if subresource == "status":
            new = {**old, "status": new.get("status")}
            if new["status"] is None:
                del new["status"]
            new = copy.deepcopy(new)
        elif "status" in rt.subresources:
            new.pop("status", None)
            if "status" in old:
                new["status"] = copy.deepcopy(old["status"])
        meta, old_meta = new["metadata"], old["metadata"]
        if requested_rv and requested_rv != old_meta["resourceVersion"]:
            raise StatusError.conflict(rt, name)
        if meta.get("name", name) != name:
            raise StatusError.bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        if rt.namespaced and meta.get("namespace", old_meta["namespace"]) != old_meta["namespace"]:
            raise StatusError.bad_request("the namespace of the object does not match the namespace on the URL")
        for field in (
            "name",
            "namespace",
            "uid",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "resourceVersion",
        ):
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise StatusError.invalid(
                    rt,
                    name,
                    "metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted",
                )
        if not meta.get("finalizers"):
            meta.pop("finalizers", None)
        new = self._conform(rt, new, unknown)
        meta = new["metadata"]
        if manager is not None:
            # Ownership is the server's record: an empty list resets it, anything else sent is not taken.
            sent = meta.get("managedFields")
            meta["managedFields"] = [] if sent == [] else copy.deepcopy(old_meta.get("managedFields") or [])
            if _without(new, "metadata") != _without(old, "metadata") or _meta_fields(new) != _meta_fields(old):
                meta["managedFields"] = self._track(rt, old, new, manager, subresource)
        if not meta.get("managedFields"):
            meta.pop("managedFields", None)
        if _without(new, "metadata", "status") != _without(old, "metadata", "status"):
            meta["generation"] = int(old_meta.get("generation", 1)) + 1
        if rt.group_resource == _CRD:
            try:
                resource_types_from_crd(new)
            except (ValueError, KeyError, TypeError) as exc:
                raise StatusError.invalid(rt, name, str(exc)) from None
        if new == old or dry_run:
            return self._relabel(rt, old if new == old else new)
        if old_meta.get("deletionTimestamp") and not meta.get("finalizers"):
            self._commit(rt, "MODIFIED", old, new)
            return self._relabel(rt, self._commit(rt, "DELETED", new, copy.deepcopy(new)))
        return self._relabel(rt, self._commit(rt, "MODIFIED", old, new))

    def replace(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        unknown: UnknownFieldsHook | None = None,
        manager: str | None = None,
    ) -> JsonDict:
        """Replace an object (PUT), with optimistic concurrency on metadata.resourceVersion."""
        if not isinstance(body, dict):
            raise StatusError.bad_request("the request body must be a JSON object")
        self.get(rt, namespace, name)
        if rt.custom and not (body.get("metadata") or {}).get("resourceVersion"):
            raise StatusError.invalid(
                rt, name, "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update"
            )
        old = self._raw(rt, namespace, name)
        return self._finish_write(
            rt, old, body, subresource=subresource, dry_run=dry_run, unknown=unknown, manager=manager
        )

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str | None = None,
        dry_run: bool = False,
        unknown: UnknownFieldsHook | None = None,
        manager: str | None = None,
    ) -> JsonDict:
        """Patch an object (merge, strategic-merge or JSON patch); 422 if the patch does not apply."""
        self.get(rt, namespace, name)
        old = self._raw(rt, namespace, name)
        try:
            new = apply_patch(self._relabel(rt, old), content_type, patch)
        except PatchError as exc:
            raise StatusError.invalid(rt, name, f"the patch cannot be applied: {exc}") from None
        return self._finish_write(
            rt, old, new, subresource=subresource, dry_run=dry_run, unknown=unknown, manager=manager
        )

    def _raw(self, rt: ResourceType, namespace: str | None, name: str) -> JsonDict:
        return self._objects[rt.group_resource][self._key(rt, namespace, name)]

    def _delete(self, rt: ResourceType, old: JsonDict) -> JsonDict:
        meta = old["metadata"]
        if meta.get("deletionTimestamp"):
            return old
        if meta.get("finalizers") or (rt.group_resource == _NAMESPACES and self._ns_counts[meta["name"]] > 0):
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = self._clock()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            new["metadata"]["generation"] = int(meta.get("generation", 1)) + 1
            if rt.group_resource == _NAMESPACES:
                new["status"] = {"phase": "Terminating"}
            self._commit(rt, "MODIFIED", old, new)
            if rt.group_resource == _NAMESPACES:
                self._empty_namespace(meta["name"])
            return self._objects[rt.group_resource].get(self._key(rt, meta.get("namespace"), meta["name"]), new)
        return self._commit(rt, "DELETED", old, copy.deepcopy(old))

    def _empty_namespace(self, namespace: str) -> None:
        for rt in self._storage_types():
            if rt.namespaced:
                for obj in list(self.iter_objects(rt, namespace)):
                    self._delete(rt, self._raw(rt, namespace, obj["metadata"]["name"]))

    def _storage_types(self) -> Iterable[ResourceType]:
        seen: dict[GroupResource, ResourceType] = {}
        for rt in self._types.values():
            seen.setdefault(rt.group_resource, rt)
        return list(seen.values())

    def delete(
        self, rt: ResourceType, namespace: str | None, name: str, options: Any = None, *, dry_run: bool = False
    ) -> JsonDict:
        """Delete an object; with finalizers, only mark it (deletionTimestamp) until they are removed."""
        self.get(rt, namespace, name)
        old = self._raw(rt, namespace, name)
        preconditions = (options or {}).get("preconditions") or {} if isinstance(options, dict) else {}
        if preconditions.get("uid") and preconditions["uid"] != old["metadata"]["uid"]:
            raise StatusError.conflict(
                rt,
                name,
                f"Precondition failed: UID in precondition: "
                f"{preconditions['uid']}, UID in object meta: {old['metadata']['uid']}",
            )
        if (
            preconditions.get("resourceVersion")
            and preconditions["resourceVersion"] != old["metadata"]["resourceVersion"]
        ):
            raise StatusError.conflict(rt, name)
        if dry_run:
            return self._relabel(rt, old)
        orphan = isinstance(options, dict) and (
            options.get("propagationPolicy") == "Orphan" or options.get("orphanDependents") is True
        )
        if orphan:
            self._release_dependents(old["metadata"]["uid"])
        return self._relabel(rt, self._delete(rt, old))

    def _release_dependents(self, uid: str) -> None:
        for rt in self._storage_types():
            for obj in list(self._objects[rt.group_resource].values()):
                refs = obj["metadata"].get("ownerReferences") or []
                if any(ref.get("uid") == uid for ref in refs):
                    new = copy.deepcopy(obj)
                    new["metadata"]["ownerReferences"] = [ref for ref in refs if ref.get("uid") != uid]
                    if not new["metadata"]["ownerReferences"]:
                        del new["metadata"]["ownerReferences"]
                    self._commit(rt, "MODIFIED", obj, new)

    def delete_collection(
        self, rt: ResourceType, namespace: str | None, labels: LabelSelector, fields: FieldSelector
    ) -> list[JsonDict]:
        """Delete every matching object (DELETE on a list URL); returns their last states."""
        items, _ = self.list_objects(rt, namespace, labels, fields)
        return [self.delete(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"]) for obj in items]
