"""The Deployments a tick reads, the target and the primary, and the core's World they make.

Reading them is also where a Canary is refused for its workloads: a target
whose selector the primary could not use, or a primary that is another
controller's (see :mod:`canary.operator.ownership`).
"""

from __future__ import annotations

from dataclasses import dataclass

from canary.core import World
from canary.kube.api import DEPLOYMENTS, JsonDict, KubeApi
from canary.kube.workloads import TEMPLATE_HASH_ANNOTATION, deployment_ready, selector_label, template_hash
from canary.models import Canary
from canary.operator.ownership import PrimaryClaim, primary_claim, primary_taken

__all__ = ["Refusal", "Workloads", "read_workloads"]


@dataclass(frozen=True)
class Workloads:
    """The target and primary Deployments as read (None: missing), and whose the primary is."""

    target: JsonDict | None
    primary: JsonDict | None
    claim: PrimaryClaim

    def world(self, canary: Canary) -> World:
        """What the core observes of them: the template hashes and readiness (no gate or check yet).

        Readiness counts the share of ready pods ``canary``'s spec asks of each
        (``primaryReadyThreshold``, ``canaryReadyThreshold``).
        """
        primary_annotations = ((self.primary or {}).get("metadata", {}).get("annotations")) or {}
        return World(
            target_hash=template_hash(self.target) if self.target is not None else None,
            primary_ready=deployment_ready(self.primary, canary.primary_ready_threshold()),
            primary_hash=primary_annotations.get(TEMPLATE_HASH_ANNOTATION),
            canary_ready=deployment_ready(self.target, canary.canary_ready_threshold()),
        )


@dataclass(frozen=True)
class Refusal:
    """Why the controller will not run a Canary: the reason of its condition and Event, and the message."""

    reason: str
    message: str


async def read_workloads(api: KubeApi, canary: Canary) -> Workloads | Refusal:
    """The Canary's target and primary, or why either cannot be this Canary's."""
    namespace = canary.namespace
    target = await api.get(DEPLOYMENTS, namespace, canary.spec.targetRef.name)
    if target is not None:
        try:
            selector_label(target)
        except ValueError as error:
            return Refusal("InvalidTarget", str(error))
    primary_deployment = canary.primary_deployment_name()
    primary = await api.get(DEPLOYMENTS, namespace, primary_deployment)
    if primary is None:
        return Workloads(target, None, "this")
    claim = primary_claim(primary, canary)
    taken = primary_taken(primary, claim, target)
    if taken is not None:
        message = f"Deployment {namespace}/{primary_deployment} exists and is not this Canary's: {taken}"
        return Refusal("PrimaryNotOwned", message)
    return Workloads(target, primary, claim)
