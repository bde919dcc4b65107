"""Plain Kubernetes blue/green: no mesh, the apex Service's selector is the switch.

There is no mesh object. All traffic goes either to the primary pods or to
the canary pods, by pointing the apex Service's selector at one or the
other; so the only splits are 100/0 and 0/100, and anything in between (or
mirroring) is refused. Flagger's ``kubernetes`` provider never switches the
apex (its load tests hit ``<apex>-canary`` directly); switching it is our
addition, and ``set_routes(100/0)`` is what sends everything back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from canary.core.routes import Routes
from canary.kube.api import SERVICES, KubeApi
from canary.models.support import ProviderSupport
from canary.routers.base import RoutingError
from canary.routers.declaration import RouterDeclaration
from canary.routers.names import apex_service_name
from canary.routers.services import ServiceReconciler

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = ["DECLARATION", "KubernetesRouter"]


class KubernetesRouter:
    """Blue/green by Service selector: the apex selects either the primary or the canary pods."""

    def __init__(self, api: KubeApi) -> None:
        self.api = api
        self.services = ServiceReconciler(api)

    async def reconcile(self, canary: Canary) -> None:
        """The three Services; an apex switched to the canary stays switched."""
        await self.services.reconcile(canary)

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Point the apex at the canary pods (canary 100) or at the primary pods (canary 0)."""
        if routes.mirrored:
            raise RoutingError(
                "the kubernetes provider cannot mirror traffic: spec.analysis.mirror needs the istio provider"
            )
        if routes.canary not in (0, 100):
            raise RoutingError(
                f"the kubernetes provider switches all traffic at once (blue/green): canary weight must be "
                f"0 or 100, got {routes.canary}; use a mesh provider for weighted steps"
            )
        await self.services.point_apex(canary, to_canary=routes.canary == 100)

    async def get_routes(self, canary: Canary) -> Routes:
        """Which pods the apex selects: 100/0 for the primary's, 0/100 for the canary's."""
        namespace = canary.metadata.namespace or "default"
        name = apex_service_name(canary)
        apex = await self.api.get(SERVICES, namespace, name)
        if apex is None:
            raise RoutingError(f"Service {namespace}/{name} not found", temporary=True)
        selectors = await self.services.selectors(canary)
        selector = apex.get("spec", {}).get("selector") or {}
        if selector == selectors.primary:
            return Routes(primary=100, canary=0)
        if selector == selectors.canary:
            return Routes(primary=0, canary=100)
        raise RoutingError(
            f"Service {namespace}/{name} selects {selector or 'nothing'}, neither the primary pods "
            f"({selectors.primary}) nor the canary pods ({selectors.canary})"
        )

    async def finalize(self, canary: Canary) -> None:
        """Give the apex back if it was adopted; delete the Services this Canary created."""
        await self.services.finalize(canary)


DECLARATION = RouterDeclaration(
    support=ProviderSupport(names=("kubernetes",), strategies=frozenset({"blue-green"}), metrics=None),
    writes=(),
    factory=lambda api, provider: KubernetesRouter(api),
)
"""Plain Kubernetes: blue/green only, nothing to mirror with, no proxy metrics (MetricTemplates only)."""
