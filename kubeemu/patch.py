"""The patch formats of the emulated API server: JSON merge patch, strategic merge patch, JSON patch.

Pure functions over JSON-like dicts; the inputs are never modified.
"""

from __future__ import annotations

import copy
from typing import Any

from kubeemu.model import JsonDict

__all__ = [
    "APPLY_PATCH",
    "JSON_PATCH",
    "MERGED_PRIMITIVE_LISTS",
    "MERGE_KEYS",
    "MERGE_PATCH",
    "PATCH_TYPES",
    "STRATEGIC_MERGE_PATCH",
    "PatchError",
    "apply_json_patch",
    "apply_merge_patch",
    "apply_patch",
    "apply_strategic_merge_patch",
]

APPLY_PATCH = "application/apply-patch+yaml"
JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)


class PatchError(ValueError):
    """A patch that cannot be applied (a failed JSON-patch ``test``, a missing path)."""


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch; neither argument is modified."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"invalid JSON pointer: {path!r}")
    return [token.replace("~1", "/").replace("~0", "~") for token in path[1:].split("/")]


def _index(container: list[Any], token: str, *, for_add: bool = False) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit():
        raise PatchError(f"invalid array index: {token!r}")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise PatchError(f"array index out of range: {index}")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    current = doc
    for token in tokens[:-1]:
        if isinstance(current, dict):
            if token not in current:
                raise PatchError(f"path not found: /{'/'.join(tokens)}")
            current = current[token]
        elif isinstance(current, list):
            current = current[_index(current, token)]
        else:
            raise PatchError(f"path not found: /{'/'.join(tokens)}")
    return current


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path not found: /{'/'.join(tokens)}")
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last)]
    raise PatchError(f"path not found: /{'/'.join(tokens)}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise PatchError(f"path not found: /{'/'.join(tokens)}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        raise PatchError("cannot remove the whole document")
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise PatchError(f"path not found: /{'/'.join(tokens)}")
        del parent[last]
    elif isinstance(parent, list):
        del parent[_index(parent, last)]
    else:
        raise PatchError(f"path not found: /{'/'.join(tokens)}")
    return doc


def apply_json_patch(target: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test) to a copy of the target."""
    if not isinstance(operations, list):
        raise PatchError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise PatchError(f"malformed operation: {operation!r}")
        op = operation["op"]
        tokens = _pointer(operation["path"])
        if op == "test":
            if _get(doc, tokens) != operation.get("value"):
                raise PatchError(f"test failed at {operation['path']}: the value differs")
        elif op == "add":
            doc = _add(doc, tokens, copy.deepcopy(operation.get("value")))
        elif op == "remove":
            doc = _remove(doc, tokens)
        elif op == "replace":
            _get(doc, tokens)  # must exist
            if tokens:
                doc = _remove(doc, tokens)
            doc = _add(doc, tokens, copy.deepcopy(operation.get("value")))
        elif op in ("move", "copy"):
            source = _pointer(operation.get("from", ""))
            value = copy.deepcopy(_get(doc, source))
            if op == "move":
                doc = _remove(doc, source)
            doc = _add(doc, tokens, value)
        else:
            raise PatchError(f"unknown operation: {op!r}")
    return doc


# Patch merge keys of the built-in kinds' lists, by field name (the API's `patchMergeKey` tags).
# "ports" merges by containerPort in pods and by port in services: whichever the items carry.
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "imagePullSecrets": "name",
    "hostAliases": "ip",
    "conditions": "type",
    "ownerReferences": "uid",
    "readinessGates": "conditionType",
    "topologySpreadConstraints": "topologyKey",
    "ports": "containerPort|port",
}
MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})  # lists of strings merged as sets


def _merge_key(field: str, items: list[Any]) -> str | None:
    key = MERGE_KEYS.get(field)
    if key is None:
        return None
    for candidate in key.split("|"):
        if any(isinstance(item, dict) and candidate in item for item in items):
            return candidate
    return key.split("|")[-1]


def _strategic_list(field: str, target: Any, patch: list[Any]) -> list[Any]:
    current = list(target) if isinstance(target, list) else []
    if field in MERGED_PRIMITIVE_LISTS and all(not isinstance(item, dict) for item in patch):
        return current + [item for item in patch if item not in current]
    key = _merge_key(field, current + patch)
    if key is None or not all(isinstance(item, dict) for item in patch):
        return copy.deepcopy(patch)
    for item in patch:
        position = next(
            (i for i, old in enumerate(current) if isinstance(old, dict) and old.get(key) == item.get(key)), None
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del current[position]
        elif position is None:
            current.append(apply_strategic_merge_patch({}, item))
        else:
            current[position] = apply_strategic_merge_patch(current[position], item)
    return current


def apply_strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a Kubernetes strategic merge patch; neither argument is modified.

    Lists named in :data:`MERGE_KEYS` merge item by item on their key
    (``$patch: delete`` removes an item), ``finalizers`` merge as a set, other
    lists are replaced; ``$patch: replace`` replaces a map, ``$patch: delete``
    removes it, and ``$deleteFromPrimitiveList/<field>`` removes strings. The
    ordering directives (``$setElementOrder/...``, ``$retainKeys``) are ignored.
    """
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {key: copy.deepcopy(value) for key, value in patch.items() if key != "$patch"}
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$setElementOrder/") or key in ("$retainKeys", "$patch"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            if isinstance(result.get(field), list):
                result[field] = [item for item in result[field] if item not in value]
        elif value is None or (isinstance(value, dict) and value.get("$patch") == "delete"):
            result.pop(key, None)
        elif isinstance(value, list):
            result[key] = _strategic_list(key, result.get(key), value)
        else:
            result[key] = apply_strategic_merge_patch(result.get(key), value)
    return result


def apply_patch(target: JsonDict, content_type: str, patch: Any) -> JsonDict:
    """Apply a patch of one of :data:`PATCH_TYPES` and return the patched copy."""
    if content_type == JSON_PATCH:
        result = apply_json_patch(target, patch)
    elif content_type in (MERGE_PATCH, STRATEGIC_MERGE_PATCH):
        if not isinstance(patch, dict):
            raise PatchError("a merge patch must be a JSON object")
        merge = apply_merge_patch if content_type == MERGE_PATCH else apply_strategic_merge_patch
        result = merge(target, patch)
    else:
        raise ValueError(content_type)
    if not isinstance(result, dict):
        raise PatchError("the patched object is not a JSON object")
    return result
