"""What a traffic provider's router file declares about itself, for everything that is not routing.

Each router file ends with one :class:`RouterDeclaration`; the registry
(:mod:`canary.routers.registry`) lists them, and every table that depends on
the provider is read from there: which ``spec.provider`` names are routed,
what each refuses or ignores (:class:`~canary.models.support.ProviderSupport`,
checked by :func:`canary.models.support.unsupported`), which metric series the
built-in metrics, the dashboards and the testbed read, which object kinds the
controller's RBAC must grant and the testbed's API server must serve.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from canary.kube.api import KubeApi, Resource
from canary.models.support import ProviderSupport
from canary.routers.base import Router

__all__ = ["RouterDeclaration", "RouterFactory"]

RouterFactory = Callable[[KubeApi, str], Router]
"""Makes the router for ``(api, spec.provider name)``: one factory serves every name of a declaration."""


@dataclass(frozen=True)
class RouterDeclaration:
    """One traffic provider's router, as the rest of the controller needs to know it.

    ``support`` is the part the models' checks read (names, strategies,
    mirroring, route settings, metric series); ``writes`` and ``factory``
    need the Kubernetes layer, which the models may not import, so they are
    kept here, beside it.
    """

    support: ProviderSupport
    """What it supports, its ``spec.provider`` names and its metric series."""
    writes: tuple[Resource, ...]
    """Its own object kinds, every API version it may write (not the Services: every router writes
    those, :data:`canary.kube.api.SERVICES`)."""
    factory: RouterFactory
    """The router for one of its names."""

    @property
    def names(self) -> tuple[str, ...]:
        """The ``spec.provider`` values it answers to."""
        return self.support.names
