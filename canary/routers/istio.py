"""Istio: a VirtualService ``<apex>`` splitting traffic, DestinationRules for both sides.

The VirtualService (``networking.istio.io/v1beta1``) carries, from
``spec.service``: hosts (plus the apex Service name), gateways (``mesh``
when none), match, rewrite, timeout, retries, headers and corsPolicy. Its
first HTTP route sends the weights to the destinations ``<apex>-primary``
and ``<apex>-canary`` (short host names, as Flagger writes them; the port is
set when Flagger sets it: port discovery behind an ingress gateway, or
delegation). A/B testing (``spec.analysis.match``) puts the matching
requests on the first route and everything else on a second route to the
primary. Blue/green mirroring copies requests to the canary
(``mirror`` + ``mirrorPercentage`` from ``spec.analysis.mirrorWeight``).
A Service with ``appProtocol: tcp`` gets a TCP route instead.

DestinationRules ``<apex>-primary`` and ``<apex>-canary`` carry
``spec.service.trafficPolicy``.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

from canary.core.routes import Routes
from canary.kube.api import DESTINATION_RULES, VIRTUAL_SERVICES, JsonDict, KubeApi
from canary.models.support import ISTIO_METRICS, Problem, ProviderSupport, refuse
from canary.routers.base import (
    RoutingError,
    apex_metadata,
    as_json,
    require_service,
    split_read_back,
)
from canary.routers.declaration import RouterDeclaration
from canary.routers.names import apex_service_name, canary_service_name, primary_service_name
from canary.routers.single import Companion, ObjectRouter

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = [
    "DECLARATION",
    "IstioRouter",
    "build_destination_rule",
    "build_virtual_service",
    "destination_rules",
    "merge_match_conditions",
    "routes_from_virtual_service",
]


def _is_tcp(canary: Canary) -> bool:
    return (require_service(canary).appProtocol or "").lower() == "tcp"


def _destination(canary: Canary, host: str, weight: int) -> JsonDict:
    service = require_service(canary)
    destination: JsonDict = {"host": host}
    # Flagger's rule: name the port when port discovery meets an ingress gateway, or a delegate.
    behind_gateway = bool(service.gateways) and service.gateways[0] != "mesh"
    if service.portDiscovery and (behind_gateway or service.delegation):
        destination["port"] = {"number": int(service.port)}
    return {"destination": destination, "weight": weight}


def merge_match_conditions(analysis: list[JsonDict], service: list[JsonDict]) -> list[JsonDict]:
    """A/B conditions combined with the Service's own: one condition per (analysis, service) pair.

    Flagger's rule: each analysis condition is applied on top of each
    service condition (typically a URI prefix), so the A/B route matches
    only within what the Service routes at all. Where both name headers
    (or query parameters, source labels) the two maps are united, the A/B
    side winning on the same name; Flagger replaces the service's map
    instead, which would widen the route beyond the service's match.
    """
    if not service:
        return [dict(item) for item in analysis]
    merged: list[JsonDict] = []
    for condition in analysis:
        for base in service:
            combined = dict(base)
            for key in ("headers", "sourceLabels", "queryParams", "withoutHeaders"):
                if condition.get(key):
                    combined[key] = {**(base.get(key) or {}), **condition[key]}
            merged.append(combined)
    return merged


def _refuse_suffix(conditions: list[JsonDict], field: str) -> None:
    """Istio's StringMatch has no ``suffix`` (Flagger's A/B headers do): the API server would drop it
    silently and the route would match more than asked, so refuse it."""
    for index, condition in enumerate(conditions):
        for part in ("headers", "queryParams", "withoutHeaders"):
            for name, match in (condition.get(part) or {}).items():
                if isinstance(match, dict) and "suffix" in match:
                    raise RoutingError(
                        f"{field}[{index}].{part}.{name}: Istio cannot match by suffix; "
                        f"use regex instead (e.g. '.*{match['suffix']}$')"
                    )
        for part in ("uri", "scheme", "method", "authority"):
            match = condition.get(part)
            if isinstance(match, dict) and "suffix" in match:
                raise RoutingError(f"{field}[{index}].{part}: Istio cannot match by suffix; use regex instead")


def _route_settings(canary: Canary) -> JsonDict:
    service = require_service(canary)
    settings: JsonDict = {}
    if service.rewrite is not None:
        rewrite = {key: value for key, value in as_json(service.rewrite).items() if key in ("uri", "authority")}
        if rewrite:
            settings["rewrite"] = rewrite
    if service.timeout:
        settings["timeout"] = service.timeout
    if service.retries is not None:
        settings["retries"] = as_json(service.retries)
    if service.corsPolicy is not None:
        settings["corsPolicy"] = as_json(service.corsPolicy)
    if service.headers is not None:
        settings["headers"] = as_json(service.headers)
    return settings


def build_virtual_service(canary: Canary, routes: Routes) -> JsonDict:
    """The VirtualService ``<apex>`` sending ``routes`` to the primary and canary destinations."""
    service = require_service(canary)
    apex, primary, canary_host = apex_service_name(canary), primary_service_name(canary), canary_service_name(canary)
    if service.delegation and (service.hosts or service.gateways):
        raise RoutingError(
            f"VirtualService {canary.metadata.namespace}/{apex}: spec.service.hosts and spec.service.gateways "
            "must be empty when spec.service.delegation is true (a delegate VirtualService has neither)"
        )
    spec: JsonDict = {}
    if not service.delegation:
        hosts = list(service.hosts)
        if apex not in hosts and "*" not in hosts:
            hosts.append(apex)
        spec["hosts"] = hosts
        spec["gateways"] = list(service.gateways) or ["mesh"]
    weighted = [
        _destination(canary, primary, routes.primary),
        _destination(canary, canary_host, routes.canary),
    ]
    if _is_tcp(canary):
        if routes.mirrored:
            raise RoutingError("Istio cannot mirror TCP traffic (spec.service.appProtocol is tcp)")
        tcp_route: JsonDict = {"route": weighted}
        ports = [{"port": match.port} for match in service.match if match.port]
        if ports:
            tcp_route["match"] = ports
        spec["tcp"] = [tcp_route]
        return _virtual_service_object(canary, spec)

    service_match = as_json(service.match)
    first: JsonDict = {}
    analysis_match = as_json(canary.spec.analysis.match)
    _refuse_suffix(service_match, "spec.service.match")
    _refuse_suffix(analysis_match, "spec.analysis.match")
    if analysis_match:
        first["match"] = merge_match_conditions(analysis_match, service_match)
    elif service_match:
        first["match"] = service_match
    first.update(_route_settings(canary))
    first["route"] = weighted
    if routes.mirrored:
        first["mirror"] = {"host": canary_host}
        mirror_weight = canary.spec.analysis.mirrorWeight
        if mirror_weight:
            first["mirrorPercentage"] = {"value": float(mirror_weight)}
    http = [first]
    if analysis_match:
        fallback: JsonDict = {}
        if service_match:
            fallback["match"] = service_match
        fallback.update(_route_settings(canary))
        fallback["route"] = [_destination(canary, primary, 100)]
        http.append(fallback)
    spec["http"] = http
    return _virtual_service_object(canary, spec)


def _virtual_service_object(canary: Canary, spec: JsonDict) -> JsonDict:
    return {
        "apiVersion": VIRTUAL_SERVICES.api_version,
        "kind": VIRTUAL_SERVICES.kind,
        "metadata": apex_metadata(canary, apex_service_name(canary)),
        "spec": spec,
    }


def build_destination_rule(canary: Canary, name: str) -> JsonDict:
    """The DestinationRule for the Service ``name`` with ``spec.service.trafficPolicy``."""
    spec: JsonDict = {"host": name}
    policy = require_service(canary).trafficPolicy
    if policy is not None:
        spec["trafficPolicy"] = as_json(policy)
    return {
        "apiVersion": DESTINATION_RULES.api_version,
        "kind": DESTINATION_RULES.kind,
        "metadata": {"name": name},
        "spec": spec,
    }


def routes_from_virtual_service(canary: Canary, virtual_service: JsonDict) -> Routes:
    """The split the VirtualService's first route applies; RoutingError when it is not shaped by us.

    A destination without a weight counts as 0, as in Istio; the two weights
    must be exactly the primary's and the canary's and add up to 100.
    """
    primary, canary_host = primary_service_name(canary), canary_service_name(canary)
    where = f"VirtualService {canary.metadata.namespace}/{virtual_service.get('metadata', {}).get('name')}"
    kind = "tcp" if _is_tcp(canary) else "http"
    entries = (virtual_service.get("spec") or {}).get(kind) or []
    if not entries:
        raise RoutingError(f"{where} has no {kind} route; it is not managed by Canary {canary.metadata.name}")
    first = entries[0]
    weights: dict[str, int] = {}
    for destination in first.get("route") or []:
        host = str((destination.get("destination") or {}).get("host", ""))
        weights[host] = weights.get(host, 0) + int(destination.get("weight") or 0)
    if set(weights) != {primary, canary_host}:
        found = ", ".join(sorted(weights)) or "none"
        raise RoutingError(
            f"{where}: the first {kind} route goes to {found}, not to {primary} and {canary_host}; "
            f"it is not managed by Canary {canary.metadata.name}"
        )
    mirrored = (first.get("mirror") or {}).get("host") == canary_host
    return split_read_back(where, (primary, weights[primary]), (canary_host, weights[canary_host]), mirrored)


def destination_rules(canary: Canary) -> list[Companion]:
    """The DestinationRules ``<apex>-canary`` and ``<apex>-primary``: the VirtualService's companions."""
    return [
        Companion(DESTINATION_RULES, name, functools.partial(build_destination_rule, canary, name))
        for name in (canary_service_name(canary), primary_service_name(canary))
    ]


class IstioRouter(ObjectRouter):
    """Routes a Canary with an Istio VirtualService and two DestinationRules."""

    def __init__(self, api: KubeApi) -> None:
        super().__init__(
            api,
            VIRTUAL_SERVICES,
            build=build_virtual_service,
            read=routes_from_virtual_service,
            companions=destination_rules,
        )


def _refuse_delegate_with_hosts(canary: Canary, provider: str) -> list[Problem]:
    service = canary.spec.service
    if service is not None and service.delegation and (service.hosts or service.gateways):
        return [
            refuse(
                "spec.service.delegation",
                "a delegate VirtualService has no hosts nor gateways: leave spec.service.hosts and "
                "spec.service.gateways empty",
            )
        ]
    return []


DECLARATION = RouterDeclaration(
    support=ProviderSupport(
        names=("istio",),
        strategies=frozenset({"canary", "blue-green", "ab-testing"}),
        mirroring=True,
        route_fields=frozenset(
            {"gateways", "delegation", "corsPolicy", "retries", "trafficPolicy"}
            | {"hosts", "match", "headers", "rewrite", "timeout"}
        ),
        metrics=ISTIO_METRICS,
        refuse=_refuse_delegate_with_hosts,
    ),
    writes=(VIRTUAL_SERVICES, DESTINATION_RULES),
    factory=lambda api, provider: IstioRouter(api),
)
"""Istio: weighted, blue/green and A/B routing, mirroring, measured by Istio's proxy metrics."""
