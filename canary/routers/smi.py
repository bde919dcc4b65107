"""Linkerd (and other SMI meshes): an SMI TrafficSplit ``<apex>`` between primary and canary.

The TrafficSplit's ``service`` is the apex Service; its backends are
``<apex>-canary`` and ``<apex>-primary`` (in that order, as Flagger writes
them). The API version follows the provider:

============== =========================== ===============================
provider       apiVersion                  weight
============== =========================== ===============================
linkerd        split.smi-spec.io/v1alpha2  integer
smi:v1alpha1   split.smi-spec.io/v1alpha1  Kubernetes quantity (``"90"``)
smi:v1alpha2   split.smi-spec.io/v1alpha2  integer
smi:v1alpha3   split.smi-spec.io/v1alpha3  integer
============== =========================== ===============================

In v1alpha1 weights are quantities and only relative (``"500m"`` and
``"1"`` split a third / two thirds); reading one back turns them into
percentages. SMI cannot mirror: mirrored routes are refused.
"""

from __future__ import annotations

import dataclasses
import re
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from canary.core.routes import Routes
from canary.kube.api import TRAFFIC_SPLITS, JsonDict, KubeApi, Resource
from canary.models.support import LINKERD_METRICS, ProviderSupport
from canary.routers.base import RoutingError, apex_metadata
from canary.routers.declaration import RouterDeclaration
from canary.routers.names import apex_service_name, canary_service_name, primary_service_name
from canary.routers.single import ObjectRouter

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = [
    "DECLARATION",
    "SMI_VERSIONS",
    "SmiRouter",
    "build_traffic_split",
    "parse_quantity",
    "routes_from_traffic_split",
    "traffic_split_resource",
]

SMI_VERSIONS = ("v1alpha1", "v1alpha2", "v1alpha3")
"""TrafficSplit versions the router can write."""

_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(m|k|M|G|T|P|E)?$")
_SUFFIX = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    "k": Decimal(10) ** 3,
    "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12,
    "P": Decimal(10) ** 15,
    "E": Decimal(10) ** 18,
}


def traffic_split_resource(version: str) -> Resource:
    """The TrafficSplit resource of an SMI version (the KubeApi constant is v1alpha2)."""
    if version not in SMI_VERSIONS:
        raise RoutingError(f"SMI TrafficSplit version {version!r} is not supported ({', '.join(SMI_VERSIONS)})")
    return dataclasses.replace(TRAFFIC_SPLITS, version=version)


def parse_quantity(value: Any) -> Decimal:
    """A TrafficSplit weight as a number: an integer, or a decimal-SI quantity string ("500m", "1", "2k")."""
    if isinstance(value, bool):
        raise RoutingError(f"invalid TrafficSplit weight {value!r}")
    if isinstance(value, int | float):
        return Decimal(str(value))
    match = _QUANTITY.match(str(value).strip())
    if match is None:
        raise RoutingError(f"invalid TrafficSplit weight {value!r}: expected a number or a quantity such as '500m'")
    try:
        return Decimal(match.group(1)) * _SUFFIX[match.group(2)]
    except InvalidOperation:  # pragma: no cover - the pattern only lets numbers through
        raise RoutingError(f"invalid TrafficSplit weight {value!r}") from None


def _weight(version: str, percent: int) -> int | str:
    # v1alpha1 weights are resource.Quantity values, serialised as strings.
    return str(percent) if version == "v1alpha1" else percent


def build_traffic_split(canary: Canary, routes: Routes, version: str) -> JsonDict:
    """The TrafficSplit ``<apex>`` of that SMI version sending ``routes`` to canary and primary."""
    if routes.mirrored:
        raise RoutingError("SMI TrafficSplit cannot mirror traffic: spec.analysis.mirror needs the istio provider")
    resource = traffic_split_resource(version)
    metadata = apex_metadata(canary, apex_service_name(canary))
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": metadata,
        "spec": {
            "service": apex_service_name(canary),
            "backends": [
                {"service": canary_service_name(canary), "weight": _weight(version, routes.canary)},
                {"service": primary_service_name(canary), "weight": _weight(version, routes.primary)},
            ],
        },
    }


def routes_from_traffic_split(canary: Canary, traffic_split: JsonDict) -> Routes:
    """The split a TrafficSplit applies, in percent; RoutingError when its backends are not ours."""
    primary, canary_backend = primary_service_name(canary), canary_service_name(canary)
    where = f"TrafficSplit {canary.metadata.namespace}/{traffic_split.get('metadata', {}).get('name')}"
    weights: dict[str, Decimal] = {}
    for backend in (traffic_split.get("spec") or {}).get("backends") or []:
        name = str(backend.get("service", ""))
        weights[name] = weights.get(name, Decimal(0)) + parse_quantity(backend.get("weight", 0))
    if set(weights) != {primary, canary_backend}:
        found = ", ".join(sorted(weights)) or "none"
        raise RoutingError(
            f"{where} has backends {found}, not {primary} and {canary_backend}; "
            f"it is not managed by Canary {canary.metadata.name}"
        )
    if min(weights.values()) < 0:
        raise RoutingError(
            f"{where}: a backend weight is negative ({primary}={weights[primary]}, {canary_backend}={weights[canary_backend]})"
        )
    total = weights[primary] + weights[canary_backend]
    if total <= 0:
        raise RoutingError(f"{where}: all backend weights are 0")
    canary_percent = int((weights[canary_backend] * 100 / total).to_integral_value())
    return Routes.canary_at(canary_percent)


class SmiRouter(ObjectRouter):
    """Routes a Canary with an SMI TrafficSplit of one API version (Linkerd: v1alpha2)."""

    def __init__(self, api: KubeApi, version: str = "v1alpha2") -> None:
        super().__init__(
            api,
            traffic_split_resource(version),
            build=lambda canary, routes: build_traffic_split(canary, routes, version),
            read=routes_from_traffic_split,
        )
        self.version = version


DECLARATION = RouterDeclaration(
    support=ProviderSupport(
        names=("linkerd", *(f"smi:{version}" for version in SMI_VERSIONS)),
        strategies=frozenset({"canary", "blue-green"}),
        metrics=LINKERD_METRICS,
    ),
    writes=tuple(traffic_split_resource(version) for version in SMI_VERSIONS),
    factory=lambda api, provider: SmiRouter(api, "v1alpha2" if provider == "linkerd" else provider.split(":", 1)[1]),
)
"""Linkerd and SMI: weighted and blue/green routing (no mirroring, no request match), measured by
Linkerd's proxy metrics (here an SMI TrafficSplit runs on Linkerd)."""
