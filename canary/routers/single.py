"""The router for a provider whose whole split lives in ONE routing object named after the apex.

SMI (a TrafficSplit) and Gateway API (an HTTPRoute) are nothing more than an
:class:`ObjectRouter` given the object's :class:`~canary.kube.api.Resource`, a
``build`` function (the object that sends a :class:`~canary.core.routes.Routes`
split to primary and canary) and a ``read`` function (the split an object of
that kind applies). Istio adds its DestinationRules as *companions*: objects
without weights, made before the routing object and given back after it.

The four :class:`~canary.routers.base.Router` calls are written here once,
over :func:`~canary.routers.objects.ensure_object` (create, adopt, repair,
conflict retries) and :func:`~canary.routers.objects.release_object` (delete
what was created, restore what was adopted), with the three Services of
:class:`~canary.routers.services.ServiceReconciler`. The plain Kubernetes
router has no routing object and does not use this class.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from canary.core.routes import Routes
from canary.kube.api import JsonDict, KubeApi, Resource
from canary.routers.base import RoutingError, fallback_routes
from canary.routers.names import apex_service_name
from canary.routers.objects import ensure_object, release_object
from canary.routers.services import ServiceReconciler

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = ["Build", "Companion", "Companions", "ObjectRouter", "Read"]

Build = Callable[["Canary", Routes], JsonDict]
"""The whole routing object (apiVersion, kind, metadata, spec) that applies a split for a Canary."""

Read = Callable[["Canary", JsonDict], Routes]
"""The split a routing object applies; RoutingError when it is not one this Canary wrote or can take over."""


@dataclass(frozen=True)
class Companion:
    """An object the routing object needs that carries no weights (an Istio DestinationRule).

    ``build`` is called only when the object is written: finalize needs
    nothing but the resource and the name.
    """

    resource: Resource
    name: str
    build: Callable[[], JsonDict]


Companions = Callable[["Canary"], list[Companion]]
"""A Canary's companion objects, in creation order."""


def _no_companions(canary: Canary) -> list[Companion]:
    return []


class ObjectRouter:
    """Routes a Canary through one object ``<apex>`` of ``resource``, written by ``build`` and read by ``read``.

    Unlike :class:`~canary.routers.kubernetes.KubernetesRouter`, which moves
    the apex Service's selector, the split here is the routing object's
    weights. ``companions`` are kept before the routing object (so it never
    points at something missing) and released after it, in reverse order (so
    traffic keeps flowing while the Canary is finalized).
    """

    def __init__(
        self,
        api: KubeApi,
        resource: Resource,
        build: Build,
        read: Read,
        companions: Companions = _no_companions,
    ) -> None:
        self.api = api
        self.resource = resource
        self.build = build
        self.read = read
        self.companions = companions
        self.services = ServiceReconciler(api)

    async def reconcile(self, canary: Canary) -> None:
        """Services, companions, then the routing object, keeping the weights it has now.

        A routing object whose split cannot be read back (missing, or broken
        by a hand edit) gets the Canary's status weight instead.
        """
        await self.services.reconcile(canary)
        for companion in self.companions(canary):
            await ensure_object(self.api, canary, companion.resource, companion.build())

        def keep_weights(desired: JsonDict, current: JsonDict) -> JsonDict:
            try:
                routes = self.read(canary, current)
            except RoutingError:
                return desired
            return self.build(canary, routes)

        await ensure_object(
            self.api, canary, self.resource, self.build(canary, fallback_routes(canary)), adjust=keep_weights
        )

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Write the split (and mirroring) into the routing object."""
        await ensure_object(self.api, canary, self.resource, self.build(canary, routes))

    async def get_routes(self, canary: Canary) -> Routes:
        """Read the split back from the routing object; a temporary RoutingError while it is missing."""
        namespace = canary.metadata.namespace or "default"
        current = await self.api.get(self.resource, namespace, apex_service_name(canary))
        if current is None:
            raise RoutingError(
                f"{self.resource.kind} {namespace}/{apex_service_name(canary)} not found", temporary=True
            )
        return self.read(canary, current)

    async def finalize(self, canary: Canary) -> None:
        """Restore or delete the routing object first (traffic keeps flowing), then companions, then Services."""
        await release_object(self.api, canary, self.resource, apex_service_name(canary))
        for companion in reversed(self.companions(canary)):
            await release_object(self.api, canary, companion.resource, companion.name)
        await self.services.finalize(canary)
