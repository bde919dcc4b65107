"""What kube-apiserver refuses before storing an object: invalid names, and unknown fields.

Names: most kinds need an RFC 1123 subdomain, Namespaces an RFC 1123 label,
Services an RFC 1035 label (apimachinery's ``NameIsDNSSubdomain``,
``NameIsDNSLabel``, ``NameIsDNS1035Label``), with the same messages.

Unknown fields: kube-apiserver decodes a request body into the kind's schema
and, per the request's ``fieldValidation`` (``Strict``, ``Warn``, the
default, or ``Ignore``), refuses, warns about, or silently drops the fields
the schema does not declare (https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation).
:func:`unknown_fields` finds them, in the notation of its messages
(``spec.template.spec.containers[0].foo``); the schemas are a CRD's
``openAPIV3Schema`` for custom resources and, for built-in kinds, the
Kubernetes OpenAPI definitions that the ``kubernetes-validate`` package
ships (:func:`builtin_definitions`; without it built-in kinds keep every
field, as before).
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from kubeemu.model import JsonDict, ResourceType

__all__ = [
    "FIELD_VALIDATION_DIRECTIVES",
    "SchemaRef",
    "builtin_definitions",
    "builtin_schema",
    "deref",
    "name_errors",
    "object_meta_schema",
    "prune_unknown",
    "unknown_fields",
]

FIELD_VALIDATION_DIRECTIVES = ("Ignore", "Strict", "Warn")
_KUBE_VERSION = "v1.30.0"  # the version kubeemu's /version reports

_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_RE = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")

_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
# apimachinery's RegexError joins examples as "'a', " + " or " + "'b', ": hence the double space.
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and "
    "end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic "
    "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for "
    "validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)


def name_errors(rt: ResourceType, name: str) -> list[tuple[str, str]]:
    """The (field, message) causes kube-apiserver gives for an invalid ``metadata.name`` of this kind."""
    if rt.group_resource == ("", "namespaces"):
        pattern, message, limit = _LABEL_RE, _LABEL_MSG, 63
    elif rt.group_resource == ("", "services"):
        pattern, message, limit = _DNS1035_RE, _DNS1035_MSG, 63
    else:
        pattern, message, limit = _SUBDOMAIN_RE, _SUBDOMAIN_MSG, 253
    value = json.dumps(name)
    causes = []
    if len(name) > limit:
        causes.append(("metadata.name", f"Invalid value: {value}: must be no more than {limit} characters"))
    if not pattern.match(name):
        causes.append(("metadata.name", f"Invalid value: {value}: {message}"))
    return causes


# --- schemas ------------------------------------------------------------------------------------

SchemaRef = Callable[[str], Mapping[str, Any]]  # resolves a "$ref" to its schema


@functools.cache
def builtin_definitions() -> Mapping[str, Any]:
    """The Kubernetes OpenAPI definitions of the built-in kinds (by ``io.k8s...`` name), or {} if not installed."""
    try:
        import kubernetes_validate  # type: ignore[import-untyped,unused-ignore]  # optional
    except ImportError:
        return {}
    path = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"{_KUBE_VERSION}-local"
    try:
        definitions: Mapping[str, Any] = json.loads((path / "_definitions.json").read_text())["$defs"]
    except (OSError, ValueError, KeyError):
        return {}
    return definitions


def resolve_ref(ref: str) -> Mapping[str, Any]:
    """The built-in definition a ``$ref`` (``#/$defs/<name>`` or ``#/components/schemas/<name>``) names."""
    found: Mapping[str, Any] = builtin_definitions().get(ref.rsplit("/", 1)[-1], {})
    return found


def definition_name(rt: ResourceType) -> str:
    """The OpenAPI definition name of a built-in kind, e.g. ``io.k8s.api.apps.v1.Deployment``."""
    if rt.group == "apiextensions.k8s.io":
        return f"io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.{rt.version}.{rt.kind}"
    group = rt.group.removesuffix(".k8s.io") or "core"
    return f"io.k8s.api.{group}.{rt.version}.{rt.kind}"


def builtin_schema(rt: ResourceType) -> Mapping[str, Any] | None:
    """The schema of a built-in kind from :func:`builtin_definitions`, or None if unknown."""
    if rt.custom:
        return None
    return builtin_definitions().get(definition_name(rt))


def object_meta_schema() -> Mapping[str, Any] | None:
    """The ObjectMeta schema, which every kind's ``metadata`` is decoded into."""
    return builtin_definitions().get("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta")


def deref(schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """A schema with its ``$ref`` (and a single-reference ``allOf``) replaced by what it refers to."""
    seen = 0
    while "$ref" in schema and seen < 50:
        schema = {**resolve_ref(str(schema["$ref"])), **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    for sub in schema.get("allOf") or ():
        if isinstance(sub, Mapping) and "$ref" in sub:
            schema = {**deref(sub), **{k: v for k, v in schema.items() if k != "allOf"}}
    return schema


def _walk(value: Any, schema: Mapping[str, Any], path: str, found: list[str], prune: bool) -> Any:
    """Collect the unknown fields under ``value`` (and drop them if ``prune``); returns the (pruned) value."""
    schema = deref(schema)
    if isinstance(value, dict):
        if schema.get("x-kubernetes-preserve-unknown-fields") is True:
            known: Mapping[str, Any] = schema.get("properties") or {}
            return {
                key: _walk(item, known[key], f"{path}.{key}" if path else key, found, prune) if key in known else item
                for key, item in value.items()
            }
        properties = schema.get("properties")
        additional = schema.get("additionalProperties")
        if properties is None and additional is None:
            return value  # a free-form value (JSON, RawExtension, an untyped object)
        result = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else key
            sub = (properties or {}).get(key)
            if sub is None and isinstance(additional, Mapping):
                sub = additional
            if sub is None and additional is not True:
                if schema.get("x-kubernetes-embedded-resource") and key in ("apiVersion", "kind", "metadata"):
                    result[key] = item
                    continue
                found.append(where)
                if prune:
                    continue
                result[key] = item
                continue
            result[key] = item if sub is None else _walk(item, sub, where, found, prune)
        return result
    if isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        return [_walk(item, schema["items"], f"{path}[{index}]", found, prune) for index, item in enumerate(value)]
    return value


def unknown_fields(obj: JsonDict, schema: Mapping[str, Any] | None) -> list[str]:
    """The fields of ``obj`` its schema does not declare (``metadata`` against ObjectMeta), in document order."""
    found: list[str] = []
    _check(obj, schema, found, prune=False)
    return found


def prune_unknown(obj: JsonDict, schema: Mapping[str, Any] | None) -> JsonDict:
    """A copy of ``obj`` without the fields its schema (and ObjectMeta) does not declare."""
    return _check(obj, schema, [], prune=True)


def _check(obj: JsonDict, schema: Mapping[str, Any] | None, found: list[str], *, prune: bool) -> JsonDict:
    result = dict(obj)
    meta_schema = object_meta_schema()
    if meta_schema is not None and isinstance(obj.get("metadata"), dict):
        result["metadata"] = _walk(obj["metadata"], meta_schema, "metadata", found, prune)
    if schema:
        body = {key: value for key, value in obj.items() if key not in ("apiVersion", "kind", "metadata")}
        root = {**deref(schema)}
        root["properties"] = {
            key: value for key, value in (root.get("properties") or {}).items() if key not in ("apiVersion", "kind")
        }
        root.pop("x-kubernetes-embedded-resource", None)
        root["properties"].pop("metadata", None)
        checked = _walk(body, root, "", found, prune)
        result = {**{key: result[key] for key in ("apiVersion", "kind", "metadata") if key in result}, **checked}
    return result
