"""The router for a Canary's ``spec.provider``: one name, one router, no silent fallback.

Keys are the provider names the Canary model validates (Flagger's names).
An empty provider means the controller's default, Istio. A provider the
model accepts but no router here handles (contour, gloo, nginx, ...) is
refused with a :class:`~canary.routers.base.UnknownProvider` naming the
providers that are routed.
"""

from __future__ import annotations

from collections.abc import Callable

from canary.kube.api import KubeApi
from canary.models import support
from canary.routers.base import Router, UnknownProvider
from canary.routers.gatewayapi import GatewayApiRouter
from canary.routers.istio import IstioRouter
from canary.routers.kubernetes import KubernetesRouter
from canary.routers.smi import SmiRouter

__all__ = ["DEFAULT_PROVIDER", "ROUTED_PROVIDERS", "router_for"]

DEFAULT_PROVIDER = support.DEFAULT_PROVIDER
"""The provider of a Canary that names none (istio)."""

_FACTORIES: dict[str, Callable[[KubeApi], Router]] = {
    "istio": IstioRouter,
    "linkerd": lambda api: SmiRouter(api, "v1alpha2"),
    "smi:v1alpha1": lambda api: SmiRouter(api, "v1alpha1"),
    "smi:v1alpha2": lambda api: SmiRouter(api, "v1alpha2"),
    "smi:v1alpha3": lambda api: SmiRouter(api, "v1alpha3"),
    "gatewayapi:v1": lambda api: GatewayApiRouter(api, "v1"),
    "gatewayapi:v1beta1": lambda api: GatewayApiRouter(api, "v1beta1"),
    "kubernetes": KubernetesRouter,
}

ROUTED_PROVIDERS: tuple[str, ...] = tuple(sorted(_FACTORIES))
"""Every ``spec.provider`` value a router here handles."""


def router_for(provider: str | None, api: KubeApi) -> Router:
    """The router for ``provider`` (``None`` or ``""``: the default, istio) talking to ``api``.

    Raises UnknownProvider for any other name, listing the routed ones.
    """
    name = provider or DEFAULT_PROVIDER
    factory = _FACTORIES.get(name)
    if factory is None:
        raise UnknownProvider(
            f"spec.provider {name!r} is not routed by this controller; supported: {', '.join(ROUTED_PROVIDERS)}"
        )
    return factory(api)
