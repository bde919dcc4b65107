"""Traffic routing: one router per mesh behind the :class:`Router` protocol, chosen by ``spec.provider``.

``router_for(canary.spec.provider, api)`` gives the router; its four calls
(``reconcile``, ``set_routes``, ``get_routes``, ``finalize``) manage the
apex/primary/canary Services and the mesh's own objects. Object names come
from :mod:`canary.routers.names`. A router whose split lives in one object is
an :class:`ObjectRouter`; each router file ends in a :class:`RouterDeclaration`
of what its provider supports, and :mod:`canary.routers.registry` lists them
(``DECLARATIONS``) and derives every provider table from them, including the
whole support check :func:`unsupported`.
"""

from canary.routers.base import Router, RoutingError, UnknownProvider
from canary.routers.declaration import RouterDeclaration
from canary.routers.gatewayapi import GatewayApiRouter
from canary.routers.istio import IstioRouter
from canary.routers.kubernetes import KubernetesRouter
from canary.routers.names import (
    ORIGINAL_SPEC_ANNOTATION,
    apex_service_name,
    canary_service_name,
    primary_service_name,
)
from canary.routers.registry import (
    DECLARATIONS,
    DEFAULT_PROVIDER,
    METRIC_SERIES,
    PROVIDER_SUPPORT,
    ROUTED_PROVIDERS,
    WRITTEN_RESOURCES,
    declaration_for,
    refusals,
    router_for,
    unsupported,
)
from canary.routers.services import ServiceReconciler, selector_label
from canary.routers.single import ObjectRouter
from canary.routers.smi import SmiRouter

__all__ = [
    "DECLARATIONS",
    "DEFAULT_PROVIDER",
    "METRIC_SERIES",
    "ORIGINAL_SPEC_ANNOTATION",
    "PROVIDER_SUPPORT",
    "ROUTED_PROVIDERS",
    "WRITTEN_RESOURCES",
    "GatewayApiRouter",
    "IstioRouter",
    "KubernetesRouter",
    "ObjectRouter",
    "Router",
    "RouterDeclaration",
    "RoutingError",
    "ServiceReconciler",
    "SmiRouter",
    "UnknownProvider",
    "apex_service_name",
    "canary_service_name",
    "declaration_for",
    "primary_service_name",
    "refusals",
    "router_for",
    "selector_label",
    "unsupported",
]
