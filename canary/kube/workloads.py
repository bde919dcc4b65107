"""Deployments: the target (run as the canary) and the ``<target>-primary`` copy.

Flagger's deployment model: the user's Deployment is the canary; the
controller keeps a copy of the last promoted version as ``<target>-primary``
whose selector label value carries a ``-primary`` suffix, so the two sets of
pods never overlap. The pure helpers here (hashing, rendering the primary,
readiness) are separate from the few async writes.
"""

from __future__ import annotations

import copy
import hashlib
import json
from typing import Any

from canary.kube.api import DEPLOYMENTS, JsonDict, KubeApi
from canary.models import primary_deployment_name

__all__ = [
    "SELECTOR_LABELS",
    "TEMPLATE_HASH_ANNOTATION",
    "deployment_ready",
    "render_primary",
    "replica_count",
    "scale",
    "selector_label",
    "template_hash",
]

TEMPLATE_HASH_ANNOTATION = "canary.dev/template-hash"
# Flagger looks for these selector labels, in this order.
SELECTOR_LABELS = ("app", "name", "app.kubernetes.io/name")


def template_hash(deployment: JsonDict) -> str:
    """A stable hash of the pod template: a change means a new revision."""
    template = deployment.get("spec", {}).get("template", {})
    canonical = json.dumps(template, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def selector_label(deployment: JsonDict) -> tuple[str, str]:
    """The (key, value) of the selector label that tells primary and canary pods apart.

    Raises ValueError naming the labels looked for when the Deployment's
    ``spec.selector.matchLabels`` has none of them.
    """
    labels = deployment.get("spec", {}).get("selector", {}).get("matchLabels") or {}
    for key in SELECTOR_LABELS:
        if key in labels:
            return key, str(labels[key])
    name = deployment.get("metadata", {}).get("name", "?")
    raise ValueError(
        f"deployment {name}: spec.selector.matchLabels has none of the labels {', '.join(SELECTOR_LABELS)}"
    )


def render_primary(target: JsonDict, owner: JsonDict | None, replicas: int | None = None) -> JsonDict:
    """The primary Deployment for ``target``: same pod template, ``-primary`` selector value.

    ``replicas`` defaults to the target's own (at initialization the target
    still has the user's replica count).
    """
    meta = target["metadata"]
    key, value = selector_label(target)
    primary_value = f"{value}-primary"
    spec: dict[str, Any] = copy.deepcopy(target.get("spec", {}))
    spec.pop("paused", None)
    spec["replicas"] = replicas if replicas is not None else max(1, replica_count(target))
    spec["selector"] = {"matchLabels": {key: primary_value}}
    template = spec.setdefault("template", {})
    template_meta = template.setdefault("metadata", {})
    template_meta["labels"] = {**(template_meta.get("labels") or {}), key: primary_value}
    primary: JsonDict = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": primary_deployment_name(meta["name"]),
            "namespace": meta.get("namespace"),
            "labels": {**(meta.get("labels") or {}), key: primary_value},
            "annotations": {TEMPLATE_HASH_ANNOTATION: template_hash(target)},
        },
        "spec": spec,
    }
    if owner is not None:
        primary["metadata"]["ownerReferences"] = [owner]
    return primary


def deployment_ready(deployment: JsonDict | None, threshold: int = 100) -> bool:
    """Whether a Deployment has rolled out: every wanted replica updated, and enough of them ready.

    ``threshold`` is the percentage of the updated replicas that must be
    ready (Flagger's ``primaryReadyThreshold`` / ``canaryReadyThreshold``,
    100 by default), compared as Flagger's ``isDeploymentReady`` does: the
    count wanted is ``updatedReplicas * threshold / 100`` rounded down, and
    old replicas still terminating keep the rollout unfinished whatever the
    threshold. Flagger counts ``availableReplicas``; we count
    ``readyReplicas`` (the same pods without ``minReadySeconds``), as before.
    A Deployment scaled to zero is not ready: it cannot serve a canary's traffic.
    """
    if deployment is None:
        return False
    status = deployment.get("status") or {}
    wanted = replica_count(deployment)
    if wanted <= 0:
        return False
    generation = int(deployment.get("metadata", {}).get("generation") or 0)
    if int(status.get("observedGeneration") or 0) < generation:
        return False
    updated = int(status.get("updatedReplicas") or 0)
    if updated < wanted or int(status.get("replicas") or 0) > updated:
        return False
    return int(status.get("readyReplicas") or 0) >= updated * threshold // 100


def replica_count(deployment: JsonDict) -> int:
    """``spec.replicas`` as Kubernetes reads it: 1 when unset."""
    value = deployment.get("spec", {}).get("replicas")
    return 1 if value is None else int(value)


async def scale(api: KubeApi, deployment: JsonDict, replicas: int) -> bool:
    """Set a Deployment's replica count (from the object already read); answers whether it wrote."""
    if replica_count(deployment) == replicas:
        return False
    meta = deployment["metadata"]
    await api.patch(DEPLOYMENTS, meta.get("namespace"), meta["name"], {"spec": {"replicas": replicas}})
    return True
