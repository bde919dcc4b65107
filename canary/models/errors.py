"""Validation errors for people: one line per problem, led by the field's path in the object.

``describe(error)`` turns a :class:`pydantic.ValidationError` into lines such as
``spec.analysis.stepWeight: must be between 1 and 100 (got 0)`` or
``spec.analysis.metrics[0].name: unknown metric 'foo': ...``, which the
controller puts into status conditions and Events, and the CLI prints. They
are how a spec is refused; the exceptions canary raises, and what the
controller does with each, are in :mod:`canary.errors`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

__all__ = ["describe", "field_path"]

_SCALARS = (str, int, float, bool)


def field_path(loc: Sequence[int | str]) -> str:
    """A pydantic error location as a path people read: ``spec.analysis.metrics[0].name``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path:
            path += f".{part}"
        else:
            path = str(part)
    return path or "(object)"


def _got(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _is_builtin_value_error(kind: str) -> bool:
    """Pydantic's own value errors, whose messages do not quote the value (ours always do)."""
    if kind in {"model_type", "dict_type", "list_type"}:
        return False
    return kind.endswith(("_parsing", "_type")) or kind.startswith(
        ("greater_than", "less_than", "string_", "too_", "finite", "multiple_of")
    )


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx: dict[str, Any] = dict(error.get("ctx") or {})
    value = error.get("input")
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (not part of the resource's schema; check the spelling)"
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')} (got {_got(value)})"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if message.startswith("Input should be "):
        message = "must be " + message[len("Input should be ") :]
    elif message[:1].isupper() and not message[1:2].isupper():
        message = message[0].lower() + message[1:]
    if "(got " not in message and (value is None or isinstance(value, _SCALARS)) and _is_builtin_value_error(kind):
        message += f" (got {_got(value)})"
    return message


def describe(error: ValidationError) -> list[str]:
    """One line per problem: ``<field path>: <what is wrong> (got <value>)``.

    Checks that involve several fields (e.g. "unknown metric") name the field
    they concern, so every line starts with a full path.
    """
    lines: list[str] = []
    for detail in error.errors(include_url=False):
        loc: list[int | str] = list(detail["loc"])
        extra_field = (detail.get("ctx") or {}).get("field")
        if isinstance(extra_field, str):
            loc.append(extra_field)
        lines.append(f"{field_path(loc)}: {_message(detail)}")
    return lines
