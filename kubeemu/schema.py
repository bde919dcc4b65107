"""Structural-schema handling of custom resources, as the API server does it: defaults, pruning, validation.

A CRD's ``openAPIV3Schema`` decides what a custom resource keeps: unknown
fields are dropped (unless ``x-kubernetes-preserve-unknown-fields``), nulls
are dropped unless ``nullable``, missing fields with a ``default`` get it, and
what is left must validate (types, enums, ranges, required fields, patterns).
CEL rules (``x-kubernetes-validations``) and formats are not checked.
The object's ``apiVersion``, ``kind`` and ``metadata`` are never pruned.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import jsonschema

__all__ = ["SchemaViolation", "prune_and_default", "validate"]

_ROOT_KEYS = ("apiVersion", "kind", "metadata")


class SchemaViolation(ValueError):
    """The object does not satisfy its CRD schema; :attr:`causes` are (field, message) pairs."""

    def __init__(self, causes: list[tuple[str, str]]) -> None:
        super().__init__(", ".join(f"{field}: {message}" for field, message in causes))
        self.causes = causes


def _prune(value: Any, schema: Mapping[str, Any]) -> Any:
    if isinstance(value, dict):
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        embedded = schema.get("x-kubernetes-embedded-resource") is True
        properties: Mapping[str, Any] = schema.get("properties") or {}
        additional = schema.get("additionalProperties")
        result: dict[str, Any] = {}
        for key, item in value.items():
            sub = properties.get(key)
            if sub is None and isinstance(additional, Mapping):
                sub = additional
            if sub is not None:
                if item is None and not sub.get("nullable"):
                    continue
                result[key] = _prune(item, sub)
            elif preserve or additional is True or (embedded and key in _ROOT_KEYS):
                result[key] = item
        for key, sub in properties.items():
            if key not in result and "default" in sub:
                result[key] = _prune(copy.deepcopy(sub["default"]), sub)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_prune(item, schema["items"]) for item in value]
    return value


def prune_and_default(obj: dict[str, Any], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """A copy of the object with unknown fields and nulls dropped and defaults filled in."""
    if not schema:
        return obj
    body = {key: value for key, value in obj.items() if key not in _ROOT_KEYS}
    pruned = _prune(body, schema)
    return {**{key: obj[key] for key in _ROOT_KEYS if key in obj}, **pruned}


def _to_json_schema(schema: Any) -> Any:
    """OpenAPI v3 (as CRDs use it) to JSON Schema draft 4: ``nullable`` becomes a null type."""
    if not isinstance(schema, Mapping):
        return schema
    result: dict[str, Any] = {}
    for key, value in schema.items():
        if key.startswith("x-kubernetes-") or key in (
            "nullable",
            "format",
            "default",
            "example",
            "externalDocs",
            "description",
        ):
            continue
        if key in ("properties", "patternProperties"):
            result[key] = {name: _to_json_schema(sub) for name, sub in value.items()}
        elif key in ("items", "additionalProperties", "not"):
            result[key] = _to_json_schema(value)
        elif key in ("allOf", "anyOf", "oneOf"):
            result[key] = [_to_json_schema(sub) for sub in value]
        else:
            result[key] = value
    if schema.get("nullable") and "type" in result:
        result["type"] = [result["type"], "null"]
    if schema.get("x-kubernetes-int-or-string"):
        result.pop("type", None)
        result.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    return result


def validate(obj: Mapping[str, Any], schema: Mapping[str, Any] | None) -> None:
    """Raise :class:`SchemaViolation` naming every field that breaks the schema."""
    if not schema:
        return
    body = {key: value for key, value in obj.items() if key not in _ROOT_KEYS}
    root = dict(_to_json_schema(schema))
    root["properties"] = {key: value for key, value in (root.get("properties") or {}).items() if key not in _ROOT_KEYS}
    if "required" in root:
        root["required"] = [key for key in root["required"] if key not in _ROOT_KEYS]
        if not root["required"]:
            del root["required"]
    validator = jsonschema.Draft4Validator(root)
    errors = sorted(validator.iter_errors(body), key=lambda error: [str(part) for part in error.absolute_path])
    if errors:
        causes = []
        for error in errors:
            path = ".".join(str(part) for part in error.absolute_path) or "<root>"
            causes.append((path, f"Invalid value: {json.dumps(error.instance)[:80]}: {error.message}"))
        raise SchemaViolation(causes)
