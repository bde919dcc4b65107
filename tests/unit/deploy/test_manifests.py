"""deploy/ renders with ``kubectl kustomize`` into objects a cluster accepts.

Every rendered object is validated (strictly: unknown fields are errors)
against the Kubernetes schemas of the oldest and newest versions the
``kubernetes-validate`` package knows. The ServiceMonitor is a Prometheus
Operator kind that package has no schema for: it is checked against the
fields the Prometheus Operator documents, with the Kubernetes definitions of
its metadata and label selector, and against the Service it must select.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import referencing
import yaml

from tests.unit.deploy.render import DEPLOY_DIR, REPO_ROOT, find, render_deploy

NAMESPACE = "canary-system"
PART_OF = {"app.kubernetes.io/part-of": "canary"}
DASHBOARDS = ("canary-rollout.json", "canary-overview.json")
OLDEST = "1.25"  # the oldest Kubernetes the manifests target (Pod Security admission is GA there)
NO_SCHEMA = {"monitoring.coreos.com/v1/ServiceMonitor"}  # kinds kubernetes-validate cannot know

# Prometheus' duration syntax, as the ServiceMonitor CRD's schema spells it.
DURATION = r"^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"
# The fields of a ServiceMonitor this project may use (a subset of the Prometheus Operator's
# monitoring.coreos.com/v1 API); anything else is a misspelling.
SERVICE_MONITOR_SCHEMA: dict[str, Any] = {
    "$id": "https://kubernetes.io/api/servicemonitor-monitoring-v1.json",
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {"$ref": "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "$ref": "/api/_definitions.json#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.LabelSelector"
                },
                "namespaceSelector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "any": {"type": "boolean"},
                        "matchNames": {"type": "array", "items": {"type": "string"}},
                    },
                },
                "jobLabel": {"type": "string"},
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "port": {"type": "string"},
                            "targetPort": {"type": ["string", "integer"]},
                            "path": {"type": "string", "pattern": "^/"},
                            "scheme": {"enum": ["http", "https"]},
                            "interval": {"type": "string", "pattern": DURATION},
                            "scrapeTimeout": {"type": "string", "pattern": DURATION},
                            "honorLabels": {"type": "boolean"},
                        },
                    },
                },
            },
        },
    },
}


def _group_version_kind(obj: dict[str, Any]) -> str:
    return f"{obj['apiVersion']}/{obj['kind']}"


def _versions() -> list[str]:
    """The oldest version we target and the newest the package knows, as "major.minor"."""
    newest = ".".join(str(kubernetes_validate.latest_version()).split(".")[:2])
    return [OLDEST, newest]


def _definitions(version: str) -> dict[str, Any]:
    """The Kubernetes schema definitions kubernetes-validate ships for ``version``."""
    folder = f"v{version}.0-local-strict"
    text = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema" / folder / "_definitions.json"
    loaded: dict[str, Any] = json.loads(text.read_text())
    return loaded


def _objects() -> list[dict[str, Any]]:
    return render_deploy()


def _label_selector_matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def test_deploy_renders_the_controller_and_everything_it_needs() -> None:
    objects = _objects()
    found = {(o["kind"], o["metadata"]["name"], o["metadata"].get("namespace")) for o in objects}
    assert found == {
        ("Namespace", NAMESPACE, None),
        ("CustomResourceDefinition", "canaries.canary.dev", None),
        ("CustomResourceDefinition", "metrictemplates.canary.dev", None),
        ("CustomResourceDefinition", "alertproviders.canary.dev", None),
        ("ServiceAccount", "canary-controller", NAMESPACE),
        ("ClusterRole", "canary-controller", None),
        ("ClusterRoleBinding", "canary-controller", None),
        ("Deployment", "canary-controller", NAMESPACE),
        ("Service", "canary-controller-metrics", NAMESPACE),
        ("ServiceMonitor", "canary-controller", NAMESPACE),
        ("ConfigMap", "canary-grafana-dashboards", NAMESPACE),
    }
    for obj in objects:  # one label selects everything canary installed (e.g. for kubectl apply --prune -l)
        assert obj["metadata"]["labels"].items() >= PART_OF.items(), obj["metadata"]["name"]
    # The Namespace comes before the objects in it, and the CRDs before anything else.
    kinds = [o["kind"] for o in objects]
    assert kinds.index("Namespace") < min(i for i, o in enumerate(objects) if o["metadata"].get("namespace"))


@pytest.mark.parametrize("version", _versions())
def test_every_rendered_object_validates_against_the_kubernetes_schemas(version: str) -> None:
    checked = set()
    for obj in _objects():
        kind = _group_version_kind(obj)
        if kind in NO_SCHEMA:
            with pytest.raises(kubernetes_validate.SchemaNotFoundError):  # still unknown: checked below instead
                kubernetes_validate.validate(obj, version, strict=True)
            continue
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(
                f"{obj['kind']} {obj['metadata']['name']} is invalid for Kubernetes {version}: {path}: {error.message}"
            )
        checked.add(obj["kind"])
    assert checked >= {"Namespace", "CustomResourceDefinition", "Deployment", "ClusterRole", "ConfigMap", "Service"}


@pytest.mark.parametrize("version", _versions())
def test_the_service_monitor_has_the_prometheus_operator_shape(version: str) -> None:
    monitor = find(_objects(), "ServiceMonitor")
    definitions = referencing.Resource.from_contents(_definitions(version))
    registry: referencing.Registry[Any] = definitions @ referencing.Registry()
    validator = jsonschema.Draft202012Validator(SERVICE_MONITOR_SCHEMA, registry=registry)
    errors = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(monitor)]
    assert errors == []


def test_the_service_monitor_scrapes_the_controller_metrics_endpoint() -> None:
    objects = _objects()
    monitor = find(objects, "ServiceMonitor")
    service = find(objects, "Service", "canary-controller-metrics")
    pod = find(objects, "Deployment", "canary-controller")["spec"]["template"]
    assert _label_selector_matches(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    assert service["metadata"]["namespace"] in monitor["spec"]["namespaceSelector"]["matchNames"]
    assert _label_selector_matches(service["spec"]["selector"], pod["metadata"]["labels"])
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["path"] == "/metrics"
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    (container,) = pod["spec"]["containers"]
    named = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert port["targetPort"] in named, f"Service port targets {port['targetPort']}, the container names {named}"


def test_the_crds_are_exactly_those_in_crds() -> None:
    rendered = {o["metadata"]["name"]: o for o in _objects() if o["kind"] == "CustomResourceDefinition"}
    shipped = {}
    for path in sorted((REPO_ROOT / "crds").glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            shipped[doc["metadata"]["name"]] = doc
    assert rendered.keys() == shipped.keys()
    for name, crd in rendered.items():
        crd = copy.deepcopy(crd)
        labels = crd["metadata"].pop("labels")
        assert labels == PART_OF
        assert crd == shipped[name], f"{name} differs from crds/"


def _dashboards(configmap: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for key, text in configmap["data"].items():
        yield key, json.loads(text)


def test_the_dashboards_configmap_is_found_by_grafanas_sidecar() -> None:
    configmap = find(_objects(), "ConfigMap", "canary-grafana-dashboards")
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert set(configmap["data"]) == set(DASHBOARDS)
    for key in DASHBOARDS:
        assert configmap["data"][key] == (DEPLOY_DIR / "grafana" / key).read_text(), key
    uids = []
    for key, dashboard in _dashboards(configmap):
        # A provisioned dashboard cannot ask for inputs the way an imported one can.
        assert "__inputs" not in dashboard, key
        assert dashboard["title"] and dashboard["panels"], key
        uids.append(dashboard["uid"])
    assert len(set(uids)) == len(uids), f"two dashboards share a uid: {uids}"
    # `kubectl apply` (client-side) copies the object into an annotation limited to 256 KiB.
    assert len(json.dumps(configmap)) < 256 * 1024


# What kustomize v2 (the kustomize inside kubectl 1.14 to 1.20, e.g. Debian's kubernetes-client)
# understands: it rejects unknown fields, and loads directories only from `bases`.
KUSTOMIZE_V2_FIELDS = {
    "apiVersion", "kind", "resources", "bases", "namespace", "namePrefix", "nameSuffix", "commonLabels",
    "commonAnnotations", "patchesStrategicMerge", "patchesJson6902", "configMapGenerator", "secretGenerator",
    "generatorOptions", "images", "vars", "crds",
}  # fmt: skip
KUSTOMIZE_V2_GENERATOR_FIELDS = {"name", "namespace", "behavior", "files", "literals", "env"}


@pytest.mark.parametrize("folder", ["deploy", "crds"])
def test_the_kustomizations_stay_within_what_kustomize_v2_reads(folder: str) -> None:
    root = REPO_ROOT / folder
    kustomization = yaml.safe_load((root / "kustomization.yaml").read_text())
    assert set(kustomization) <= KUSTOMIZE_V2_FIELDS, set(kustomization) - KUSTOMIZE_V2_FIELDS
    for generator in kustomization.get("configMapGenerator", []):
        assert set(generator) <= KUSTOMIZE_V2_GENERATOR_FIELDS, generator
    for entry in kustomization.get("resources", []):
        assert (root / entry).is_file(), f"{folder}/kustomization.yaml: resources entry {entry} is not a file"
    for entry in kustomization.get("bases", []):
        assert (root / entry / "kustomization.yaml").is_file(), entry
    listed = {Path(entry).name for entry in kustomization.get("resources", [])}
    manifests = {p.name for p in root.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert manifests <= listed, f"{folder}/ has manifests the kustomization leaves out: {manifests - listed}"
