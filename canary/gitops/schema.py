"""The admission-time check: each object against the CRD schema generated from the models.

:func:`schema_problems` validates an object with ``jsonschema`` against
:func:`canary.models.crdgen.validation_schema` of its kind's CRD (strict: unknown
fields refused, as the API server's strict field validation does), after
pruning null values as the API server does. Each problem is a path and a
message in the models' wording; unknown fields and unknown enum values get a
"did you mean" suggestion (:func:`suggest`) from the names the schema allows
at that place (:func:`schema_at`).
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable
from typing import Any

import jsonschema

from canary.gitops.documents import FieldPath
from canary.models.crdgen import generate, validation_schema

__all__ = [
    "KINDS",
    "enum_values",
    "known_fields",
    "prune_nulls",
    "schema_at",
    "schema_for",
    "schema_problems",
    "suggest",
    "unknown_field_message",
]

KINDS: tuple[str, ...] = ("Canary", "MetricTemplate", "AlertProvider")
"""The kinds of ``canary.dev`` that are checked."""


@functools.cache
def _schemas() -> dict[str, dict[str, Any]]:
    return {crd["spec"]["names"]["kind"]: validation_schema(crd) for crd in generate()}


def schema_for(kind: str) -> dict[str, Any]:
    """The JSON Schema (Draft 7) of one of :data:`KINDS`; KeyError for any other kind."""
    return _schemas()[kind]


@functools.cache
def _validator(kind: str) -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(schema_for(kind))


def prune_nulls(value: Any) -> Any:
    """``value`` without the mapping entries whose value is null (the API server prunes them before validating)."""
    if isinstance(value, dict):
        return {key: prune_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [prune_nulls(item) for item in value]
    return value


def schema_at(schema: dict[str, Any], path: FieldPath) -> dict[str, Any] | None:
    """The schema node that describes the value at ``path``, or None when the schema says nothing there."""
    node: dict[str, Any] | None = schema
    for part in path:
        if node is None:
            return None
        if isinstance(part, int):
            items = node.get("items")
            node = items if isinstance(items, dict) else None
        else:
            properties = node.get("properties")
            if isinstance(properties, dict) and part in properties:
                node = properties[part]
            else:
                extra = node.get("additionalProperties")
                node = extra if isinstance(extra, dict) else None
    return node


def known_fields(schema: dict[str, Any], path: FieldPath) -> list[str]:
    """The field names the schema allows in the object at ``path`` (empty when it lists none)."""
    node = schema_at(schema, path)
    if node is None:
        return []
    properties = node.get("properties")
    return sorted(properties) if isinstance(properties, dict) else []


def enum_values(schema: dict[str, Any], path: FieldPath) -> list[str]:
    """The string values the schema allows at ``path`` (empty when it is not an enum)."""
    node = schema_at(schema, path)
    if node is None:
        return []
    return [value for value in node.get("enum", []) if isinstance(value, str) and value]


def suggest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` when it is close enough to be a typo, else None.

    Case is ignored when comparing (``stepweight`` suggests ``stepWeight``).
    """
    options = list(candidates)
    by_lower = {option.lower(): option for option in options}
    if word.lower() in by_lower and by_lower[word.lower()] != word:
        return by_lower[word.lower()]
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.75)
    return by_lower[close[0]] if close else None


def unknown_field_message(kind: str, field: str, allowed: list[str]) -> str:
    """The message for an unknown field, with a suggestion when one of ``allowed`` is close."""
    message = f"unknown field {field!r} (not in the {kind} schema; it would be refused, not applied)"
    guess = suggest(field, allowed)
    if guess:
        message += f"; did you mean {guess!r}?"
    return message


def _got(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    try:
        text = json.dumps(value)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


_TYPE_WORDS = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping",
    "array": "a list",
}


def _type_words(expected: Any) -> str:
    if isinstance(expected, list):
        return " or ".join(_TYPE_WORDS.get(str(kind), str(kind)) for kind in expected)
    return _TYPE_WORDS.get(str(expected), str(expected))


def schema_problems(kind: str, obj: dict[str, Any]) -> list[tuple[FieldPath, str]]:
    """What the API server's schema validation would refuse in ``obj`` (already null-pruned), by field path."""
    schema = schema_for(kind)
    problems: list[tuple[FieldPath, str]] = []
    for error in _validator(kind).iter_errors(obj):
        path: FieldPath = tuple(error.absolute_path)
        validator = error.validator
        instance = error.instance
        if validator == "required" and isinstance(instance, dict):
            for name in error.validator_value:
                if name not in instance:
                    problems.append(((*path, name), "required field is missing"))
        elif validator == "additionalProperties" and isinstance(instance, dict):
            allowed = known_fields(schema, path)
            for name in instance:
                if name not in allowed:
                    problems.append(((*path, name), unknown_field_message(kind, name, allowed)))
        elif validator == "type":
            problems.append((path, f"must be {_type_words(error.validator_value)} (got {_got(instance)})"))
        elif validator == "enum":
            options = ", ".join(repr(value) for value in error.validator_value if value != "")
            message = f"must be one of {options} (got {_got(instance)})"
            guess = suggest(instance, enum_values(schema, path)) if isinstance(instance, str) else None
            if guess:
                message += f"; did you mean {guess!r}?"
            problems.append((path, message))
        elif validator in ("minimum", "exclusiveMinimum"):
            word = ">=" if validator == "minimum" else ">"
            problems.append((path, f"must be {word} {error.validator_value} (got {_got(instance)})"))
        elif validator in ("maximum", "exclusiveMaximum"):
            word = "<=" if validator == "maximum" else "<"
            problems.append((path, f"must be {word} {error.validator_value} (got {_got(instance)})"))
        elif validator == "pattern":
            problems.append((path, f"does not match the pattern {error.validator_value} (got {_got(instance)})"))
        else:
            problems.append((path, error.message))
    return problems
