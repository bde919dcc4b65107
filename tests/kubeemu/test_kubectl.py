"""What kubectl users run against the emulated API server: create from a file, get by short name."""

from __future__ import annotations

import json

import httpx

from kubeemu.server import load_crds
from tests.kubeemu.conftest import REFERENCE_DIR, Kubectl

ISTIO_VS = REFERENCE_DIR / "crds" / "istio-virtualservices.yaml"
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: podinfo
spec:
  replicas: 2
  selector:
    matchLabels: {app: podinfo}
  template:
    metadata:
      labels: {app: podinfo}
    spec:
      containers:
      - name: podinfo
        image: ghcr.io/stefanprodan/podinfo:6.0.0
"""


def test_a_protobuf_body_is_415_unsupported_media_type(http: httpx.Client) -> None:
    """kube-apiserver answers a body in a media type it does not decode with 415 and the ones it does."""
    response = http.post(
        "/apis/apps/v1/namespaces/test/deployments",
        content=b"k8s\x00\n\x0f\n\x07apps/v1",
        headers={"Content-Type": "application/vnd.kubernetes.protobuf"},
    )
    assert response.status_code == 415
    assert response.json()["reason"] == "UnsupportedMediaType"
    assert response.json()["message"] == (
        "the body of the request was in an unknown format - accepted media types include: "
        "application/json, application/yaml"
    )


def test_kubectl_create_from_a_file(kubectl: Kubectl) -> None:
    done = kubectl.run("create", "-f", "-", stdin=DEPLOYMENT)
    assert done.stdout.strip() == "deployment.apps/podinfo created"
    got = json.loads(kubectl.run("get", "deployment", "podinfo", "-o", "json").stdout)
    assert got["spec"]["replicas"] == 2


def test_kubectl_get_by_the_crds_short_names(kubectl: Kubectl) -> None:
    load_crds(kubectl.url, [ISTIO_VS])
    done = kubectl.run("get", "vs")
    assert "No resources found in test namespace." in done.stderr
