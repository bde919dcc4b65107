"""Discovery documents of the emulated API server: API groups, resource lists, OpenAPI v3 index.

kopf and kubectl find resources (and their ``status`` / ``scale``
subresources) here; kubectl also reads the OpenAPI v3 index to learn that the
server validates fields itself.
"""

from __future__ import annotations

from kubeemu.model import JsonDict, StatusError
from kubeemu.store import ObjectStore

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
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={len(store.types())}"}
    return {"paths": paths}


def openapi_group_version(store: ObjectStore, key: str) -> JsonDict:
    """A schema-less OpenAPI v3 document: enough for kubectl to see server-side field validation.

    kubectl then sends ``fieldValidation=Strict`` and leaves unknown fields to
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
        "components": {"schemas": {}},
    }
