"""Create, adopt, update and give back the objects a router manages.

The rules every router follows, in one place:

- an object that does not exist is created with an owner reference to the
  Canary (``controller: true``), so Kubernetes deletes it with the Canary;
- an object that exists without a controller is *adopted*: its spec is kept
  in the ``canary.dev/original-spec`` annotation (and the adopting Canary in
  ``canary.dev/adopted-by``), no owner reference is added so deleting the
  Canary never deletes a user's object;
- an object controlled by something else (another Canary, another operator)
  is refused with a clear error: two controllers must not fight over it;
- updates are JSON merge patches computed from the difference between what
  is there and what should be there, carrying ``metadata.resourceVersion``
  so a concurrent change makes the write fail instead of being lost; nothing
  is written when nothing differs;
- on finalize, created objects are deleted and adopted ones get their
  original spec back.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal

from canary.kube.api import Conflict, JsonDict, KubeApi, NotFound, Resource
from canary.models.base import GROUP_VERSION
from canary.routers.base import RoutingError
from canary.routers.names import ORIGINAL_SPEC_ANNOTATION

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = [
    "ADOPTED_BY_ANNOTATION",
    "CANARY_API_VERSION",
    "CONFLICT_ATTEMPTS",
    "Ownership",
    "controller_of",
    "ensure_object",
    "merge_diff",
    "owner_reference",
    "ownership",
    "release_object",
]

ADOPTED_BY_ANNOTATION = "canary.dev/adopted-by"
"""Annotation naming the Canary that adopted an existing object."""

CONFLICT_ATTEMPTS = 3
"""How many times a write that hit a 409 Conflict is redone from a fresh read."""

CANARY_API_VERSION = GROUP_VERSION
"""``apiVersion`` of the Canary in the owner references we write."""
CANARY_KIND = "Canary"

Ownership = Literal["created", "adopted", "unowned", "foreign"]
"""How an existing object relates to a Canary (see :func:`ownership`)."""

Path = tuple[str, ...]


def owner_reference(canary: Canary) -> JsonDict:
    """The controller owner reference that ties an object to the Canary (and its garbage collection)."""
    uid = canary.metadata.uid
    if not uid:
        raise RoutingError(
            f"Canary {canary.metadata.namespace}/{canary.metadata.name} has no metadata.uid: "
            "routers need the Canary as stored by the API server"
        )
    return {
        "apiVersion": CANARY_API_VERSION,
        "kind": CANARY_KIND,
        "name": canary.metadata.name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def controller_of(obj: JsonDict) -> JsonDict | None:
    """The owner reference that controls ``obj`` (Kubernetes allows one), or None."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return dict(ref)
    return None


def ownership(obj: JsonDict, canary: Canary) -> Ownership:
    """How ``obj`` relates to ``canary``.

    ``created``: its controller is this Canary (matched by kind and name, as
    Flagger does, so a Canary deleted and re-applied keeps its objects);
    ``adopted``: this Canary took it over; ``unowned``: nobody controls it,
    free to adopt; ``foreign``: another controller or Canary holds it.
    """
    controller = controller_of(obj)
    annotations = obj.get("metadata", {}).get("annotations") or {}
    if controller is not None:
        group = str(controller.get("apiVersion", "")).split("/", 1)[0]
        mine = (
            controller.get("kind") == CANARY_KIND
            and group == CANARY_API_VERSION.split("/", 1)[0]
            and controller.get("name") == canary.metadata.name
        )
        return "created" if mine else "foreign"
    adopter = annotations.get(ADOPTED_BY_ANNOTATION)
    if adopter is not None:
        return "adopted" if adopter == canary.metadata.name else "foreign"
    return "unowned"


def _describe(resource: Resource, namespace: str | None, name: str) -> str:
    return f"{resource.kind} {namespace}/{name}" if namespace else f"{resource.kind} {name}"


def merge_diff(current: Any, target: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns ``current`` into ``target``.

    Dicts are diffed key by key (a key missing from ``target`` becomes
    ``null``); anything else, lists included, is replaced whole when it
    differs. ``target`` must not contain ``None`` values, which a merge patch
    cannot express.
    """
    if not isinstance(current, dict) or not isinstance(target, dict):
        return copy.deepcopy(target)
    patch: dict[str, Any] = {}
    for key in current:
        if key not in target:
            patch[key] = None
    for key, value in target.items():
        if key not in current:
            patch[key] = copy.deepcopy(value)
        elif current[key] != value:
            if isinstance(current[key], dict) and isinstance(value, dict):
                patch[key] = merge_diff(current[key], value)
            else:
                patch[key] = copy.deepcopy(value)
    return patch


def _get_path(obj: JsonDict, path: Path) -> Any:
    node: Any = obj
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set_path(obj: JsonDict, path: Path, value: Any) -> None:
    node = obj
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = copy.deepcopy(value)


def _target_of(current: JsonDict, desired: JsonDict, managed: Sequence[Path]) -> JsonDict:
    """``current`` with the managed parts of ``desired`` applied (labels and annotations merged)."""
    target = copy.deepcopy(current)
    meta = target.setdefault("metadata", {})
    for part in ("labels", "annotations"):
        wanted = desired.get("metadata", {}).get(part) or {}
        if wanted:
            meta[part] = {**(meta.get(part) or {}), **wanted}
    for path in managed:
        value = _get_path(desired, path)
        if value is not None:
            _set_path(target, path, value)
    return target


async def _write_patch(
    api: KubeApi, resource: Resource, namespace: str, name: str, current: JsonDict, target: JsonDict
) -> JsonDict:
    patch = merge_diff(current, target)
    if not patch:
        return current
    version = current.get("metadata", {}).get("resourceVersion")
    if version:
        patch.setdefault("metadata", {})["resourceVersion"] = version
    return await api.patch(resource, namespace, name, patch)


async def ensure_object(
    api: KubeApi,
    canary: Canary,
    resource: Resource,
    desired: JsonDict,
    *,
    managed: Sequence[Path] = (("spec",),),
    adjust: Callable[[JsonDict, JsonDict], JsonDict] | None = None,
) -> JsonDict:
    """Make the object described by ``desired`` exist as described; answer the object as stored.

    ``desired`` is a whole object (``metadata.name``, labels, annotations,
    ``spec``): it is created as is when missing. When the object exists only
    the ``managed`` paths are made equal to ``desired`` (each one replaced
    whole) and ``desired``'s labels and annotations merged in; everything
    else (fields the API server or other tools set) is left alone.
    ``adjust(desired, current)``, when given, may rework ``desired`` in the
    light of the existing object before it is compared.

    A write that loses a race (409: created or changed meanwhile) is redone
    from a fresh read, up to :data:`CONFLICT_ATTEMPTS` times.
    """
    for attempt in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            return await _ensure_once(api, canary, resource, desired, managed, adjust)
        except Conflict:
            if attempt == CONFLICT_ATTEMPTS:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def _ensure_once(
    api: KubeApi,
    canary: Canary,
    resource: Resource,
    desired: JsonDict,
    managed: Sequence[Path],
    adjust: Callable[[JsonDict, JsonDict], JsonDict] | None,
) -> JsonDict:
    namespace = canary.metadata.namespace or "default"
    name = desired["metadata"]["name"]
    current = await api.get(resource, namespace, name)
    if current is None:
        body = copy.deepcopy(desired)
        body.setdefault("apiVersion", resource.api_version)
        body.setdefault("kind", resource.kind)
        body["metadata"]["namespace"] = namespace
        body["metadata"]["ownerReferences"] = [owner_reference(canary)]
        return await api.create(resource, namespace, body)

    relation = ownership(current, canary)
    if relation == "foreign":  # (before reading anything of it: someone else's object may be any shape)
        controller = controller_of(current)
        holder = (
            f"{controller.get('kind')} {controller.get('name')} ({controller.get('apiVersion')})"
            if controller is not None
            else f"Canary {(current['metadata'].get('annotations') or {}).get(ADOPTED_BY_ANNOTATION)}"
        )
        raise RoutingError(
            f"{_describe(resource, namespace, name)} is controlled by {holder}; "
            f"Canary {canary.metadata.name} refuses to take it over"
        )
    if adjust is not None:
        desired = adjust(copy.deepcopy(desired), current)
    target = _target_of(current, desired, managed)
    if relation == "unowned":
        annotations = target["metadata"].setdefault("annotations", {})
        saved = (current["metadata"].get("annotations") or {}).get(ORIGINAL_SPEC_ANNOTATION)
        # (a spec saved at an earlier adoption is the one to give back: this one may already be ours)
        original = current.get("spec") or {}
        if not _spec_text(saved):
            saved = json.dumps(original, sort_keys=True, separators=(",", ":"))
        annotations[ORIGINAL_SPEC_ANNOTATION] = saved
        annotations[ADOPTED_BY_ANNOTATION] = str(canary.metadata.name)
    if relation == "created":
        # A Canary deleted and re-created under the same name gets a new uid.
        refs = current["metadata"].get("ownerReferences") or []
        wanted = owner_reference(canary)
        if not any(ref.get("uid") == wanted["uid"] for ref in refs):
            target["metadata"]["ownerReferences"] = [ref for ref in refs if not ref.get("controller")] + [wanted]
    return await _write_patch(api, resource, namespace, name, current, target)


def _spec_text(text: Any) -> bool:
    """Whether ``text`` is a saved spec that can be given back: a JSON object."""
    try:
        return isinstance(text, str) and isinstance(json.loads(text), dict)
    except json.JSONDecodeError:
        return False


async def release_object(api: KubeApi, canary: Canary, resource: Resource, name: str) -> None:
    """Finalize one object: delete it if this Canary created it, restore it if it was adopted.

    Objects that are missing or that belong to someone else are left alone.
    """
    namespace = canary.metadata.namespace or "default"
    current = await api.get(resource, namespace, name)
    if current is None:
        return
    relation = ownership(current, canary)
    if relation == "created":
        with contextlib.suppress(NotFound):
            await api.delete(resource, namespace, name)
        return
    if relation != "adopted":
        return
    annotations = current.get("metadata", {}).get("annotations") or {}
    stored = annotations.get(ORIGINAL_SPEC_ANNOTATION)
    target = copy.deepcopy(current)
    if stored is not None:
        try:
            original = json.loads(stored)
        except json.JSONDecodeError as error:
            original, problem = None, f"is not valid JSON ({error})"
        else:
            problem = f"is not a JSON object (got {type(original).__name__})"
        if not isinstance(original, dict):
            raise RoutingError(
                f"{_describe(resource, namespace, name)}: annotation {ORIGINAL_SPEC_ANNOTATION} "
                f"{problem}; cannot restore its original spec"
            )
        target["spec"] = original
    kept = {
        key: value for key, value in annotations.items() if key not in (ORIGINAL_SPEC_ANNOTATION, ADOPTED_BY_ANNOTATION)
    }
    if kept:
        target["metadata"]["annotations"] = kept
    else:
        target["metadata"].pop("annotations", None)
    await _write_patch(api, resource, namespace, name, current, target)
