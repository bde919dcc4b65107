"""``kubectl explain``: the OpenAPI v3 documents carry the CRDs' schemas and the built-in kinds' definitions."""

from __future__ import annotations

import httpx

from kubeemu.server import ApiServerThread, load_crds
from tests.kubeemu.conftest import REFERENCE_DIR, Kubectl

ISTIO_VS = REFERENCE_DIR / "crds" / "istio-virtualservices.yaml"


def test_kubectl_explain_reads_the_crd_and_builtin_schemas(kubectl: Kubectl) -> None:
    load_crds(kubectl.url, [ISTIO_VS])
    canary = kubectl.run("explain", "canary.spec.analysis").stdout
    assert "KIND:       Canary" in canary and "FIELD: analysis <Object>" in canary
    assert "stepWeight\t<integer>" in canary
    virtual_service = kubectl.run("explain", "virtualservice.spec").stdout
    assert "GROUP:      networking.istio.io" in virtual_service and "http\t<[]Object>" in virtual_service
    replicas = kubectl.run("explain", "deployment.spec.replicas").stdout
    assert "FIELD: replicas <integer>" in replicas and "Defaults to 1." in replicas
    labels = kubectl.run("explain", "canary.metadata.labels").stdout  # ObjectMeta, through its reference
    assert "FIELD: labels <map[string]string>" in labels


def test_openapi_v3_documents_change_hash_when_a_schema_changes(api: ApiServerThread, http: httpx.Client) -> None:
    """kubectl caches each group version's document by the hash in the index: a new schema needs a new hash."""
    before = http.get("/openapi/v3").json()["paths"]
    load_crds(api, [ISTIO_VS])
    after = http.get("/openapi/v3").json()["paths"]
    assert before["apis/apps/v1"] == after["apis/apps/v1"]
    document = http.get(after["apis/networking.istio.io/v1"]["serverRelativeURL"]).json()
    schema = document["components"]["schemas"]["io.istio.networking.v1.VirtualService"]
    assert schema["x-kubernetes-group-version-kind"] == [
        {"group": "networking.istio.io", "version": "v1", "kind": "VirtualService"}
    ]
    assert "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta" in document["components"]["schemas"]
