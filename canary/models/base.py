"""Shared building blocks of the resource models: the strict base class, durations, references.

Everything here follows the naming contract of the package: attribute names are
Flagger's JSON field names (camelCase), so a field is spelt the same in YAML,
Python and error messages.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError

__all__ = [
    "API_GROUP",
    "API_VERSION",
    "DURATION_PATTERN",
    "GROUP_VERSION",
    "ApiVersion",
    "CrossNamespaceObjectReference",
    "CustomMetadata",
    "Duration",
    "DurationError",
    "ObjectMeta",
    "Percent",
    "PositivePercent",
    "StrictModel",
    "parse_duration",
]

API_GROUP = "canary.dev"
"""The API group of our resources (Flagger's is ``flagger.app``)."""

API_VERSION = "v1beta1"
"""The one served version, the same as Flagger's."""

GROUP_VERSION = f"{API_GROUP}/{API_VERSION}"
"""The ``apiVersion`` every object of ours carries."""

# Go's time.ParseDuration grammar (what Flagger uses): one or more <number><unit>.
DURATION_PATTERN = r"^(0|([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_UNIT_SECONDS = {
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "μs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}


class DurationError(ValueError):
    """A duration string that Go's ``time.ParseDuration`` (and so Flagger) would refuse."""


def parse_duration(text: str) -> float:
    """Parse a Go-style duration ("30s", "1m", "1h30m", "500ms", "1.5h") into seconds.

    Raises :class:`DurationError` naming the text and the expected form; a bare
    number other than ``0`` is refused, as Go refuses it (the unit is mandatory).
    """
    if not isinstance(text, str):
        raise DurationError(f"invalid duration {text!r}: expected a string such as '30s', '1m' or '1h30m'")
    value = text.strip()
    if value == "0":
        return 0.0
    if not value:
        raise DurationError("invalid duration '': expected a number with a unit, such as '30s', '1m' or '1h30m'")
    total = 0.0
    position = 0
    for match in _DURATION_PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        position = match.end()
    if position != len(value):
        raise DurationError(
            f"invalid duration {text!r}: expected a number with a unit (ns, us, ms, s, m, h), "
            "such as '30s', '1m' or '1h30m'"
        )
    return total


def _check_duration(value: str) -> str:
    try:
        parse_duration(value)
    except DurationError:
        raise PydanticCustomError(
            "duration",
            "invalid duration: expected a number with a unit (ns, us, ms, s, m, h), "
            "such as '30s', '1m' or '1h30m' (got '{value}')",
            {"value": value},
        ) from None
    return value


Duration = Annotated[
    str,
    AfterValidator(_check_duration),
    Field(json_schema_extra={"pattern": DURATION_PATTERN}),
]
"""A Go-style duration kept as its text (Flagger-shaped output); parse it with :func:`parse_duration`."""


def _percent_check(low: int) -> Any:
    def check(value: int) -> int:
        if not low <= value <= 100:
            raise PydanticCustomError(
                "percent_range",
                "must be between {low} and 100 (got {value})",
                {"low": low, "value": value},
            )
        return value

    return check


Percent = Annotated[
    int,
    AfterValidator(_percent_check(0)),
    Field(json_schema_extra={"minimum": 0, "maximum": 100}),
]
"""A whole percentage, 0..100."""

PositivePercent = Annotated[
    int,
    AfterValidator(_percent_check(1)),
    Field(json_schema_extra={"minimum": 1, "maximum": 100}),
]
"""A whole percentage that must move something, 1..100 (weights and steps)."""


def _check_api_version(value: str) -> str:
    if value != GROUP_VERSION:
        raise PydanticCustomError(
            "api_version",
            "expected {expected} (got {value}); a Flagger resource converts with `canary convert`",
            {"expected": GROUP_VERSION, "value": value},
        )
    return value


ApiVersion = Annotated[str, AfterValidator(_check_api_version), Field(json_schema_extra={"enum": [GROUP_VERSION]})]
"""The ``apiVersion`` of our objects: only ``canary.dev/v1beta1`` is accepted."""


class StrictModel(BaseModel):
    """Base of every resource model: unknown fields are errors, names are Flagger's JSON names.

    Attribute docstrings become field descriptions (and so CRD descriptions);
    dumping uses the JSON names, so
    ``model_dump(mode="json", exclude_none=True)`` is Flagger-shaped.
    """

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        serialize_by_alias=True,
        use_attribute_docstrings=True,
        validate_assignment=False,
    )


class ObjectMeta(BaseModel):
    """Kubernetes object metadata.

    The API server owns this block and adds fields over time (managedFields,
    ownerReferences, ...), so unlike every other model it keeps unknown keys
    instead of refusing them.
    """

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    name: str | None = None
    """Name of the object, unique in its namespace."""
    namespace: str | None = None
    """Namespace of the object."""
    generateName: str | None = None
    """Prefix the API server uses to generate a name."""
    uid: str | None = None
    """Unique id set by the API server."""
    resourceVersion: str | None = None
    """Opaque version for optimistic concurrency."""
    generation: int | None = None
    """Sequence number of the desired state (incremented on spec changes)."""
    creationTimestamp: str | None = None
    """When the object was created (RFC 3339)."""
    deletionTimestamp: str | None = None
    """When the object was marked for deletion (RFC 3339)."""
    labels: dict[str, str] | None = None
    """Labels of the object."""
    annotations: dict[str, str] | None = None
    """Annotations of the object."""
    finalizers: list[str] | None = None
    """Finalizers that block deletion."""


class CrossNamespaceObjectReference(StrictModel):
    """A reference to an object that may live in another namespace (defaults to the Canary's)."""

    apiVersion: str | None = None
    """API version of the referent."""
    kind: str | None = None
    """Kind of the referent."""
    name: str
    """Name of the referent."""
    namespace: str | None = None
    """Namespace of the referent; the referring object's namespace when empty."""


class CustomMetadata(StrictModel):
    """Labels and annotations to set on an object the controller generates."""

    labels: dict[str, str] | None = None
    """Labels to add."""
    annotations: dict[str, str] | None = None
    """Annotations to add."""
