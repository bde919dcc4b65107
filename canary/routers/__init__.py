"""Traffic routing: one router per mesh behind the :class:`Router` protocol, chosen by ``spec.provider``.

``router_for(canary.spec.provider, api)`` gives the router; its four calls
(``reconcile``, ``set_routes``, ``get_routes``, ``finalize``) manage the
apex/primary/canary Services and the mesh's own objects. Object names come
from :mod:`canary.routers.names`.
"""

from canary.routers.base import Router, RoutingError, UnknownProvider
from canary.routers.gatewayapi import GatewayApiRouter
from canary.routers.istio import IstioRouter
from canary.routers.kubernetes import KubernetesRouter
from canary.routers.names import (
    ORIGINAL_SPEC_ANNOTATION,
    apex_name,
    canary_name,
    primary_name,
    primary_workload_name,
)
from canary.routers.registry import DEFAULT_PROVIDER, ROUTED_PROVIDERS, router_for
from canary.routers.services import ServiceReconciler, selector_label
from canary.routers.smi import SmiRouter

__all__ = [
    "DEFAULT_PROVIDER",
    "ORIGINAL_SPEC_ANNOTATION",
    "ROUTED_PROVIDERS",
    "GatewayApiRouter",
    "IstioRouter",
    "KubernetesRouter",
    "Router",
    "RoutingError",
    "ServiceReconciler",
    "SmiRouter",
    "UnknownProvider",
    "apex_name",
    "canary_name",
    "primary_name",
    "primary_workload_name",
    "router_for",
    "selector_label",
]
