"""Gateway API: an HTTPRoute ``<apex>`` with weighted backends ``<apex>-primary`` / ``<apex>-canary``.

Used by Linkerd 2.12+, Istio and the Gateway API ingress controllers. From
``spec.service``: ``gatewayRefs`` become the parentRefs (required), ``hosts``
the hostnames, ``match`` the rule's matches (Istio-style conditions mapped to
Gateway API ones; a ``/`` prefix when none), ``headers``, ``rewrite`` and
``mirror`` the rule's filters, ``timeout`` / ``backendTimeout`` its
timeouts. A/B testing (``spec.analysis.match``) adds a first rule for the
matching requests and keeps a second one sending everything else to the
primary, as Flagger does. Mirrored routes add a RequestMirror filter to the
canary (``percent`` from ``spec.analysis.mirrorWeight``).

Defaults the API server would fill in (group, kind) are written explicitly,
so reading an object back compares equal and a reconcile writes nothing.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from canary.core.routes import Routes
from canary.kube.api import HTTP_ROUTES, JsonDict, KubeApi, Resource
from canary.models.support import Problem, ProviderSupport, refuse
from canary.routers.base import (
    RoutingError,
    apex_metadata,
    as_json,
    require_service,
    split_read_back,
)
from canary.routers.declaration import RouterDeclaration
from canary.routers.names import apex_service_name, canary_service_name, primary_service_name
from canary.routers.single import ObjectRouter

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = [
    "DECLARATION",
    "GATEWAY_API_VERSIONS",
    "GatewayApiRouter",
    "build_http_route",
    "http_route_resource",
    "map_matches",
    "routes_from_http_route",
]

GATEWAY_API_VERSIONS = ("v1", "v1beta1")
"""HTTPRoute versions the router can write."""

_PATH_TYPES = {"exact": "Exact", "prefix": "PathPrefix", "regex": "RegularExpression"}
_VALUE_TYPES = {"exact": "Exact", "regex": "RegularExpression"}


def http_route_resource(version: str) -> Resource:
    """The HTTPRoute resource of a Gateway API version (the KubeApi constant is v1)."""
    if version not in GATEWAY_API_VERSIONS:
        raise RoutingError(f"Gateway API version {version!r} is not supported ({', '.join(GATEWAY_API_VERSIONS)})")
    return dataclasses.replace(HTTP_ROUTES, version=version)


def _string_match(kind: str, name: str | None, match: JsonDict, allowed: dict[str, str]) -> tuple[str, str]:
    for key, value in match.items():
        if key in allowed:
            return allowed[key], str(value)
    what = f"{kind} {name!r}" if name else kind
    raise RoutingError(
        f"Gateway API cannot match {what} with {', '.join(sorted(match)) or 'nothing'}; "
        f"use one of {', '.join(sorted(allowed))}"
    )


def _named_matches(kind: str, conditions: JsonDict) -> list[JsonDict]:
    matches = []
    for name in sorted(conditions):
        match_type, value = _string_match(kind, name, conditions[name], _VALUE_TYPES)
        matches.append({"name": name, "type": match_type, "value": value})
    return matches


def map_matches(conditions: list[JsonDict]) -> list[JsonDict]:
    """Istio-style match conditions (``spec.service.match`` / ``spec.analysis.match``) as HTTPRouteMatches.

    uri → path (Exact, PathPrefix, RegularExpression), method (exact) →
    method, headers and queryParams (exact, regex) → sorted lists. Anything
    else Gateway API cannot express is refused with a RoutingError.
    """
    mapped: list[JsonDict] = []
    for condition in conditions:
        match: JsonDict = {}
        unsupported = sorted(set(condition) - {"uri", "method", "headers", "queryParams", "name"})
        if unsupported:
            raise RoutingError(f"Gateway API cannot match on {', '.join(unsupported)}")
        if condition.get("uri"):
            path_type, value = _string_match("uri", None, condition["uri"], _PATH_TYPES)
            match["path"] = {"type": path_type, "value": value}
        if condition.get("method"):
            _, value = _string_match("method", None, condition["method"], {"exact": "Exact"})
            match["method"] = value
        if condition.get("headers"):
            match["headers"] = _named_matches("header", condition["headers"])
        if condition.get("queryParams"):
            match["queryParams"] = _named_matches("query parameter", condition["queryParams"])
        if match:
            mapped.append(match)
    return mapped


def _merge_matches(analysis: list[JsonDict], service: list[JsonDict]) -> list[JsonDict]:
    """Every (A/B condition, service match) pair as one match; header and query lists united by name."""
    merged: list[JsonDict] = []
    for condition in analysis:
        for base in service:
            combined = dict(base)
            for key in ("headers", "queryParams"):
                if condition.get(key):
                    by_name = {item["name"]: item for item in base.get(key) or []}
                    by_name.update({item["name"]: item for item in condition[key]})
                    combined[key] = [by_name[name] for name in sorted(by_name)]
            merged.append(combined)
    return merged


def _header_filter(operations: JsonDict) -> JsonDict:
    result: JsonDict = {}
    for verb in ("add", "set"):
        values = operations.get(verb) or {}
        if values:
            result[verb] = [{"name": name, "value": str(values[name])} for name in sorted(values)]
    if operations.get("remove"):
        result["remove"] = list(operations["remove"])
    return result


def _filters(canary: Canary) -> list[JsonDict]:
    service = require_service(canary)
    filters: list[JsonDict] = []
    headers = as_json(service.headers) if service.headers is not None else {}
    if headers.get("request"):
        filters.append({"type": "RequestHeaderModifier", "requestHeaderModifier": _header_filter(headers["request"])})
    if headers.get("response"):
        filters.append(
            {"type": "ResponseHeaderModifier", "responseHeaderModifier": _header_filter(headers["response"])}
        )
    if service.rewrite is not None:
        rewrite: JsonDict = {}
        if service.rewrite.authority:
            rewrite["hostname"] = service.rewrite.authority
        if service.rewrite.uri:
            if service.rewrite.type == "ReplaceFullPath":
                rewrite["path"] = {"type": "ReplaceFullPath", "replaceFullPath": service.rewrite.uri}
            else:
                rewrite["path"] = {"type": "ReplacePrefixMatch", "replacePrefixMatch": service.rewrite.uri}
        if rewrite:
            filters.append({"type": "URLRewrite", "urlRewrite": rewrite})
    for mirror in service.mirror or []:
        ref = as_json(mirror.backendRef)
        ref.setdefault("group", "")
        ref.setdefault("kind", "Service")
        filters.append({"type": "RequestMirror", "requestMirror": {"backendRef": ref}})
    return filters


def _backend(canary: Canary, name: str, weight: int) -> JsonDict:
    port = int(require_service(canary).port)
    return {"group": "", "kind": "Service", "name": name, "port": port, "weight": weight}


def _timeouts(canary: Canary) -> JsonDict | None:
    service = require_service(canary)
    timeouts: JsonDict = {}
    if service.timeout:
        timeouts["request"] = service.timeout
    if service.backendTimeout:
        timeouts["backendRequest"] = service.backendTimeout
    return timeouts or None


def _rule(matches: list[JsonDict], filters: list[JsonDict], backends: list[JsonDict], timeouts: Any) -> JsonDict:
    rule: JsonDict = {"matches": matches}
    if filters:
        rule["filters"] = filters
    rule["backendRefs"] = backends
    if timeouts:
        rule["timeouts"] = dict(timeouts)
    return rule


def build_http_route(canary: Canary, routes: Routes, version: str = "v1") -> JsonDict:
    """The HTTPRoute ``<apex>`` of that Gateway API version sending ``routes`` to primary and canary."""
    service = require_service(canary)
    resource = http_route_resource(version)
    if not service.gatewayRefs:
        raise RoutingError(
            "spec.service.gatewayRefs is required with a Gateway API provider: "
            "name the Gateway (or, for mesh routing, the Service) the HTTPRoute attaches to"
        )
    parents = []
    for ref in as_json(service.gatewayRefs):
        ref.setdefault("group", "gateway.networking.k8s.io")
        ref.setdefault("kind", "Gateway")
        parents.append(ref)
    matches = map_matches(as_json(service.match)) or [{"path": {"type": "PathPrefix", "value": "/"}}]
    filters = _filters(canary)
    timeouts = _timeouts(canary)
    weighted_filters = list(filters)
    if routes.mirrored:
        mirror: JsonDict = {
            "backendRef": {
                "group": "",
                "kind": "Service",
                "name": canary_service_name(canary),
                "port": int(service.port),
            }
        }
        if canary.spec.analysis.mirrorWeight:
            mirror["percent"] = int(canary.spec.analysis.mirrorWeight)
        weighted_filters.append({"type": "RequestMirror", "requestMirror": mirror})
    backends = [
        _backend(canary, primary_service_name(canary), routes.primary),
        _backend(canary, canary_service_name(canary), routes.canary),
    ]
    analysis_matches = map_matches(as_json(canary.spec.analysis.match))
    if analysis_matches:
        rules = [
            _rule(_merge_matches(analysis_matches, matches), weighted_filters, backends, timeouts),
            _rule(matches, filters, [_backend(canary, primary_service_name(canary), 100)], timeouts),
        ]
    else:
        rules = [_rule(matches, weighted_filters, backends, timeouts)]
    spec: JsonDict = {"parentRefs": parents}
    if service.hosts:
        spec["hostnames"] = list(service.hosts)
    spec["rules"] = rules
    return {
        "apiVersion": resource.api_version,
        "kind": resource.kind,
        "metadata": apex_metadata(canary, apex_service_name(canary)),
        "spec": spec,
    }


def routes_from_http_route(canary: Canary, http_route: JsonDict) -> Routes:
    """The split the HTTPRoute's first rule applies; RoutingError when its backends are not ours.

    A backend without a weight counts as 1, Gateway API's default.
    """
    primary, canary_backend = primary_service_name(canary), canary_service_name(canary)
    where = f"HTTPRoute {canary.metadata.namespace}/{http_route.get('metadata', {}).get('name')}"
    rules = (http_route.get("spec") or {}).get("rules") or []
    if not rules:
        raise RoutingError(f"{where} has no rules; it is not managed by Canary {canary.metadata.name}")
    first = rules[0]
    weights: dict[str, int] = {}
    for backend in first.get("backendRefs") or []:
        name = str(backend.get("name", ""))
        weight = backend.get("weight")
        weights[name] = weights.get(name, 0) + int(1 if weight is None else weight)
    if set(weights) != {primary, canary_backend}:
        found = ", ".join(sorted(weights)) or "none"
        raise RoutingError(
            f"{where}: the first rule goes to {found}, not to {primary} and {canary_backend}; "
            f"it is not managed by Canary {canary.metadata.name}"
        )
    mirrored = any(
        item.get("type") == "RequestMirror"
        and ((item.get("requestMirror") or {}).get("backendRef") or {}).get("name") == canary_backend
        for item in first.get("filters") or []
    )
    return split_read_back(where, (primary, weights[primary]), (canary_backend, weights[canary_backend]), mirrored)


class GatewayApiRouter(ObjectRouter):
    """Routes a Canary with a Gateway API HTTPRoute of one API version."""

    def __init__(self, api: KubeApi, version: str = "v1") -> None:
        super().__init__(
            api,
            http_route_resource(version),
            build=lambda canary, routes: build_http_route(canary, routes, version),
            read=routes_from_http_route,
        )
        self.version = version


def _refuse_without_gateway_refs(canary: Canary, provider: str) -> list[Problem]:
    if canary.spec.service is not None and not canary.spec.service.gatewayRefs:
        return [refuse("spec.service.gatewayRefs", f"required with provider {provider}")]
    return []


DECLARATION = RouterDeclaration(
    support=ProviderSupport(
        names=tuple(f"gatewayapi:{version}" for version in GATEWAY_API_VERSIONS),
        strategies=frozenset({"canary", "blue-green", "ab-testing"}),
        mirroring=True,
        route_fields=frozenset(
            {"gatewayRefs", "backendTimeout", "mirror"} | {"hosts", "match", "headers", "rewrite", "timeout"}
        ),
        metrics="mesh",
        refuse=_refuse_without_gateway_refs,
    ),
    writes=tuple(http_route_resource(version) for version in GATEWAY_API_VERSIONS),
    factory=lambda api, provider: GatewayApiRouter(api, provider.split(":", 1)[1]),
)
"""Gateway API: weighted, blue/green and A/B routing, mirroring; measured by the metrics of the mesh
the controller runs with, which carries the HTTPRoute's traffic."""
