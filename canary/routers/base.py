"""The Router protocol every traffic provider implements, and the errors routers raise.

A router owns the objects that decide where a Canary's traffic goes: the
ClusterIP Services every provider needs, plus the provider's own object
(Istio VirtualService and DestinationRules, SMI TrafficSplit, Gateway API
HTTPRoute; nothing more for plain Kubernetes). The controller drives it with
four calls and never touches those objects itself.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from pydantic import BaseModel

from canary.core.routes import Routes
from canary.errors import CanaryError

if TYPE_CHECKING:
    from canary.models import Canary, CanaryService

__all__ = [
    "Router",
    "RoutingError",
    "UnknownProvider",
    "apex_metadata",
    "as_json",
    "fallback_routes",
    "require_service",
    "split_read_back",
]


class RoutingError(CanaryError):
    """A routing step that cannot succeed as asked, with a message for people.

    ``temporary`` is True when the same call may succeed later without a spec
    change (the target Deployment does not exist yet); otherwise the Canary's
    spec, or an object someone else owns, has to change first. The controller
    reports either kind on the Canary (see :mod:`canary.errors`).
    """

    def __init__(self, message: str, *, temporary: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.temporary = temporary


class UnknownProvider(RoutingError):
    """``spec.provider`` names a mesh no router here handles."""


class Router(Protocol):
    """Moves a Canary's traffic between ``<apex>-primary`` and ``<apex>-canary``.

    Every method is idempotent and keeps no state between calls: the objects
    in the API (and the Canary's status) are the only memory, so a restarted
    controller continues where the last one stopped.
    """

    async def reconcile(self, canary: Canary) -> None:
        """Create the Services and mesh objects, adopt existing ones, repair drift.

        Keeps the current weights. Call it once the primary Deployment is
        ready: it points the apex Service at the primary pods, which would
        cut traffic to an existing apex Service if the primary could not
        serve yet.
        """
        ...

    async def set_routes(self, canary: Canary, routes: Routes) -> None:
        """Send ``routes.primary`` % to the primary and ``routes.canary`` % to the canary."""
        ...

    async def get_routes(self, canary: Canary) -> Routes:
        """The split as the mesh object says it is now (what traffic really sees)."""
        ...

    async def finalize(self, canary: Canary) -> None:
        """Give back what was taken over (original specs restored) and delete what was created."""
        ...


def as_json(value: Any) -> Any:
    """A model (or a structure holding models) as plain JSON data with Flagger's field names.

    Unset optional fields are left out, so what a user did not write is not
    written into the mesh objects either.
    """
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True, exclude_none=True)
    if isinstance(value, dict):
        return {str(key): as_json(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [as_json(item) for item in value]
    return value


def require_service(canary: Canary) -> CanaryService:
    """``spec.service``, which every router needs; a RoutingError naming the field when it is absent."""
    service = canary.spec.service
    if service is None:
        raise RoutingError(
            f"Canary {canary.metadata.namespace}/{canary.metadata.name}: spec.service is required for routing"
        )
    return service


def split_read_back(where: str, primary: tuple[str, int], canary: tuple[str, int], mirrored: bool = False) -> Routes:
    """The split a mesh object applies, from its (name, weight) pairs; RoutingError naming ``where`` otherwise.

    The object may have been edited by hand: weights must each be within
    0..100 and add up to 100 to be a split this controller wrote or can take over.
    """
    (primary_host, primary_weight), (canary_host, canary_weight) = primary, canary
    weights = f"weights {primary_host}={primary_weight} and {canary_host}={canary_weight}"
    if primary_weight + canary_weight != 100:
        raise RoutingError(f"{where}: {weights} do not add up to 100")
    if not (0 <= primary_weight <= 100 and 0 <= canary_weight <= 100):
        raise RoutingError(f"{where}: {weights} are not each within 0..100")
    return Routes(primary=primary_weight, canary=canary_weight, mirrored=mirrored)


def fallback_routes(canary: Canary) -> Routes:
    """The split to write when none can be read back from the mesh: the Canary's status weight (0 at first).

    Used when a router (re)creates its object, or repairs one whose shape
    was broken, so a restarted rollout does not jump back to 0 %.
    """
    weight = min(max(int(canary.status.canaryWeight or 0), 0), 100)
    return Routes.canary_at(weight)


def apex_metadata(canary: Canary, name: str) -> dict[str, Any]:
    """``metadata`` for an apex-level object (mesh object) named ``name``: labels and annotations of
    ``spec.service.apex``, as Flagger puts them on the VirtualService / HTTPRoute."""
    metadata: dict[str, Any] = {"name": name}
    apex = require_service(canary).apex
    if apex is not None:
        if apex.labels:
            metadata["labels"] = dict(apex.labels)
        if apex.annotations:
            metadata["annotations"] = dict(apex.annotations)
    return metadata
