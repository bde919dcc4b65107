"""Discovery documents of the emulated API server: API groups, resource lists, OpenAPI v3 documents.

kopf and kubectl find resources (and their ``status`` / ``scale``
subresources) here. kubectl also reads the OpenAPI v3 documents: their paths
tell it the server validates fields itself, and their schemas (each CRD's
``openAPIV3Schema``; for built-in kinds the Kubernetes definitions of
:func:`kubeemu.validation.builtin_definitions`) are what ``kubectl explain``
prints.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from kubeemu.model import JsonDict, ResourceType, StatusError
from kubeemu.store import ObjectStore
from kubeemu.validation import builtin_definitions, definition_name

__all__ = ["SERVER_VERSION", "api_group", "api_resources", "openapi_group_version", "openapi_index"]

SERVER_VERSION = {
    "major": "1",
    "minor": "30",
    "gitVersion": "v1.30.0-canary-sandbox",
    "gitCommit": "0" * 40,
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.22",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_group(store: ObjectStore, group: str) -> JsonDict:
    """``GET /apis/{group}``: the group's versions, most preferred first."""
    versions = store.preferred_versions().get(group)
    if not group or not versions:
        raise StatusError.no_resource()
    entries = [{"groupVersion": f"{group}/{version}", "version": version} for version in versions]
    return {"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": entries, "preferredVersion": entries[0]}


def api_resources(store: ObjectStore, group: str, version: str) -> JsonDict:
    """``GET /api/v1``, ``GET /apis/{group}/{version}``: resources and subresources served there."""
    types = [rt for rt in store.types() if rt.group == group and rt.version == version]
    if not types:
        raise StatusError.no_resource()
    types.sort(key=lambda rt: rt.plural)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": types[0].api_version,
        "resources": [entry for rt in types for entry in rt.discovery()],
    }


def openapi_index(store: ObjectStore) -> JsonDict:
    """``GET /openapi/v3``: where each group version's document is."""
    paths: JsonDict = {}
    for group, versions in store.preferred_versions().items():
        for version in versions:
            key = f"apis/{group}/{version}" if group else f"api/{version}"
            types = [rt for rt in store.types() if (rt.group, rt.version) == (group, version)]
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={_schemas_hash(types)}"}
    return {"paths": paths}


def _schemas_hash(types: list[ResourceType]) -> str:
    """A digest of what a group version's document says, so kubectl's cache of it ends when it changes."""
    digest = hashlib.sha256()
    for rt in sorted(types, key=lambda rt: rt.plural):
        digest.update(json.dumps([rt.plural, rt.kind, rt.schema], sort_keys=True).encode())
    return digest.hexdigest()[:32].upper()


_OBJECT_META = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
_REF_PREFIX = "#/components/schemas/"


def _openapi(schema: Any) -> Any:
    """A Kubernetes JSON-schema definition in OpenAPI v3 form: one type, refs under components, wrapped in allOf."""
    if isinstance(schema, list):
        return [_openapi(item) for item in schema]
    if not isinstance(schema, Mapping):
        return schema
    result: JsonDict = {}
    for key, value in schema.items():
        if key == "type" and isinstance(value, list):
            types = [item for item in value if item != "null"]
            if types:
                result["type"] = types[0]
        elif key == "$ref":
            continue
        elif key in ("properties", "patternProperties"):
            result[key] = {name: _openapi(sub) for name, sub in value.items()}
        else:
            result[key] = _openapi(value)
    if "$ref" in schema:
        ref = _REF_PREFIX + str(schema["$ref"]).rsplit("/", 1)[-1]
        if result:
            result["allOf"] = [{"$ref": ref}]
        else:
            result["$ref"] = ref
    return result


def _refs(schema: Any) -> set[str]:
    """The definition names a schema refers to."""
    found: set[str] = set()
    if isinstance(schema, Mapping):
        if "$ref" in schema:
            found.add(str(schema["$ref"]).rsplit("/", 1)[-1])
        for value in schema.values():
            found |= _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            found |= _refs(item)
    return found


def _crd_schema_name(rt: ResourceType) -> str:
    """How kube-apiserver names a custom kind's schema: the group reversed, e.g. ``dev.canary.v1beta1.Canary``."""
    return ".".join([*reversed(rt.group.split(".")), rt.version, rt.kind])


def _kind_schemas(types: list[ResourceType]) -> JsonDict:
    """The ``components.schemas`` of one group version: each kind and every definition it refers to."""
    definitions = builtin_definitions()
    schemas: JsonDict = {}
    wanted: set[str] = {_OBJECT_META} if definitions else set()
    for rt in types:
        gvk = [{"group": rt.group, "version": rt.version, "kind": rt.kind}]
        if rt.custom:
            body = dict(rt.schema or {"type": "object", "x-kubernetes-preserve-unknown-fields": True})
            properties = dict(body.get("properties") or {})
            properties["apiVersion"] = {
                "type": "string",
                "description": "APIVersion defines the versioned schema of this representation of an object.",
            }
            properties["kind"] = {
                "type": "string",
                "description": "Kind is a string value representing the REST resource this object represents.",
            }
            properties["metadata"] = {
                "description": "Standard object's metadata.",
                "allOf": [{"$ref": _REF_PREFIX + _OBJECT_META}],
            }
            schemas[_crd_schema_name(rt)] = {**body, "properties": properties, "x-kubernetes-group-version-kind": gvk}
        elif definition_name(rt) in definitions:
            wanted.add(definition_name(rt))
    done: set[str] = set()
    while wanted - done:
        name = sorted(wanted - done)[0]
        done.add(name)
        definition = definitions.get(name)
        if definition is None:
            continue
        schemas[name] = _openapi(definition)
        wanted |= _refs(definition)
    return schemas


def openapi_group_version(store: ObjectStore, key: str) -> JsonDict:
    """The OpenAPI v3 document of one group version: its paths and the schemas of its kinds.

    The paths' ``fieldValidation`` parameter tells kubectl the server validates fields; kubectl then sends ``fieldValidation=Strict`` and leaves unknown fields to
    the server, which refuses, warns or prunes as the directive says (see
    :mod:`kubeemu.validation`).
    """
    parts = key.split("/")
    group, version = (
        ("", parts[1])
        if parts[0] == "api" and len(parts) == 2
        else ((parts[1], parts[2]) if parts[0] == "apis" and len(parts) == 3 else ("", ""))
    )
    types = [rt for rt in store.types() if (rt.group, rt.version) == (group, version)]
    if not types:
        raise StatusError.no_resource()
    params = [
        {"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
        for name in ("dryRun", "fieldManager", "fieldValidation")
    ]
    paths: JsonDict = {}
    for rt in types:
        gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
        base = (f"/apis/{rt.group}/{rt.version}" if rt.group else f"/api/{rt.version}") + (
            "/namespaces/{namespace}" if rt.namespaced else ""
        )

        def operation(action: str, gvk: JsonDict = gvk) -> JsonDict:
            return {"parameters": params, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk}

        paths[f"{base}/{rt.plural}"] = {"get": operation("list"), "post": operation("post")}
        paths[f"{base}/{rt.plural}/{{name}}"] = {
            "get": operation("get"),
            "put": operation("put"),
            "patch": operation("patch"),
            "delete": operation("delete"),
        }
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": SERVER_VERSION["gitVersion"]},
        "paths": paths,
        "components": {"schemas": _kind_schemas(types)},
    }
