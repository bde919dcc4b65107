"""Server-side apply with field ownership, as https://kubernetes.io/docs/reference/using-api/server-side-apply/
describes it: managedFields per manager in FieldsV1, removal of fields an apply no longer sends, conflicts."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.kubeemu.conftest import Kubectl

DEPLOYMENTS = "/apis/apps/v1/namespaces/test/deployments"
APPLY = {"Content-Type": "application/apply-patch+yaml"}


def config(labels: dict[str, str] | None = None, replicas: int | None = None, **annotations: str) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "web"}},
        "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "app", "image": "x"}]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    metadata: dict[str, Any] = {"name": "web", "labels": labels or {}}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}


def apply(http: httpx.Client, body: dict[str, Any], manager: str, force: bool = False) -> httpx.Response:
    params = {"fieldManager": manager, **({"force": "true"} if force else {})}
    return http.patch(f"{DEPLOYMENTS}/web", content=json.dumps(body), params=params, headers=APPLY)


def replicas_patch(http: httpx.Client, path: str, replicas: int, manager: str) -> httpx.Response:
    """A merge patch of spec.replicas by ``manager`` (an Update operation)."""
    headers = {"Content-Type": "application/merge-patch+json"}
    return http.patch(path, json={"spec": {"replicas": replicas}}, params={"fieldManager": manager}, headers=headers)


def entries(obj: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(entry["manager"], entry["operation"]): entry for entry in obj["metadata"]["managedFields"]}


def test_an_apply_records_what_it_set_in_fields_v1(http: httpx.Client) -> None:
    """server-side-apply#field-management: one entry per manager and operation, FieldsV1, apiVersion, time."""
    created = apply(http, config({"tier": "web"}, replicas=2), "me")
    assert created.status_code == 201
    entry = entries(created.json())[("me", "Apply")]
    assert entry["apiVersion"] == "apps/v1" and entry["fieldsType"] == "FieldsV1" and entry["time"]
    assert entry["fieldsV1"] == {
        "f:metadata": {"f:labels": {"f:tier": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:selector": {},
            "f:template": {
                "f:metadata": {"f:labels": {"f:app": {}}},
                "f:spec": {"f:containers": {'k:{"name":"app"}': {".": {}, "f:image": {}, "f:name": {}}}},
            },
        },
    }


def test_re_applying_without_a_field_removes_it_unless_someone_else_owns_it(http: httpx.Client) -> None:
    """server-side-apply#field-management: a field the same manager applied before and omits now is removed."""
    apply(http, config({"a": "1", "b": "2"}, note="x"), "me")
    apply(http, config({"c": "3"}), "other")
    again = apply(http, config({"a": "1", "c": "3"}), "me")
    assert again.status_code == 200
    obj = again.json()
    assert obj["metadata"]["labels"] == {"a": "1", "c": "3"}  # b removed; c kept (owned by other, too)
    assert "annotations" not in obj["metadata"]
    mine = entries(obj)[("me", "Apply")]["fieldsV1"]["f:metadata"]
    assert mine == {"f:labels": {"f:a": {}, "f:c": {}}}


def test_a_conflicting_apply_is_409_unless_forced(http: httpx.Client) -> None:
    """server-side-apply#conflicts: changing a field another manager owns is a conflict; force takes it over."""
    apply(http, config(replicas=2), "me")
    refused = apply(http, config(replicas=3), "other")
    assert refused.status_code == 409
    status = refused.json()
    assert status["reason"] == "Conflict"
    assert status["message"] == 'Apply failed with 1 conflict: conflict with "me": .spec.replicas'
    assert status["details"]["causes"] == [
        {"reason": "FieldManagerConflict", "message": 'conflict with "me"', "field": ".spec.replicas"}
    ]
    same_value = apply(http, config(replicas=2), "other")  # the same value is shared, not a conflict
    assert same_value.status_code == 200
    forced = apply(http, config(replicas=3), "other", force=True)
    assert forced.status_code == 200 and forced.json()["spec"]["replicas"] == 3
    me = entries(forced.json())[("me", "Apply")]["fieldsV1"]["f:spec"]
    assert "f:replicas" not in me


def test_other_writes_are_update_entries_that_take_the_fields_they_change(http: httpx.Client) -> None:
    """server-side-apply#field-management: non-apply writes are recorded as Update operations."""
    apply(http, config(replicas=2), "me")
    edited = replicas_patch(http, f"{DEPLOYMENTS}/web", 5, "kubectl-edit").json()
    update = entries(edited)[("kubectl-edit", "Update")]
    assert update["fieldsV1"] == {"f:spec": {"f:replicas": {}}}
    assert "f:replicas" not in entries(edited)[("me", "Apply")]["fieldsV1"]["f:spec"]
    conflict = apply(http, config(replicas=2), "me")
    assert conflict.status_code == 409
    assert conflict.json()["message"].startswith(
        'Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1 at '
    )
    created = http.post(
        "/api/v1/namespaces/test/configmaps",
        json={"metadata": {"name": "c"}, "data": {"k": "v"}},
        headers={"User-Agent": "OpenAPI-Generator/37.0.0/python"},
    ).json()
    assert entries(created)[("OpenAPI-Generator", "Update")]["fieldsV1"] == {"f:data": {".": {}, "f:k": {}}}


def test_apply_needs_a_field_manager(http: httpx.Client) -> None:
    response = http.patch(f"{DEPLOYMENTS}/web", content=json.dumps(config()), headers=APPLY)
    assert response.status_code == 422
    assert response.json()["message"] == (
        'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch'
    )


def test_kubectl_apply_server_side_prunes_and_reports_conflicts(kubectl: Kubectl) -> None:
    body = config({"a": "1", "b": "2"}, replicas=2)
    body["metadata"]["name"] = "ssa"
    kubectl.run("apply", "--server-side", "-f", "-", stdin=json.dumps(body))
    body["metadata"]["labels"] = {"a": "1"}
    kubectl.run("apply", "--server-side", "-f", "-", stdin=json.dumps(body))
    labels = json.loads(kubectl.run("get", "deployment", "ssa", "-o", "json").stdout)["metadata"]["labels"]
    assert labels == {"a": "1"}
    body["spec"]["replicas"] = 4
    conflict = kubectl.run(
        "apply", "--server-side", "--field-manager=rival", "-f", "-", stdin=json.dumps(body), check=False
    )
    assert conflict.returncode == 1
    assert 'conflict with "kubectl": .spec.replicas' in conflict.stderr
    forced = kubectl.run(
        "apply", "--server-side", "--field-manager=rival", "--force-conflicts", "-f", "-", stdin=json.dumps(body)
    )
    assert "serverside-applied" in forced.stdout


def test_a_scale_is_an_update_of_the_scale_subresource_that_an_apply_then_conflicts_with(
    http: httpx.Client,
) -> None:
    """server-side-apply#conflicts: ``kubectl scale`` takes spec.replicas (subresource ``scale``)."""
    apply(http, config(replicas=2), "kubectl")
    scaled = replicas_patch(http, f"{DEPLOYMENTS}/web/scale", 5, "kubectl-scale")
    assert scaled.status_code == 200
    obj = http.get(f"{DEPLOYMENTS}/web").json()
    scale = next(entry for entry in obj["metadata"]["managedFields"] if entry["manager"] == "kubectl-scale")
    assert (scale["operation"], scale["subresource"], scale["fieldsV1"]) == (
        "Update",
        "scale",
        {"f:spec": {"f:replicas": {}}},
    )
    conflict = apply(http, config(replicas=2), "kubectl")
    assert conflict.status_code == 409
    assert conflict.json()["message"].startswith(
        'Apply failed with 1 conflict: conflict with "kubectl-scale" with subresource "scale" using apps/v1 at '
    )
