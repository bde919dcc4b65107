"""Validate objects the routers write against the meshes' own CRD schemas (shared/reference/crds).

The CRD's ``openAPIV3Schema`` is read as JSON Schema with three adjustments
that make it check what the API server would enforce or silently do:

- ``x-kubernetes-int-or-string`` becomes "integer or string";
- an object schema that lists ``properties`` (and does not set
  ``x-kubernetes-preserve-unknown-fields``) refuses other keys: a structural
  schema makes the API server *prune* unknown fields, so writing one is a
  bug that would go unnoticed in a cluster;
- the root also accepts ``apiVersion``, ``kind`` and ``metadata``.

Other ``x-kubernetes-*`` keywords are dropped. In particular the CEL rules
(``x-kubernetes-validations``) of the Istio and Gateway API schemas are
**not** evaluated: jsonschema has no CEL engine.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml

__all__ = ["crd_files", "reference_dir", "schema_errors", "schema_for"]


def reference_dir() -> Path:
    """The shared third-party reference folder, found relative to the repository."""
    return Path(__file__).resolve().parents[3] / ".." / "shared" / "reference"


def _adjust(node: Any) -> Any:
    if isinstance(node, list):
        return [_adjust(item) for item in node]
    if not isinstance(node, dict):
        return node
    result: dict[str, Any] = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-") or key == "nullable":
            continue
        if key in ("properties", "patternProperties", "definitions"):
            result[key] = {name: _adjust(item) for name, item in value.items()}
        else:
            result[key] = _adjust(value)
    if node.get("x-kubernetes-int-or-string"):
        result["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    preserve = node.get("x-kubernetes-preserve-unknown-fields")
    if "properties" in node and "additionalProperties" not in node and not preserve:
        result["additionalProperties"] = False
    return result


def crd_files(group: str, kind: str) -> list[Path]:
    """The reference CRD files that may define ``kind`` in ``group``: a new router's CRD is found by being there.

    Files are picked by their text (``group: <group>`` and ``kind: <kind>``), so only those are parsed.
    """
    return [
        path
        for path in sorted((reference_dir() / "crds").glob("*.yaml"))
        if f"group: {group}" in (text := path.read_text()) and f"kind: {kind}" in text
    ]


@functools.cache
def schema_for(group: str, version: str, kind: str) -> dict[str, Any]:
    """The adjusted openAPIV3Schema of ``kind`` in ``group/version`` from the reference CRDs."""
    documents = []
    for path in crd_files(group, kind):
        with path.open() as stream:
            documents += [doc for doc in yaml.safe_load_all(stream) if doc]
    for crd in documents:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        if crd["spec"]["group"] != group or crd["spec"]["names"]["kind"] != kind:
            continue
        for served in crd["spec"]["versions"]:
            if served["name"] == version:
                schema = _adjust(served["schema"]["openAPIV3Schema"])
                properties = schema.setdefault("properties", {})
                properties.setdefault("apiVersion", {"type": "string", "enum": [f"{group}/{version}"]})
                properties.setdefault("kind", {"type": "string", "enum": [kind]})
                properties.setdefault("metadata", {"type": "object"})
                schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "spec"})
                jsonschema.Draft7Validator.check_schema(schema)
                return dict(schema)
    raise LookupError(f"no CRD for {kind} in {group}/{version} under {reference_dir() / 'crds'}")


def schema_errors(obj: dict[str, Any]) -> list[str]:
    """Every way ``obj`` breaks its CRD's schema ("spec.http.0.route: ..."); empty when it is valid."""
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    schema = schema_for(group, version, str(obj.get("kind")))
    validator = jsonschema.Draft7Validator(schema)
    return sorted(
        f"{'.'.join(str(part) for part in error.absolute_path) or '<root>'}: {error.message}"
        for error in validator.iter_errors(obj)
    )
