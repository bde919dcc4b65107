"""Served-resource definitions of the mesh objects, for the testbed's API server.

The testbed needs the API server to serve VirtualServices, DestinationRules,
TrafficSplits and HTTPRoutes. It does not need their schemas: every object
the routers write is validated against each mesh project's own published CRD
schema in the unit tests. So the testbed ships only these small definitions
(group, versions, names with the projects' own short names, so ``kubectl get
vs`` works, and scope) and accepts any object body.
"""

from __future__ import annotations

from canary.kube.api import DESTINATION_RULES, HTTP_ROUTES, TRAFFIC_SPLITS, VIRTUAL_SERVICES, JsonDict, Resource

__all__ = ["mesh_crds"]

_SHORT_NAMES = {  # as each project's CRD declares them (Gateway API's HTTPRoute has none)
    VIRTUAL_SERVICES: ["vs"],
    DESTINATION_RULES: ["dr"],
    TRAFFIC_SPLITS: ["ts"],
}
_VERSIONS = {
    VIRTUAL_SERVICES: ("v1alpha3", "v1beta1", "v1"),
    DESTINATION_RULES: ("v1alpha3", "v1beta1", "v1"),
    TRAFFIC_SPLITS: ("v1alpha1", "v1alpha2", "v1alpha3"),
    HTTP_ROUTES: ("v1beta1", "v1"),
}


def _crd(resource: Resource, versions: tuple[str, ...]) -> JsonDict:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{resource.plural}.{resource.group}"},
        "spec": {
            "group": resource.group,
            "scope": "Namespaced",
            "names": {
                "plural": resource.plural,
                "singular": resource.kind.lower(),
                "kind": resource.kind,
                "listKind": f"{resource.kind}List",
                **({"shortNames": _SHORT_NAMES[resource]} if resource in _SHORT_NAMES else {}),
            },
            "versions": [
                {
                    "name": version,
                    "served": True,
                    "storage": version == resource.version,
                    "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}},
                    "subresources": {"status": {}},
                }
                for version in versions
            ],
        },
    }


def mesh_crds() -> list[JsonDict]:
    """CRDs for the mesh resources the routers write, every version they may use."""
    return [_crd(resource, versions) for resource, versions in _VERSIONS.items()]
