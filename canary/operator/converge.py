"""Converging the cluster to the world a persisted state wants: the primary, the routes, the canary's replicas.

The reconcile tick calls these after the decision is persisted, in this
order (the primary, then traffic, then replicas), and reports what they
raise: each write is idempotent, so a tick that stops half-way is finished
by the next one.
"""

from __future__ import annotations

from canary.core import Desired, Phase, Replicas, Routes, State
from canary.kube.api import DEPLOYMENTS, JsonDict, KubeApi
from canary.kube.workloads import (
    TEMPLATE_HASH_ANNOTATION,
    deployment_ready,
    render_primary,
    replica_count,
    scale,
    template_hash,
)
from canary.models import Canary
from canary.operator.ownership import owner_reference
from canary.routers.base import Router, RoutingError

__all__ = ["converge_primary", "converge_replicas", "converge_routes"]


async def converge_primary(
    api: KubeApi, canary: Canary, want: Desired, target: JsonDict, primary: JsonDict | None, state: State
) -> JsonDict | None:
    """Create the primary, or give it the target's template when the state says so.

    Answers the primary as it was read, or None while there is none (one
    just created must become ready before anything routes to it).
    """
    if primary is None:
        if want.ensure_primary:
            await api.create(DEPLOYMENTS, canary.namespace, render_primary(target, owner_reference(canary)))
        return None
    target_hash = template_hash(target)
    primary_hash = (primary.get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION)
    # Only the analysed revision is ever promoted (a change since then restarts the analysis first);
    # initialization makes the target's template the first primary (an adopted one may run another).
    first = state.phase in (Phase.NEW, Phase.INITIALIZING)
    if want.primary_from_target and primary_hash != target_hash and (first or target_hash == state.last_applied_spec):
        rendered = render_primary(target, owner_reference(canary), replicas=replica_count(primary))
        rendered["metadata"]["resourceVersion"] = primary["metadata"].get("resourceVersion")
        rendered["metadata"]["labels"] = {**(primary["metadata"].get("labels") or {}), **rendered["metadata"]["labels"]}
        await api.replace(DEPLOYMENTS, canary.namespace, primary["metadata"]["name"], rendered)
    return primary


async def converge_routes(
    router: Router, canary: Canary, routes: Routes, state: State, routed: Routes | None = None
) -> bool:
    """Make the mesh's objects exist and split traffic as ``routes`` say; True when the split was written.

    Raises RoutingError.

    The Services and mesh objects are rebuilt from the spec when they are
    missing, while initializing, and in any phase when the spec changed since
    the controller last observed it (an edit of ``spec.service``: ports,
    headers, gateways... reaches them at once, as with Flagger). ``routed``
    is the split already read this tick, if any (it is not read twice).
    """
    current = routed
    if current is None:
        try:
            current = await router.get_routes(canary)
        except RoutingError:
            current = None  # not there yet, or not ours yet: reconcile creates or adopts it
    edited = canary.status.observedGeneration != canary.metadata.generation
    if current is None or edited or state.phase in (Phase.INITIALIZING, Phase.INITIALIZED):
        await router.reconcile(canary)
    if current == routes:
        return False
    await router.set_routes(canary, routes)
    return True


async def converge_replicas(
    api: KubeApi, want: Desired, target: JsonDict, primary: JsonDict, primary_threshold: int = 100
) -> None:
    """Scale the canary (the target) up to the primary's replicas, or down to zero once the primary serves.

    ``primary_threshold``: the percentage of the primary's pods that must be ready (``primaryReadyThreshold``).
    """
    if want.canary_replicas == Replicas.UP:
        await scale(api, target, replica_count(primary))
    elif want.canary_replicas == Replicas.ZERO and deployment_ready(primary, primary_threshold):
        await scale(api, target, 0)
