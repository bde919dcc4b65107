"""Field ownership for server-side apply: ``metadata.managedFields`` in the ``FieldsV1`` format.

kube-apiserver records, per field manager and operation, which fields each
one set (https://kubernetes.io/docs/reference/using-api/server-side-apply/).
An apply owns exactly the fields of its configuration: a field it owned and
no longer sends is removed (unless another manager owns it too), and a field
whose value it would change while another manager owns it is a conflict
(409) unless the apply is forced, which takes the field over. Every other
write (create, update, patch) is an ``Update`` operation: its manager takes
the fields it changed, from whoever owned them.

Paths are tuples of FieldsV1 keys: ``f:<field>`` for a field,
``k:{"name":"app"}`` for an item of a list keyed by a merge key, ``v:<json>``
for an item of a set (``finalizers``). A list that is neither (``args``) is
atomic: owned as a whole. Which lists are keyed comes from the schema when
there is one (``x-kubernetes-list-type``, ``x-kubernetes-list-map-keys``) and
otherwise from the built-in kinds' merge keys (:data:`kubeemu.patch.MERGE_KEYS`).

Not modelled: structured-merge-diff's type-aware conversions between API
versions, ``x-kubernetes-map-type: granular`` versus ``atomic`` maps other
than what the schema says, field-level ``$patch`` directives in an applied
configuration, and the reset of managers whose fields are all removed by
someone else's Update (kube-apiserver keeps an empty entry; here it goes).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from kubeemu.model import JsonDict, StatusError
from kubeemu.patch import MERGE_KEYS, MERGED_PRIMITIVE_LISTS
from kubeemu.validation import deref

__all__ = [
    "Path",
    "apply",
    "field_set",
    "from_fields_v1",
    "manager_name",
    "path_text",
    "to_fields_v1",
    "track_update",
]

Path = tuple[str, ...]
MAP_NODE = "<map>"  # the value field_set gives a map's own node (its path ends with ".")
# Fields no manager owns: identity and server-managed metadata, and the other half of a status subresource.
_STRIPPED: tuple[Path, ...] = (
    ("f:apiVersion",),
    ("f:kind",),
    ("f:metadata", "f:name"),
    ("f:metadata", "f:namespace"),
    ("f:metadata", "f:uid"),
    ("f:metadata", "f:resourceVersion"),
    ("f:metadata", "f:generation"),
    ("f:metadata", "f:creationTimestamp"),
    ("f:metadata", "f:deletionTimestamp"),
    ("f:metadata", "f:deletionGracePeriodSeconds"),
    ("f:metadata", "f:managedFields"),
    ("f:metadata", "f:selfLink"),
)


def manager_name(field_manager: str | None, user_agent: str) -> str:
    """The manager of a write: ``fieldManager``, else the user agent up to its first ``/`` (as kube-apiserver)."""
    if field_manager:
        return field_manager
    return user_agent.split("/", 1)[0][:128] or "unknown"


# --- field sets ---------------------------------------------------------------------------------


def _list_keys(field: str, schema: Mapping[str, Any] | None, items: list[Any]) -> tuple[str, ...] | str | None:
    """A list's merge keys, ``"set"`` for a set of scalars, or None for an atomic list."""
    if schema is not None:
        list_type = schema.get("x-kubernetes-list-type")
        if list_type == "map":
            return tuple(schema.get("x-kubernetes-list-map-keys") or ())
        if list_type == "set":
            return "set"
        if list_type == "atomic":
            return None
        merge_key = schema.get("x-kubernetes-patch-merge-key")
        if merge_key and schema.get("x-kubernetes-patch-strategy", "").startswith("merge"):
            return (str(merge_key),)
    if field in MERGED_PRIMITIVE_LISTS:
        return "set"
    key = MERGE_KEYS.get(field)
    if key is None or not all(isinstance(item, dict) for item in items):
        return None
    candidates = key.split("|")
    return (next((c for c in candidates if any(c in item for item in items)), candidates[-1]),)


def _item_key(item: Any, keys: tuple[str, ...] | str) -> str:
    if keys == "set":
        return "v:" + json.dumps(item, separators=(",", ":"))
    fields = {key: item.get(key) for key in keys if isinstance(item, dict) and key in item}
    return "k:" + json.dumps(fields, separators=(",", ":"), sort_keys=True)


def _child(schema: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    if schema is None:
        return None
    properties = schema.get("properties") or {}
    sub = properties.get(key)
    if sub is None and isinstance(schema.get("additionalProperties"), Mapping):
        sub = schema["additionalProperties"]
    return deref(sub) if isinstance(sub, Mapping) else None


def _walk(value: Any, schema: Mapping[str, Any] | None, path: Path, field: str, out: dict[Path, Any]) -> None:
    """Add every owned path under ``value`` to ``out``, mapped to its value (lists items map to the item).

    A map (a schema's ``additionalProperties``, not a struct) is there too, as
    its path and ``"."`` mapped to :data:`MAP_NODE`, for the Updates that create it.
    """
    if (
        isinstance(value, dict)
        and value
        and not (schema is not None and schema.get("x-kubernetes-map-type") == "atomic")
    ):
        if schema is not None and isinstance(schema.get("additionalProperties"), Mapping):
            out[(*path, ".")] = MAP_NODE
        for key, item in value.items():
            _walk(item, _child(schema, key), (*path, f"f:{key}"), key, out)
        return
    if isinstance(value, list) and value:
        keys = _list_keys(field, schema, value)
        if keys is not None:
            item_schema = (
                deref(schema["items"]) if schema is not None and isinstance(schema.get("items"), Mapping) else None
            )
            for item in value:
                item_path = (*path, _item_key(item, keys))
                out[item_path] = item
                if keys != "set" and isinstance(item, dict):
                    for key, sub in item.items():
                        _walk(sub, _child(item_schema, key), (*item_path, f"f:{key}"), key, out)
            return
    out[path] = value


def field_set(
    obj: JsonDict, schema: Mapping[str, Any] | None, *, status: bool | None = None, maps: bool = False
) -> dict[Path, Any]:
    """The owned paths of an object (or applied configuration), each with its value.

    ``status``: None keeps everything, True keeps only ``status``, False drops it
    (a main-resource write of a kind with a status subresource). ``maps``: include
    the nodes of maps (paths ending in ``"."``, mapped to :data:`MAP_NODE`).
    """
    out: dict[Path, Any] = {}
    root = deref(schema) if schema else None
    for key, value in obj.items():
        _walk(value, _child(root, key), (f"f:{key}",), key, out)
    result = {}
    for path, value in out.items():
        if path[-1] == "." and not maps:
            continue
        if any(path[: len(stripped)] == stripped for stripped in _STRIPPED):
            continue
        if status is not None and (path[0] == "f:status") != status:
            continue
        result[path] = value
    return result


def to_fields_v1(paths: Iterable[Path]) -> JsonDict:
    """The FieldsV1 tree of a set of paths (``.`` marks an owned node that has owned children too)."""
    tree: JsonDict = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(part, {})
        node["."] = {}
    return _tidy(tree)


def _tidy(node: JsonDict) -> JsonDict:
    children = {key: _tidy(value) for key, value in node.items() if key != "."}
    if not children:
        return {}
    return {**({".": {}} if "." in node else {}), **children}


def from_fields_v1(tree: Mapping[str, Any], prefix: Path = ()) -> set[Path]:
    """The paths a FieldsV1 tree holds."""
    paths: set[Path] = set()
    for key, value in tree.items():
        if key == ".":
            paths.add(prefix)
            continue
        path = (*prefix, key)
        if isinstance(value, Mapping) and value:
            paths |= from_fields_v1(value, path)
        else:
            paths.add(path)
    return paths


def path_text(path: Path) -> str:
    """A path as structured-merge-diff prints it: ``.spec.containers[name="app"].image``."""
    text = ""
    for part in path:
        kind, _, rest = part.partition(":")
        if kind == "f":
            text += f".{rest}"
        elif kind == "k":
            keys = json.loads(rest)
            text += "[" + ",".join(f"{key}={json.dumps(value)}" for key, value in keys.items()) + "]"
        else:
            text += f"[={rest}]"
    return text


# --- managedFields entries ----------------------------------------------------------------------


def _entries(obj: JsonDict) -> list[JsonDict]:
    entries = (obj.get("metadata") or {}).get("managedFields") or []
    return [entry for entry in entries if isinstance(entry, dict)]


def _entry_key(entry: Mapping[str, Any]) -> tuple[str, str, str]:
    return (str(entry.get("manager", "")), str(entry.get("operation", "")), str(entry.get("subresource", "")))


def _entry(manager: str, operation: str, api_version: str, now: str, paths: Iterable[Path], sub: str) -> JsonDict:
    entry: JsonDict = {
        "manager": manager,
        "operation": operation,
        "apiVersion": api_version,
        "time": now,
        "fieldsType": "FieldsV1",
        "fieldsV1": to_fields_v1(paths),
    }
    if sub:
        entry["subresource"] = sub
    return entry


def _owned(entry: Mapping[str, Any]) -> set[Path]:
    fields = entry.get("fieldsV1")
    return from_fields_v1(fields) if isinstance(fields, Mapping) else set()


def _rebuild(
    entries: list[JsonDict], owned: dict[tuple[str, str, str], set[Path]], changed: dict[tuple[str, str, str], JsonDict]
) -> list[JsonDict]:
    """Entries in their order with their new field sets; the emptied ones go, the new or changed ones are given."""
    result = []
    seen = set()
    for entry in entries:
        key = _entry_key(entry)
        seen.add(key)
        if key in changed:
            result.append(changed[key])
        elif owned.get(key):
            result.append({**entry, "fieldsV1": to_fields_v1(owned[key])})
    result += [entry for key, entry in changed.items() if key not in seen]
    return [entry for entry in result if entry.get("fieldsV1")]


def track_update(
    old: JsonDict | None,
    new: JsonDict,
    *,
    manager: str,
    api_version: str,
    now: str,
    schema: Mapping[str, Any] | None,
    subresource: str | None,
    status_split: bool,
) -> list[JsonDict]:
    """The managedFields after an Update (create, update, patch) by ``manager`` turned ``old`` into ``new``."""
    status = None if not status_split else subresource == "status"
    # An Update also owns the maps it creates (their "." in FieldsV1), as kube-apiserver records it.
    before = _nodes(field_set(old, schema, status=status, maps=True)) if old is not None else {}
    after = _nodes(field_set(new, schema, status=status, maps=True))
    changed = {path for path, value in after.items() if before.get(path, _MISSING) != value}
    removed = set(before) - set(after)
    entries = _entries(old) if old is not None else []
    owned = {_entry_key(entry): _owned(entry) - removed - changed for entry in entries}
    key = (manager, "Update", subresource or "")
    mine = (owned.get(key, set()) | changed) & set(after)
    if not mine and key not in owned:
        return _rebuild(entries, owned, {})
    owned[key] = mine
    return _rebuild(entries, owned, {key: _entry(manager, "Update", api_version, now, mine, subresource or "")})


_MISSING = object()


def _nodes(paths: dict[Path, Any]) -> dict[Path, Any]:
    """Map nodes under their own path (``(..., "f:labels")``) instead of ``(..., "f:labels", ".")``."""
    return {path[:-1] if path[-1] == "." else path: value for path, value in paths.items()}


def _conflict_error(conflicts: list[tuple[JsonDict, Path]]) -> StatusError:
    def who(entry: JsonDict) -> str:
        text = json.dumps(entry.get("manager", ""))
        if entry.get("subresource"):
            text += f" with subresource {json.dumps(entry['subresource'])}"
        if entry.get("operation") == "Update":
            text += f" using {entry.get('apiVersion')}"
            if entry.get("time"):
                text += f" at {entry['time']}"
        return text

    causes = [
        {"reason": "FieldManagerConflict", "message": f"conflict with {who(entry)}", "field": path_text(path)}
        for entry, path in conflicts
    ]
    if len(conflicts) == 1:
        entry, path = conflicts[0]
        message = f"Apply failed with 1 conflict: conflict with {who(entry)}: {path_text(path)}"
    else:
        lines: list[str] = []
        by_manager: dict[str, list[Path]] = {}
        for entry, path in conflicts:
            by_manager.setdefault(who(entry), []).append(path)
        for manager in sorted(by_manager):
            lines.append(f"conflicts with {manager}:")
            lines += [f"- {path_text(path)}" for path in by_manager[manager]]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, {"causes": causes})


def _merge(live: Any, config: Any, field: str, schema: Mapping[str, Any] | None) -> Any:
    """The applied configuration merged into the live value (maps by key, keyed lists by item, sets by value)."""
    if isinstance(config, dict) and isinstance(live, dict):
        if schema is not None and schema.get("x-kubernetes-map-type") == "atomic":
            return copy.deepcopy(config)
        merged = dict(live)
        for key, value in config.items():
            merged[key] = _merge(live.get(key), value, key, _child(schema, key))
        return merged
    if isinstance(config, list) and isinstance(live, list):
        keys = _list_keys(field, schema, config + live)
        if keys == "set":
            return live + [item for item in config if item not in live]
        if keys is not None:
            item_schema = (
                deref(schema["items"]) if schema is not None and isinstance(schema.get("items"), Mapping) else None
            )
            merged_items = list(live)
            for item in config:
                key = _item_key(item, keys)
                position = next((i for i, old in enumerate(merged_items) if _item_key(old, keys) == key), None)
                if position is None:
                    merged_items.append(copy.deepcopy(item))
                else:
                    merged_items[position] = _merge(merged_items[position], item, "", item_schema)
            return merged_items
    return copy.deepcopy(config)


def _remove(obj: Any, path: Path) -> None:
    """Remove one owned path from an object, in place (a keyed item, a set value, or a field)."""
    if not path:
        return
    head, rest = path[0], path[1:]
    kind, _, name = head.partition(":")
    if isinstance(obj, dict) and kind == "f" and name in obj:
        if rest:
            _remove(obj[name], rest)
            if isinstance(obj[name], dict) and not obj[name]:
                del obj[name]
        else:
            del obj[name]
    elif isinstance(obj, list) and kind in ("k", "v"):
        for index, item in enumerate(obj):
            keys: tuple[str, ...] | str = "set" if kind == "v" else tuple(json.loads(name))
            if _item_key(item, keys) == head:
                if rest:
                    _remove(item, rest)
                else:
                    del obj[index]
                return


def apply(
    live: JsonDict | None,
    config: JsonDict,
    *,
    manager: str,
    api_version: str,
    now: str,
    force: bool,
    schema: Mapping[str, Any] | None,
    subresource: str | None,
    status_split: bool,
) -> JsonDict:
    """Server-side apply of ``config`` by ``manager`` to ``live`` (None: create); the new object with managedFields.

    Raises a 409 Conflict naming every field another manager owns with a
    different value, unless ``force``.
    """
    status = None if not status_split else subresource == "status"
    live = copy.deepcopy(live) if live is not None else {}
    entries = _entries(live)
    applied = field_set(config, schema, status=status)
    current = field_set(live, schema, status=status)
    key = (manager, "Apply", subresource or "")
    owned = {_entry_key(entry): _owned(entry) for entry in entries}
    conflicts: list[tuple[JsonDict, Path]] = []
    for entry in entries:
        other = _entry_key(entry)
        if other == key or (status_split and (other[2] == "status") != (key[2] == "status")):
            continue
        for path in sorted(owned[other] & set(applied)):
            # A list item is shared by whoever lists it; a field conflicts when the apply would change its value.
            if not path[-1].startswith(("k:", "v:")) and current.get(path, _MISSING) != applied[path]:
                conflicts.append((entry, path))
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for entry, path in conflicts:
        owned[_entry_key(entry)].discard(path)
    body = {k: v for k, v in config.items() if k not in ("apiVersion", "kind", "status" if status is False else "")}
    if status is True:
        body = {"status": config.get("status")} if "status" in config else {}
    merged: JsonDict = _merge(live, body, "", deref(schema) if schema else None)
    others: set[Path] = set().union(*(paths for other, paths in owned.items() if other != key)) if owned else set()
    for path in sorted(owned.get(key, set()) - set(applied), key=len, reverse=True):
        # Removed only if nobody else owns it, nor anything under it (a field of a list item).
        if not any(theirs[: len(path)] == path for theirs in others):
            _remove(merged, path)
    owned[key] = set(applied)
    merged.setdefault("metadata", {})["managedFields"] = _rebuild(
        entries, owned, {key: _entry(manager, "Apply", api_version, now, applied, subresource or "")}
    )
    return merged
