"""The emulated API server refuses what kube-apiserver refuses: invalid names and, per fieldValidation, unknown fields."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from kubernetes.client import ApiException, CoreV1Api, CustomObjectsApi

from kubeemu.server import ApiServerThread, load_crds
from tests.kubeemu.conftest import REPO_CRDS, Kubectl

CONFIGMAPS = "/api/v1/namespaces/test/configmaps"
DEPLOYMENTS = "/apis/apps/v1/namespaces/test/deployments"
CANARIES = "/apis/canary.dev/v1beta1/namespaces/test/canaries"
SUBDOMAIN = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must "
    "start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is "
    "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)


def deployment(name: str, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": {"containers": [{"name": "app", "image": "x"}]}},
            **spec,
        },
    }


def canary(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "service": {"port": 9898},
            "analysis": {"interval": "1m", "threshold": 5, "stepWeight": 10, "maxWeight": 50},
            **spec,
        },
    }


def merge_patch(http: httpx.Client, path: str, patch: dict[str, Any], directive: str) -> httpx.Response:
    """A JSON merge patch with this fieldValidation directive."""
    headers = {"Content-Type": "application/merge-patch+json"}
    return http.patch(path, json=patch, params={"fieldValidation": directive}, headers=headers)


@pytest.fixture
def crds(api: ApiServerThread) -> None:
    load_crds(api, REPO_CRDS)


def test_names_that_are_not_rfc_1123_subdomains_are_422_with_the_cause(http: httpx.Client) -> None:
    """https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#dns-subdomain-names"""
    response = http.post(CONFIGMAPS, json={"metadata": {"name": "Foo_bar"}})
    assert response.status_code == 422
    status = response.json()
    assert status["reason"] == "Invalid"
    cause = f'Invalid value: "Foo_bar": {SUBDOMAIN}'
    assert status["message"] == f'ConfigMap "Foo_bar" is invalid: metadata.name: {cause}'
    assert status["details"] == {
        "name": "Foo_bar",
        "group": "",
        "kind": "ConfigMap",
        "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "metadata.name"}],
    }
    too_long = http.post(CONFIGMAPS, json={"metadata": {"name": "a" * 254}})
    assert too_long.status_code == 422
    assert "must be no more than 253 characters" in too_long.json()["message"]
    assert http.post(CONFIGMAPS, json={"metadata": {"name": "a.b-c"}}).status_code == 201


def test_namespaces_need_rfc_1123_labels_and_services_rfc_1035_labels(http: httpx.Client) -> None:
    """https://kubernetes.io/docs/concepts/overview/working-with-objects/names/#rfc-1123-label-names
    and #rfc-1035-label-names (Services)."""
    namespace = http.post("/api/v1/namespaces", json={"metadata": {"name": "a.b"}})
    assert namespace.status_code == 422
    assert "a lowercase RFC 1123 label must consist of" in namespace.json()["message"]
    assert namespace.json()["message"].startswith('Namespace "a.b" is invalid: metadata.name: Invalid value: "a.b"')
    service = http.post("/api/v1/namespaces/test/services", json={"metadata": {"name": "1abc"}, "spec": {}})
    assert service.status_code == 422
    assert "a DNS-1035 label must consist of" in service.json()["message"]
    deployment_status = http.post(DEPLOYMENTS, json=deployment("Web")).json()
    assert deployment_status["message"].startswith('Deployment.apps "Web" is invalid: metadata.name')


def test_strict_field_validation_refuses_unknown_fields_on_create_and_update(http: httpx.Client) -> None:
    """https://kubernetes.io/docs/reference/using-api/api-concepts/#field-validation: Strict fails the request
    (a create or update with 400 BadRequest, the decoder's message naming each unknown field)."""
    body = deployment("web", foo="bar")
    body["spec"]["template"]["spec"]["containers"][0]["bar"] = 1
    refused = http.post(DEPLOYMENTS, json=body, params={"fieldValidation": "Strict"})
    assert refused.status_code == 400
    assert refused.json()["reason"] == "BadRequest"
    assert refused.json()["message"] == (
        'Deployment in version "v1" cannot be handled as a Deployment: strict decoding error: '
        'unknown field "spec.template.spec.containers[0].bar", unknown field "spec.foo"'
    )
    created = http.post(DEPLOYMENTS, json=deployment("web"), params={"fieldValidation": "Strict"}).json()
    created["metadata"]["foo"] = "x"
    updated = http.put(f"{DEPLOYMENTS}/web", json=created, params={"fieldValidation": "Strict"})
    assert updated.status_code == 400
    assert updated.json()["message"].endswith('strict decoding error: unknown field "metadata.foo"')


def test_strict_field_validation_refuses_unknown_fields_in_a_patch_with_422(http: httpx.Client) -> None:
    """api-concepts#field-validation; kube-apiserver's patch handler reports them as an invalid ``patch``."""
    http.post(DEPLOYMENTS, json=deployment("web"))
    refused = merge_patch(http, f"{DEPLOYMENTS}/web", {"spec": {"foo": 1}}, "Strict")
    assert refused.status_code == 422
    status = refused.json()
    assert status["message"].startswith(' "" is invalid: patch: Invalid value: "{')
    assert status["message"].endswith('strict decoding error: unknown field "spec.foo"')
    assert status["details"]["causes"][0]["field"] == "patch"
    assert "foo" not in http.get(f"{DEPLOYMENTS}/web").json()["spec"]


def test_warn_is_the_default_and_answers_warning_headers_then_prunes(http: httpx.Client) -> None:
    """api-concepts#field-validation: Warn (the default) succeeds, with a Warning header per unknown field."""
    response = http.post(DEPLOYMENTS, json=deployment("web", foo="bar"))
    assert response.status_code == 201
    assert response.headers.get_list("Warning") == ['299 - "unknown field \\"spec.foo\\""']
    assert "foo" not in response.json()["spec"]
    patched = merge_patch(http, f"{DEPLOYMENTS}/web", {"spec": {"bar": 1}}, "Warn")
    assert patched.status_code == 200
    assert patched.headers.get_list("Warning") == ['299 - "unknown field \\"spec.bar\\""']


def test_ignore_prunes_silently(http: httpx.Client) -> None:
    """api-concepts#field-validation: Ignore drops unknown fields without a word."""
    response = http.post(DEPLOYMENTS, json=deployment("web", foo="bar"), params={"fieldValidation": "Ignore"})
    assert response.status_code == 201
    assert "Warning" not in response.headers
    assert "foo" not in response.json()["spec"]
    bad = http.post(DEPLOYMENTS, json=deployment("x"), params={"fieldValidation": "Loose"})
    assert bad.status_code == 422
    assert bad.json()["message"] == (
        'CreateOptions.meta.k8s.io "" is invalid: fieldValidation: Unsupported value: "Loose": '
        'supported values: "Ignore", "Strict", "Warn"'
    )


@pytest.mark.usefixtures("crds")
def test_custom_resources_are_checked_against_their_crd_schema(http: httpx.Client) -> None:
    """api-concepts#field-validation applies to custom resources through their structural schema."""
    refused = http.post(CANARIES, json=canary("web", foo=1), params={"fieldValidation": "Strict"})
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        'Canary in version "v1beta1" cannot be handled as a Canary: strict decoding error: unknown field "spec.foo"'
    )
    warned = http.post(CANARIES, json=canary("web", foo=1))
    assert warned.status_code == 201 and "foo" not in warned.json()["spec"]
    assert warned.headers["Warning"] == '299 - "unknown field \\"spec.foo\\""'


@pytest.mark.usefixtures("crds")
def test_server_side_apply_cannot_type_unknown_fields(http: httpx.Client) -> None:
    """https://kubernetes.io/docs/reference/using-api/server-side-apply/: the applied configuration is typed
    against the schema; kube-apiserver answers the typing error as a reasonless 500."""
    response = http.patch(
        f"{CANARIES}/web",
        content=json.dumps(canary("web", foo=1)),
        params={"fieldManager": "me"},
        headers={"Content-Type": "application/apply-patch+yaml"},
    )
    assert response.status_code == 500
    assert "reason" not in response.json()
    assert response.json()["message"] == (
        "failed to create typed patch object (test/web; canary.dev/v1beta1, Kind=Canary): "
        ".spec.foo: field not declared in schema"
    )


@pytest.mark.usefixtures("crds")
def test_the_official_client_sees_the_same_answers(k8s: Any) -> None:
    """The Python client: an invalid name is a 422 ApiException, Strict an unknown field a 400 one."""
    core = CoreV1Api(k8s)
    with pytest.raises(ApiException) as info:
        core.create_namespaced_config_map("test", {"metadata": {"name": "Foo_bar"}})
    assert info.value.status == 422
    assert json.loads(info.value.body)["details"]["causes"][0]["field"] == "metadata.name"
    custom = CustomObjectsApi(k8s)
    with pytest.raises(ApiException) as strict:
        custom.create_namespaced_custom_object(
            "canary.dev", "v1beta1", "test", "canaries", canary("web", foo=1), field_validation="Strict"
        )
    assert strict.value.status == 400
    assert 'unknown field "spec.foo"' in json.loads(strict.value.body)["message"]
    created = custom.create_namespaced_custom_object("canary.dev", "v1beta1", "test", "canaries", canary("web", foo=1))
    assert "foo" not in created["spec"]


def test_kubectl_create_and_apply_validate_strictly(kubectl: Kubectl) -> None:
    """``kubectl create --validate=strict`` and ``kubectl apply`` (strict by default) show the server's refusal;
    ``--validate=warn`` prints the server's warning and creates the object without the field."""
    manifest = json.dumps(deployment("kubectl-strict", foo="bar"))
    strict = kubectl.run("create", "--validate=strict", "-f", "-", stdin=manifest, check=False)
    assert strict.returncode == 1
    assert 'strict decoding error: unknown field "spec.foo"' in strict.stderr
    applied = kubectl.run("apply", "-f", "-", stdin=manifest, check=False)
    assert applied.returncode == 1 and 'unknown field "spec.foo"' in applied.stderr
    warned = kubectl.run("create", "--validate=warn", "-f", "-", stdin=manifest)
    assert 'Warning: unknown field "spec.foo"' in warned.stderr
    spec = json.loads(kubectl.run("get", "deployment", "kubectl-strict", "-o", "json").stdout)["spec"]
    assert "foo" not in spec
    bad_name = kubectl.run("create", "configmap", "Foo_bar", check=False)
    assert bad_name.returncode == 1
    assert 'ConfigMap "Foo_bar" is invalid: metadata.name: Invalid value: "Foo_bar"' in bad_name.stderr
    server_side = kubectl.run(
        "apply", "--server-side", "-f", "-", stdin=json.dumps(canary("kubectl-ssa", foo=1)), check=False
    )
    assert server_side.returncode == 1
    assert ".spec.foo: field not declared in schema" in server_side.stderr
