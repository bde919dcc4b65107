"""Every traffic provider's router, by the declarations their files make: one line per router.

Keys are the provider names the Canary model validates (Flagger's names).
An empty provider means the controller's default, Istio. A provider the
model accepts but no router here handles (contour, gloo, nginx, ...) is
refused with a :class:`~canary.routers.base.UnknownProvider` naming the
providers that are routed.

Everything else that depends on the provider reads the tables below, which
are collected from :data:`DECLARATIONS` and nowhere else: the support checks
(:func:`unsupported`), the dashboards, the deploy RBAC test and the
testbed's mesh objects. A new router is its own file ending in a
``DECLARATION``, and one line here.
"""

from __future__ import annotations

from canary.kube.api import SERVICES, KubeApi, Resource
from canary.models.alert_provider import AlertProvider
from canary.models.canary import Canary
from canary.models.metric_template import MetricTemplate
from canary.models.support import DEFAULT_PROVIDER, MetricSeries, Problem, ProviderSupport
from canary.models.support import unsupported as _unsupported
from canary.routers import gatewayapi, istio, kubernetes, smi
from canary.routers.base import Router, UnknownProvider
from canary.routers.declaration import RouterDeclaration

__all__ = [
    "DECLARATIONS",
    "DEFAULT_PROVIDER",
    "METRIC_SERIES",
    "PROVIDER_SUPPORT",
    "ROUTED_PROVIDERS",
    "WRITTEN_RESOURCES",
    "declaration_for",
    "refusals",
    "router_for",
    "unsupported",
]

DECLARATIONS: tuple[RouterDeclaration, ...] = (
    istio.DECLARATION,
    smi.DECLARATION,
    gatewayapi.DECLARATION,
    kubernetes.DECLARATION,
)
"""Every router there is, in the order tables list them."""


def _by_name() -> dict[str, RouterDeclaration]:
    found: dict[str, RouterDeclaration] = {}
    for declaration in DECLARATIONS:
        for name in declaration.names:
            if name in found:
                raise ValueError(f"spec.provider {name!r} is declared by two routers")
            found[name] = declaration
    return found


_BY_NAME = _by_name()

ROUTED_PROVIDERS: tuple[str, ...] = tuple(sorted(_BY_NAME))
"""Every ``spec.provider`` value a router here handles."""

PROVIDER_SUPPORT: dict[str, ProviderSupport] = {name: _BY_NAME[name].support for name in ROUTED_PROVIDERS}
"""What each routed provider supports, by name: what :func:`unsupported` checks against."""

METRIC_SERIES: dict[str, MetricSeries] = {
    declaration.support.metrics.mesh: declaration.support.metrics
    for declaration in DECLARATIONS
    if isinstance(declaration.support.metrics, MetricSeries)
}
"""The metric series some provider is measured by, by mesh name (istio, linkerd)."""

WRITTEN_RESOURCES: tuple[Resource, ...] = (
    SERVICES,
    *(resource for declaration in DECLARATIONS for resource in declaration.writes),
)
"""Every object kind and version a router may write: what RBAC grants and the testbed serves."""


def declaration_for(provider: str | None) -> RouterDeclaration:
    """The declaration of ``provider`` (``None`` or ``""``: the default, istio); UnknownProvider otherwise."""
    name = provider or DEFAULT_PROVIDER
    declaration = _BY_NAME.get(name)
    if declaration is None:
        raise UnknownProvider(
            f"spec.provider {name!r} is not routed by this controller; supported: {', '.join(ROUTED_PROVIDERS)}"
        )
    return declaration


def router_for(provider: str | None, api: KubeApi) -> Router:
    """The router for ``provider`` (``None`` or ``""``: the default, istio) talking to ``api``.

    Raises UnknownProvider for any other name, listing the routed ones.
    """
    return declaration_for(provider).factory(api, provider or DEFAULT_PROVIDER)


def unsupported(
    resource: Canary | MetricTemplate | AlertProvider, default_provider: str = DEFAULT_PROVIDER
) -> list[Problem]:
    """:func:`canary.models.support.unsupported` with the routed providers' declarations: the whole check.

    What the controller's ``Supported`` condition and ``canary validate`` report.
    """
    return _unsupported(resource, default_provider, PROVIDER_SUPPORT)


def refusals(
    resource: Canary | MetricTemplate | AlertProvider, default_provider: str = DEFAULT_PROVIDER
) -> list[Problem]:
    """Only the problems of :func:`unsupported` that stop a rollout (severity ``refuse``)."""
    return [problem for problem in unsupported(resource, default_provider) if problem.severity == "refuse"]
