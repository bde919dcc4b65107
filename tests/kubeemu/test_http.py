"""The sandbox API server at the HTTP level: discovery, list shapes, watch protocol, errors, CLI process."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeemu.server import ApiServerProcess, ApiServerThread, EmulatedApiServer, load_crds
from tests.kubeemu.conftest import REFERENCE_DIR

CONFIGMAPS = "/api/v1/namespaces/test/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/test/deployments"
MERGE = {"Content-Type": "application/merge-patch+json"}
JSON_PATCH = {"Content-Type": "application/json-patch+json"}


def watch_lines(http: httpx.Client, path: str, **params: Any) -> list[dict[str, Any]]:
    """Run a watch that the server ends (timeoutSeconds) and return its events."""
    response = http.get(path, params={"watch": "true", "timeoutSeconds": "1", **params})
    assert response.status_code == 200
    return [json.loads(line) for line in response.text.splitlines() if line.strip()]


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_core_discovery_says_group_version_v1(http: httpx.Client) -> None:
    assert http.get("/api").json()["versions"] == ["v1"]
    core = http.get("/api/v1").json()
    assert core["kind"] == "APIResourceList"
    assert core["groupVersion"] == "v1"
    by_name = {res["name"]: res for res in core["resources"]}
    assert by_name["namespaces"]["namespaced"] is False
    assert by_name["events"]["kind"] == "Event"
    assert "namespaces/status" in by_name


def test_group_discovery_lists_resources_and_status_subresources(api: ApiServerThread, http: httpx.Client) -> None:
    load_crds(api, [REFERENCE_DIR / "crds" / "flagger-crds.yaml"])
    groups = {group["name"]: group for group in http.get("/apis").json()["groups"]}
    assert groups["apps"]["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert {"apiextensions.k8s.io", "events.k8s.io", "flagger.app"} <= set(groups)
    assert http.get("/apis/flagger.app").json()["preferredVersion"]["version"] == "v1beta1"
    apps = {res["name"] for res in http.get("/apis/apps/v1").json()["resources"]}
    assert {"deployments", "deployments/status", "deployments/scale"} <= apps
    flagger = http.get("/apis/flagger.app/v1beta1").json()
    assert flagger["groupVersion"] == "flagger.app/v1beta1"
    by_name = {res["name"]: res for res in flagger["resources"]}
    assert {"canaries", "canaries/status", "metrictemplates", "alertproviders"} <= set(by_name)
    assert by_name["canaries"]["kind"] == "Canary"
    assert by_name["canaries"]["namespaced"] is True
    assert by_name["canaries"]["categories"] == ["all"]
    assert http.get("/apis/nothing.example.com/v1").status_code == 404


def test_lists_carry_kind_api_version_and_resource_version(http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json=configmap("a")).json()
    listed = http.get(CONFIGMAPS).json()
    assert (listed["kind"], listed["apiVersion"]) == ("ConfigMapList", "v1")
    assert listed["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]
    deployments = http.get(DEPLOYMENTS).json()
    assert (deployments["kind"], deployments["apiVersion"]) == ("DeploymentList", "apps/v1")
    assert int(deployments["metadata"]["resourceVersion"]) >= int(created["metadata"]["resourceVersion"])


def test_errors_are_kubernetes_status_objects(http: httpx.Client) -> None:
    unknown = http.get("/apis/nothing.example.com/v1/namespaces/test/things")
    assert unknown.status_code == 404 and unknown.json()["kind"] == "Status"
    http.post(CONFIGMAPS, json=configmap("a"))
    unsupported = http.patch(f"{CONFIGMAPS}/a", json={}, headers={"Content-Type": "application/json"})
    assert unsupported.status_code == 415 and unsupported.json()["reason"] == "UnsupportedMediaType"
    garbage = http.post(CONFIGMAPS, content=b"{not json", headers={"Content-Type": "application/json"})
    assert garbage.status_code == 400 and garbage.json()["reason"] == "BadRequest"
    nameless = http.post(CONFIGMAPS, json={"metadata": {}})
    assert nameless.status_code == 422 and nameless.json()["reason"] == "Invalid"
    wrong_kind = http.post(CONFIGMAPS, json={"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}})
    assert wrong_kind.status_code == 400


def test_merge_patch_removes_keys_set_to_null(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json=configmap("a", keep="1", drop="2"))
    patched = http.patch(f"{CONFIGMAPS}/a", json={"data": {"drop": None, "new": "3"}}, headers=MERGE).json()
    assert patched["data"] == {"keep": "1", "new": "3"}


def test_merge_patch_with_a_stale_resource_version_is_409(http: httpx.Client) -> None:
    created = http.post(CONFIGMAPS, json=configmap("a")).json()
    http.patch(f"{CONFIGMAPS}/a", json={"data": {"x": "1"}}, headers=MERGE)
    stale = http.patch(
        f"{CONFIGMAPS}/a",
        headers=MERGE,
        json={"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"x": "2"}},
    )
    assert stale.status_code == 409 and stale.json()["reason"] == "Conflict"


def test_strategic_merge_patch_merges_containers_by_name(http: httpx.Client) -> None:
    containers = [
        {"name": "app", "image": "a:1", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "s:1"},
    ]
    http.post(
        DEPLOYMENTS, json={"metadata": {"name": "web"}, "spec": {"template": {"spec": {"containers": containers}}}}
    )
    patched = http.patch(
        f"{DEPLOYMENTS}/web",
        headers={"Content-Type": "application/strategic-merge-patch+json"},
        json={"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "a:2"}]}}}},
    )
    assert patched.status_code == 200
    assert patched.json()["spec"]["template"]["spec"]["containers"] == [
        {"name": "app", "image": "a:2", "ports": [{"containerPort": 80}]},
        {"name": "sidecar", "image": "s:1"},
    ]


def test_strategic_merge_patch_is_refused_for_custom_resources(api: ApiServerThread, http: httpx.Client) -> None:
    load_crds(api, [REFERENCE_DIR / "crds" / "smi-trafficsplits.yaml"])
    splits = "/apis/split.smi-spec.io/v1alpha2/namespaces/test/trafficsplits"
    http.post(splits, json={"metadata": {"name": "s"}, "spec": {"service": "s", "backends": []}})
    refused = http.patch(
        f"{splits}/s", headers={"Content-Type": "application/strategic-merge-patch+json"}, json={"spec": {}}
    )
    assert refused.status_code == 415


def test_json_patch_on_status_subresource_changes_only_status(http: httpx.Client) -> None:
    created = http.post(DEPLOYMENTS, json={"metadata": {"name": "web"}, "spec": {"replicas": 1}}).json()
    response = http.patch(
        f"{DEPLOYMENTS}/web/status",
        headers=JSON_PATCH,
        json=[
            {"op": "test", "path": "/metadata/resourceVersion", "value": created["metadata"]["resourceVersion"]},
            {"op": "add", "path": "/status", "value": {"readyReplicas": 1}},
            {"op": "replace", "path": "/spec/replicas", "value": 5},
        ],
    )
    assert response.status_code == 200
    current = http.get(f"{DEPLOYMENTS}/web").json()
    assert current["status"] == {"readyReplicas": 1}
    assert current["spec"]["replicas"] == 1


def test_generate_name_and_dry_run(http: httpx.Client) -> None:
    generated = http.post(CONFIGMAPS, json={"metadata": {"generateName": "cm-"}})
    assert generated.status_code == 201
    assert generated.json()["metadata"]["name"].startswith("cm-")
    dry = http.post(CONFIGMAPS, params={"dryRun": "All"}, json=configmap("ghost"))
    assert dry.status_code == 201
    assert http.get(f"{CONFIGMAPS}/ghost").status_code == 404


def test_watch_ends_after_timeout_seconds(http: httpx.Client) -> None:
    assert (
        watch_lines(http, CONFIGMAPS, resourceVersion=http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]) == []
    )


def test_watch_with_resource_version_zero_sends_current_state(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json=configmap("a"))
    events = watch_lines(http, CONFIGMAPS, resourceVersion="0")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


def test_watch_with_initial_events_ends_them_with_a_bookmark(http: httpx.Client) -> None:
    http.post(CONFIGMAPS, json=configmap("a"))
    events = watch_lines(
        http, CONFIGMAPS, sendInitialEvents="true", allowWatchBookmarks="true", resourceVersionMatch="NotOlderThan"
    )
    assert [e["type"] for e in events] == ["ADDED", "BOOKMARK"]
    assert events[1]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_watch_field_selector_on_name_follows_one_object(http: httpx.Client) -> None:
    rv = http.get(CONFIGMAPS).json()["metadata"]["resourceVersion"]
    http.post(CONFIGMAPS, json=configmap("a"))
    http.post(CONFIGMAPS, json=configmap("b"))
    http.delete(f"{CONFIGMAPS}/a")
    events = watch_lines(http, CONFIGMAPS, resourceVersion=rv, fieldSelector="metadata.name=a")
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a"), ("DELETED", "a")]
    assert int(events[1]["object"]["metadata"]["resourceVersion"]) > int(
        events[0]["object"]["metadata"]["resourceVersion"]
    )


def test_watch_from_a_compacted_resource_version_gets_410_gone() -> None:
    with (
        ApiServerThread(EmulatedApiServer(namespaces=["test"], history_size=2)) as api,
        httpx.Client(base_url=api.url, timeout=10) as http,
    ):
        first = http.post(CONFIGMAPS, json=configmap("a")).json()["metadata"]["resourceVersion"]
        for name in ("b", "c", "d"):
            http.post(CONFIGMAPS, json=configmap(name))
        events = watch_lines(http, CONFIGMAPS, resourceVersion=first)
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410


def test_kmock_reactions_still_inject_faults(api: ApiServerThread, http: httpx.Client) -> None:
    api.call(lambda server: server["get /version"] << 503)
    assert http.get("/version").status_code == 503
    assert http.get("/api/v1/namespaces").status_code == 200


def test_request_log_is_bounded() -> None:
    with (
        ApiServerThread(EmulatedApiServer(request_log_size=5)) as api,
        httpx.Client(base_url=api.url, timeout=10) as http,
    ):
        for _ in range(20):
            http.get("/api/v1/namespaces")
        logged = api.call(lambda server: list(server))
    assert len(logged) == 5
    assert all(request.resource == "v1/namespaces" for request in logged)


def test_cli_process_serves_namespaces_and_crds_until_stopped(tmp_path: Path) -> None:
    crds = [REFERENCE_DIR / "crds" / "smi-trafficsplits.yaml"]
    with ApiServerProcess(namespaces=["demo"], crds=crds, log_path=tmp_path / "api.log") as api:
        with httpx.Client(base_url=api.url, timeout=10) as http:
            assert http.get("/api/v1/namespaces/demo").json()["status"]["phase"] == "Active"
            split = {
                "apiVersion": "split.smi-spec.io/v1alpha2",
                "kind": "TrafficSplit",
                "metadata": {"name": "s"},
                "spec": {"service": "s", "backends": []},
            }
            url = "/apis/split.smi-spec.io/v1alpha2/namespaces/demo/trafficsplits"
            assert http.post(url, json=split).status_code == 201
        with httpx.Client(base_url=api.url, timeout=10) as other:  # the state outlives one client
            assert [i["metadata"]["name"] for i in other.get(url).json()["items"]] == ["s"]
        stopped_url = api.url
    with pytest.raises(httpx.ConnectError):
        httpx.get(stopped_url, timeout=2)


def test_server_side_apply_creates_then_replaces_what_the_manager_applied(http: httpx.Client) -> None:
    apply = {"Content-Type": "application/apply-patch+yaml"}
    body = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: '1'\n"
    created = http.patch(f"{CONFIGMAPS}/cfg", params={"fieldManager": "me"}, content=body, headers=apply)
    assert created.status_code == 201
    updated = http.patch(
        f"{CONFIGMAPS}/cfg", params={"fieldManager": "me"}, headers=apply, content=body.replace("a: '1'", "b: '2'")
    )
    assert updated.status_code == 200
    assert updated.json()["data"] == {"b": "2"}  # "a" was the same manager's: re-applying without it removes it


def test_openapi_v3_index_points_at_every_group_version(api: ApiServerThread, http: httpx.Client) -> None:
    load_crds(api, [REFERENCE_DIR / "crds" / "smi-trafficsplits.yaml"])
    index = http.get("/openapi/v3").json()["paths"]
    assert {"api/v1", "apis/apps/v1", "apis/split.smi-spec.io/v1alpha2"} <= set(index)
    document = http.get(index["apis/split.smi-spec.io/v1alpha2"]["serverRelativeURL"]).json()
    patch = document["paths"]["/apis/split.smi-spec.io/v1alpha2/namespaces/{namespace}/trafficsplits/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "split.smi-spec.io",
        "version": "v1alpha2",
        "kind": "TrafficSplit",
    }
    assert "fieldValidation" in [param["name"] for param in patch["parameters"]]


def test_a_closed_watch_connection_releases_its_watcher(api: ApiServerThread) -> None:
    with httpx.Client(base_url=api.url, timeout=10) as client:
        client.post(CONFIGMAPS, json=configmap("a"))
        with client.stream("GET", CONFIGMAPS, params={"watch": "true"}) as response:
            lines = response.iter_lines()
            assert json.loads(next(lines))["type"] == "ADDED"
            assert api.call(lambda server: server.store.watcher_count()) == 1
    for _ in range(100):  # the server notices the closed connection asynchronously
        if api.call(lambda server: server.store.watcher_count()) == 0:
            break
        threading.Event().wait(0.05)
    assert api.call(lambda server: server.store.watcher_count()) == 0


def test_stopping_the_server_ends_open_watches(api: ApiServerThread) -> None:
    with (
        httpx.Client(base_url=api.url, timeout=10) as client,
        client.stream("GET", CONFIGMAPS, params={"watch": "true"}) as response,
    ):
        api.stop()
        assert list(response.iter_lines()) == []


GADGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "gadgets.sandbox.test"},
    "spec": {
        "group": "sandbox.test",
        "scope": "Namespaced",
        "names": {"plural": "gadgets", "singular": "gadget", "kind": "Gadget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {
                                    "size": {"type": "integer", "minimum": 1},
                                    "mode": {"type": "string", "enum": ["fast", "slow"], "default": "slow"},
                                    "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                                },
                            },
                            "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                        },
                    }
                },
            }
        ],
    },
}
GADGETS = "/apis/sandbox.test/v1/namespaces/test/gadgets"


def test_custom_resources_are_pruned_defaulted_and_validated_by_their_schema(http: httpx.Client) -> None:
    assert http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=GADGET_CRD).status_code == 201
    created = http.post(
        GADGETS,
        json={
            "apiVersion": "sandbox.test/v1",
            "kind": "Gadget",
            "metadata": {"name": "g"},
            "spec": {"size": 2, "unknown": 1, "extra": {"free": {"form": True}}},
            "junk": "x",
        },
    )
    assert created.status_code == 201
    assert created.json()["spec"] == {"size": 2, "mode": "slow", "extra": {"free": {"form": True}}}
    assert "junk" not in created.json()
    status = http.patch(f"{GADGETS}/g/status", headers=MERGE, json={"status": {"phase": "Ready", "bogus": 1}})
    assert status.json()["status"] == {"phase": "Ready"}
    invalid = http.patch(f"{GADGETS}/g", headers=MERGE, json={"spec": {"size": 0, "mode": "warp"}})
    assert invalid.status_code == 422
    assert "spec.mode" in invalid.json()["message"] and "spec.size" in invalid.json()["message"]
    missing = http.post(
        GADGETS, json={"apiVersion": "sandbox.test/v1", "kind": "Gadget", "metadata": {"name": "h"}, "spec": {}}
    )
    assert missing.status_code == 422


def test_kubectl_style_table_output_uses_printer_columns(http: httpx.Client) -> None:
    crd = json.loads(json.dumps(GADGET_CRD))
    crd["spec"]["versions"][0]["additionalPrinterColumns"] = [
        {"name": "Size", "type": "integer", "jsonPath": ".spec.size"},
        {"name": "Phase", "type": "string", "jsonPath": ".status.phase"},
    ]
    http.post("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", json=crd)
    http.post(
        GADGETS,
        json={"apiVersion": "sandbox.test/v1", "kind": "Gadget", "metadata": {"name": "g"}, "spec": {"size": 3}},
    )
    accept = {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"}
    table = http.get(GADGETS, headers=accept).json()
    assert table["kind"] == "Table"
    assert [c["name"] for c in table["columnDefinitions"]] == ["Name", "Size", "Phase", "Age"]
    assert table["rows"][0]["cells"][:3] == ["g", 3, "<none>"]
    assert table["rows"][0]["object"]["metadata"]["name"] == "g"
    deployments = http.get(DEPLOYMENTS, headers=accept).json()
    assert [c["name"] for c in deployments["columnDefinitions"]] == ["Name", "Ready", "Up-to-date", "Available", "Age"]


def test_idle_watches_that_allow_bookmarks_get_them() -> None:
    server = EmulatedApiServer(namespaces=["test"], bookmark_interval=0.2)
    load_crds(server, [REFERENCE_DIR / "crds" / "smi-trafficsplits.yaml"])  # filled before serving
    with ApiServerThread(server) as api, httpx.Client(base_url=api.url, timeout=10) as http:
        splits = "/apis/split.smi-spec.io/v1alpha2/namespaces/test/trafficsplits"
        rv = http.get(splits).json()["metadata"]["resourceVersion"]
        events = watch_lines(http, splits, resourceVersion=rv, allowWatchBookmarks="true")
    assert events and {e["type"] for e in events} == {"BOOKMARK"}
    assert events[0]["object"]["kind"] == "TrafficSplit"
    assert int(events[0]["object"]["metadata"]["resourceVersion"]) >= int(rv)
