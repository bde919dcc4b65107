"""The sandbox API server as the official ``kubernetes`` client sees it (real HTTP, no mocks).

The client's generated models make every field optional; the tests hold the
API objects as ``Any`` and let a missing field fail the test at run time.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import kubernetes
import pytest
from kubernetes import watch
from kubernetes.client import ApiException

from kubeemu.server import ApiServerThread, load_crds
from tests.kubeemu.conftest import reference_crds

Watch: Any = watch.Watch  # untyped in the client
CANARY = {
    "apiVersion": "flagger.app/v1beta1",
    "kind": "Canary",
    "metadata": {"name": "podinfo"},
    "spec": {
        "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "podinfo"},
        "service": {"port": 9898},
        "analysis": {"interval": "1m", "threshold": 5, "maxWeight": 50, "stepWeight": 10},
    },
}


def deployment(name: str, replicas: int = 1, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1"}]},
            },
        },
    }


def status_of(exc: ApiException) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.body or "{}")
    return body


@pytest.fixture
def apps(k8s: Any) -> Any:
    return kubernetes.client.AppsV1Api(k8s)


@pytest.fixture
def core(k8s: Any) -> Any:
    return kubernetes.client.CoreV1Api(k8s)


@pytest.fixture
def custom(k8s: Any) -> Any:
    return kubernetes.client.CustomObjectsApi(k8s)


def test_namespaces_can_be_listed_created_and_read(core: Any) -> None:
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "test"} <= names
    created = core.create_namespace({"metadata": {"name": "extra"}})
    assert created.metadata.name == "extra"
    assert created.status.phase == "Active"
    assert core.read_namespace("extra").metadata.uid == created.metadata.uid


def test_create_returns_the_stored_object_with_server_metadata(apps: Any) -> None:
    created = apps.create_namespaced_deployment("test", deployment("web"))
    assert created is not None
    assert created.metadata.namespace == "test"  # taken from the URL
    assert created.metadata.uid
    assert created.metadata.creation_timestamp is not None
    assert created.metadata.resource_version
    assert created.metadata.generation == 1
    assert apps.read_namespaced_deployment("web", "test").metadata.uid == created.metadata.uid


def test_creating_an_existing_object_is_409_already_exists(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("web"))
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment("test", deployment("web"))
    assert info.value.status == 409
    assert status_of(info.value)["reason"] == "AlreadyExists"


def test_creating_in_a_missing_namespace_is_404(apps: Any) -> None:
    with pytest.raises(ApiException) as info:
        apps.create_namespaced_deployment("nowhere", deployment("web"))
    assert info.value.status == 404


def test_missing_object_is_404_not_found_status(apps: Any) -> None:
    with pytest.raises(ApiException) as info:
        apps.read_namespaced_deployment("ghost", "test")
    status = status_of(info.value)
    assert info.value.status == 404
    assert status["kind"] == "Status" and status["apiVersion"] == "v1"
    assert status["status"] == "Failure" and status["reason"] == "NotFound" and status["code"] == 404
    assert "ghost" in status["message"]


def test_resource_version_increases_and_generation_follows_the_spec(apps: Any) -> None:
    created = apps.create_namespaced_deployment("test", deployment("web"))
    labelled = apps.patch_namespaced_deployment("web", "test", {"metadata": {"labels": {"x": "y"}}})
    scaled = apps.patch_namespaced_deployment("web", "test", {"spec": {"replicas": 3}})
    status = apps.patch_namespaced_deployment_status("web", "test", {"status": {"readyReplicas": 3}})
    versions = [int(obj.metadata.resource_version) for obj in (created, labelled, scaled, status)]
    assert versions == sorted(versions) and len(set(versions)) == 4
    assert [obj.metadata.generation for obj in (created, labelled, scaled, status)] == [1, 1, 2, 2]


def test_a_patch_that_changes_nothing_keeps_the_resource_version(apps: Any) -> None:
    created = apps.create_namespaced_deployment("test", deployment("web", replicas=2))
    same = apps.patch_namespaced_deployment("web", "test", {"spec": {"replicas": 2}})
    assert same.metadata.resource_version == created.metadata.resource_version


def test_replace_with_current_resource_version_succeeds_and_stale_one_is_409(apps: Any) -> None:
    created = apps.create_namespaced_deployment("test", deployment("web"))
    body = created.to_dict()
    fresh = apps.api_client.sanitize_for_serialization(created)
    fresh["spec"]["replicas"] = 5
    replaced = apps.replace_namespaced_deployment("web", "test", fresh)
    assert replaced.spec.replicas == 5
    assert replaced.metadata.generation == 2
    stale = apps.api_client.sanitize_for_serialization(created)
    stale["spec"]["replicas"] = 7
    with pytest.raises(ApiException) as info:
        apps.replace_namespaced_deployment("web", "test", stale)
    assert info.value.status == 409
    assert status_of(info.value)["reason"] == "Conflict"
    assert apps.read_namespaced_deployment("web", "test").spec.replicas == 5
    assert body["metadata"]["name"] == "web"


def test_status_subresource_writes_only_status_and_main_writes_ignore_it(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("web"))
    apps.patch_namespaced_deployment_status("web", "test", {"spec": {"replicas": 9}, "status": {"readyReplicas": 1}})
    after_status = apps.read_namespaced_deployment("web", "test")
    assert after_status.spec.replicas == 1
    assert after_status.status.ready_replicas == 1
    apps.patch_namespaced_deployment("web", "test", {"spec": {"replicas": 4}, "status": {"readyReplicas": 7}})
    after_main = apps.read_namespaced_deployment("web", "test")
    assert after_main.spec.replicas == 4
    assert after_main.status.ready_replicas == 1


def test_json_patch_with_failed_test_op_is_422_and_changes_nothing(apps: Any) -> None:
    created = apps.create_namespaced_deployment("test", deployment("web"))
    rv = created.metadata.resource_version
    ok = apps.patch_namespaced_deployment(
        "web",
        "test",
        [
            {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
            {"op": "add", "path": "/metadata/finalizers", "value": ["canary.dev/finalizer"]},
        ],
    )
    assert ok.metadata.finalizers == ["canary.dev/finalizer"]
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment(
            "web",
            "test",
            [
                {"op": "test", "path": "/metadata/resourceVersion", "value": rv},
                {"op": "remove", "path": "/metadata/finalizers"},
            ],
        )
    assert info.value.status == 422
    assert status_of(info.value)["reason"] == "Invalid"
    assert apps.read_namespaced_deployment("web", "test").metadata.finalizers == ["canary.dev/finalizer"]


def test_delete_with_finalizers_waits_until_they_are_removed(apps: Any) -> None:
    body = deployment("web")
    body["metadata"]["finalizers"] = ["canary.dev/finalizer"]
    apps.create_namespaced_deployment("test", body)
    apps.delete_namespaced_deployment("web", "test")
    pending = apps.read_namespaced_deployment("web", "test")
    assert pending.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as info:
        apps.patch_namespaced_deployment("web", "test", {"metadata": {"finalizers": ["x", "canary.dev/finalizer"]}})
    assert info.value.status == 422  # no new finalizers once deleting
    apps.patch_namespaced_deployment("web", "test", {"metadata": {"finalizers": None}})
    with pytest.raises(ApiException) as gone:
        apps.read_namespaced_deployment("web", "test")
    assert gone.value.status == 404


def test_delete_without_finalizers_removes_at_once(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("web"))
    apps.delete_namespaced_deployment("web", "test")
    assert apps.list_namespaced_deployment("test").items == []


def test_label_selectors_filter_lists(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("a", labels={"tier": "web", "env": "prod"}))
    apps.create_namespaced_deployment("test", deployment("b", labels={"tier": "db", "env": "prod"}))
    apps.create_namespaced_deployment("test", deployment("c", labels={"tier": "web"}))

    def names(selector: str) -> list[str]:
        return [d.metadata.name for d in apps.list_namespaced_deployment("test", label_selector=selector).items]

    assert names("tier=web") == ["a", "c"]
    assert names("tier==web,env=prod") == ["a"]
    assert names("tier!=web") == ["b"]
    assert names("tier in (db, cache)") == ["b"]
    assert names("tier notin (db)") == ["a", "c"]
    assert names("env") == ["a", "b"]
    assert names("!env") == ["c"]


def test_field_selectors_filter_lists(apps: Any, core: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("a"))
    apps.create_namespaced_deployment("test", deployment("b"))
    apps.create_namespaced_deployment("default", deployment("a"))
    found = apps.list_deployment_for_all_namespaces(field_selector="metadata.name=a").items
    assert sorted(d.metadata.namespace for d in found) == ["default", "test"]
    found = apps.list_deployment_for_all_namespaces(field_selector="metadata.namespace!=test").items
    assert [(d.metadata.namespace, d.metadata.name) for d in found] == [("default", "a")]
    assert [ns.metadata.name for ns in core.list_namespace(field_selector="metadata.name=test").items] == ["test"]


def test_lists_paginate_with_limit_and_continue(apps: Any) -> None:
    for name in ("a", "b", "c"):
        apps.create_namespaced_deployment("test", deployment(name))
    first = apps.list_namespaced_deployment("test", limit=2)
    assert [d.metadata.name for d in first.items] == ["a", "b"]
    rest = apps.list_namespaced_deployment("test", limit=2, _continue=first.metadata._continue)
    assert [d.metadata.name for d in rest.items] == ["c"]
    assert not rest.metadata._continue


def test_watch_without_resource_version_starts_with_current_objects(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("a"))
    apps.create_namespaced_deployment("test", deployment("b"))
    events = list(Watch().stream(apps.list_namespaced_deployment, "test", timeout_seconds=1))
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "a"), ("ADDED", "b")]


def test_watch_from_a_list_resource_version_loses_no_event_and_replays_none(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("old"))
    listed = apps.list_namespaced_deployment("test")
    apps.create_namespaced_deployment("test", deployment("new"))  # between the list and the watch
    apps.patch_namespaced_deployment("old", "test", {"spec": {"replicas": 2}})
    events = list(
        Watch().stream(
            apps.list_namespaced_deployment,
            "test",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "new"), ("MODIFIED", "old")]


def test_watch_delivers_live_changes_in_order(apps: Any) -> None:
    listed = apps.list_namespaced_deployment("test")
    apps.create_namespaced_deployment("test", deployment("web"))
    seen = []
    for event in Watch().stream(
        apps.list_namespaced_deployment, "test", resource_version=listed.metadata.resource_version, timeout_seconds=10
    ):
        seen.append((event["type"], event["object"].spec.replicas))
        if event["type"] == "ADDED":  # change it while the stream is open
            apps.patch_namespaced_deployment("web", "test", {"spec": {"replicas": 3}})
        elif event["type"] == "MODIFIED":
            apps.delete_namespaced_deployment("web", "test")
        else:
            break
    assert seen == [("ADDED", 1), ("MODIFIED", 3), ("DELETED", 3)]


def test_watch_with_selector_reports_objects_leaving_it_as_deleted(apps: Any) -> None:
    listed = apps.list_namespaced_deployment("test")
    apps.create_namespaced_deployment("test", deployment("a", labels={"tier": "web"}))
    apps.create_namespaced_deployment("test", deployment("b", labels={"tier": "db"}))
    apps.patch_namespaced_deployment("a", "test", {"metadata": {"labels": {"tier": "db"}}})
    events = list(
        Watch().stream(
            apps.list_namespaced_deployment,
            "test",
            label_selector="tier=web",
            resource_version=listed.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in events] == [("ADDED", "a"), ("DELETED", "a")]


def test_custom_resources_of_posted_crds_are_served_in_every_version(api: ApiServerThread, custom: Any) -> None:
    load_crds(api, reference_crds())
    vs = {
        "apiVersion": "networking.istio.io/v1beta1",
        "kind": "VirtualService",
        "metadata": {"name": "podinfo"},
        "spec": {"hosts": ["podinfo"], "http": []},
    }
    created = custom.create_namespaced_custom_object("networking.istio.io", "v1beta1", "test", "virtualservices", vs)
    assert created["metadata"]["uid"] and created["metadata"]["namespace"] == "test"
    as_v1 = custom.get_namespaced_custom_object("networking.istio.io", "v1", "test", "virtualservices", "podinfo")
    assert as_v1["apiVersion"] == "networking.istio.io/v1"
    assert as_v1["spec"] == vs["spec"]
    split = {
        "apiVersion": "split.smi-spec.io/v1alpha2",
        "kind": "TrafficSplit",
        "metadata": {"name": "podinfo"},
        "spec": {"service": "podinfo", "backends": [{"service": "podinfo-primary", "weight": 100}]},
    }
    custom.create_namespaced_custom_object("split.smi-spec.io", "v1alpha2", "test", "trafficsplits", split)
    listed = custom.list_namespaced_custom_object("split.smi-spec.io", "v1alpha2", "test", "trafficsplits")
    assert listed["kind"] == "TrafficSplitList"
    assert [item["metadata"]["name"] for item in listed["items"]] == ["podinfo"]


def test_custom_resource_status_subresource(api: ApiServerThread, custom: Any) -> None:
    load_crds(api, reference_crds())
    canary = {**CANARY, "status": {"phase": "Progressing"}}
    created = custom.create_namespaced_custom_object("flagger.app", "v1beta1", "test", "canaries", canary)
    assert "status" not in created  # dropped on create, as the status subresource requires
    custom.patch_namespaced_custom_object_status(
        "flagger.app", "v1beta1", "test", "canaries", "podinfo", {"status": {"phase": "Progressing"}}
    )
    custom.patch_namespaced_custom_object(
        "flagger.app",
        "v1beta1",
        "test",
        "canaries",
        "podinfo",
        {"spec": {"skipAnalysis": True}, "status": {"phase": "Failed"}},
    )
    current = custom.get_namespaced_custom_object("flagger.app", "v1beta1", "test", "canaries", "podinfo")
    assert current["status"] == {"phase": "Progressing"}
    assert current["spec"]["skipAnalysis"] is True
    assert current["metadata"]["generation"] == 2


def test_replacing_a_custom_resource_requires_a_resource_version(api: ApiServerThread, custom: Any) -> None:
    load_crds(api, reference_crds())
    canary = CANARY
    custom.create_namespaced_custom_object("flagger.app", "v1beta1", "test", "canaries", canary)
    with pytest.raises(ApiException) as info:
        custom.replace_namespaced_custom_object("flagger.app", "v1beta1", "test", "canaries", "podinfo", canary)
    assert info.value.status == 422


def test_deleting_a_crd_stops_serving_its_resource(api: ApiServerThread, http: httpx.Client) -> None:
    load_crds(api, reference_crds())
    assert http.get("/apis/split.smi-spec.io/v1alpha2/namespaces/test/trafficsplits").status_code == 200
    response = http.delete("/apis/apiextensions.k8s.io/v1/customresourcedefinitions/trafficsplits.split.smi-spec.io")
    assert response.status_code == 200
    assert http.get("/apis/split.smi-spec.io/v1alpha2/namespaces/test/trafficsplits").status_code == 404


def test_events_of_both_apis_can_be_created_and_listed(k8s: Any) -> None:
    core: Any = kubernetes.client.CoreV1Api(k8s)
    events: Any = kubernetes.client.EventsV1Api(k8s)
    core.create_namespaced_event(
        "test",
        {
            "metadata": {"generateName": "web-"},
            "reason": "Synced",
            "message": "ok",
            "type": "Normal",
            "involvedObject": {"kind": "Deployment", "name": "web", "namespace": "test"},
        },
    )
    events.create_namespaced_event(
        "test",
        {
            "metadata": {"name": "web.1"},
            "reason": "Synced",
            "note": "ok",
            "type": "Normal",
            "action": "Sync",
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "canary",
            "reportingInstance": "canary-0",
            "regarding": {"kind": "Deployment", "name": "web"},
        },
    )
    core_events = core.list_namespaced_event("test", field_selector="involvedObject.name=web").items
    assert [e.reason for e in core_events] == ["Synced"]
    assert core_events[0].metadata.name.startswith("web-")
    assert [e.note for e in events.list_namespaced_event("test").items] == ["ok"]


def test_deleting_a_namespace_deletes_its_objects(apps: Any, core: Any) -> None:
    core.create_namespace({"metadata": {"name": "tmp"}})
    apps.create_namespaced_deployment("tmp", deployment("web"))
    core.delete_namespace("tmp")
    assert apps.list_namespaced_deployment("tmp").items == []
    assert "tmp" not in {ns.metadata.name for ns in core.list_namespace().items}


def test_dependents_are_garbage_collected_with_their_owner(apps: Any, core: Any) -> None:
    owner = apps.create_namespaced_deployment("test", deployment("web"))
    ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "uid": owner.metadata.uid}
    core.create_namespaced_config_map("test", {"metadata": {"name": "owned", "ownerReferences": [ref]}})
    core.create_namespaced_config_map("test", {"metadata": {"name": "free"}})
    apps.delete_namespaced_deployment("web", "test")
    assert [cm.metadata.name for cm in core.list_namespaced_config_map("test").items] == ["free"]


def test_scale_subresource(apps: Any) -> None:
    apps.create_namespaced_deployment("test", deployment("web"))
    scale = apps.patch_namespaced_deployment_scale("web", "test", {"spec": {"replicas": 4}})
    assert scale.spec.replicas == 4
    assert scale.status.selector == "app=web"
    assert apps.read_namespaced_deployment("web", "test").spec.replicas == 4
