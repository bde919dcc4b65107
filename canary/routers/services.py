"""The three ClusterIP Services every provider routes through (Flagger's model).

- ``<apex>``: the name clients use; selects the primary pods (the blue/green
  router may point it at the canary pods for a while);
- ``<apex>-primary``: selects the primary pods (``<label>: <value>-primary``);
- ``<apex>-canary``: selects the target Deployment's own pods (``<label>: <value>``).

``<label>`` and ``<value>`` come from the target Deployment's
``spec.selector.matchLabels`` (:func:`selector_label`). Ports come from
``spec.service``; with ``portDiscovery`` the other container ports of the pod
template are exposed too. An apex Service that already exists (the user's
own) is adopted and given back on finalize; see :mod:`canary.routers.objects`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from canary.kube.api import DEPLOYMENTS, SERVICES, JsonDict, KubeApi
from canary.kube.workloads import SELECTOR_LABELS, selector_label
from canary.routers.base import RoutingError, as_json, require_service
from canary.routers.names import apex_service_name, canary_service_name, primary_service_name
from canary.routers.objects import ensure_object, ownership, release_object

if TYPE_CHECKING:
    from canary.models import Canary, CanaryService

__all__ = [
    "SELECTOR_LABELS",
    "SIDECAR_CONTAINERS",
    "Selectors",
    "ServiceReconciler",
    "build_ports",
    "build_service",
    "selector_label",
    "selectors_of",
]

SIDECAR_CONTAINERS = frozenset({"istio-proxy", "envoy"})
"""Mesh proxy containers whose ports port discovery leaves out (Flagger's list)."""

SERVICE_MANAGED_PATHS = (("spec", "selector"), ("spec", "ports"), ("spec", "trafficDistribution"))


class Selectors:
    """The pod selectors of the primary and canary pods, from the target's selector label."""

    def __init__(self, key: str, value: str) -> None:
        self.key = key
        self.value = value

    @property
    def primary(self) -> dict[str, str]:
        """Selects the primary pods."""
        return {self.key: f"{self.value}-primary"}

    @property
    def canary(self) -> dict[str, str]:
        """Selects the canary (target) pods."""
        return {self.key: self.value}


def selectors_of(deployment: JsonDict) -> Selectors:
    """The primary and canary selectors for a target Deployment; RoutingError if it has no known label."""
    try:
        key, value = selector_label(deployment)
    except ValueError as error:
        raise RoutingError(str(error)) from None
    return Selectors(key, value)


def _target_port(service: CanaryService) -> int | str:
    target = service.targetPort
    if target is None or target in (0, "0", ""):
        return int(service.port)
    if isinstance(target, str):
        return int(target) if target.isdigit() else target
    return int(target)


def build_ports(canary: Canary, deployment: JsonDict) -> list[JsonDict]:
    """The Service ports: ``spec.service``'s port first, then discovered container ports.

    Port discovery (``spec.service.portDiscovery``) adds every container port
    of the pod template except the mesh proxies' and the main target port,
    named after the container port (``tcp-<container>-<index>`` when it has
    no name), sorted by name so the result is stable.
    """
    service = require_service(canary)
    target_port = _target_port(service)
    main: JsonDict = {
        "name": service.portName or "http",
        "protocol": "TCP",
        "port": int(service.port),
        "targetPort": target_port,
    }
    if service.appProtocol:
        main["appProtocol"] = service.appProtocol
    ports = [main]
    if not service.portDiscovery:
        return ports
    discovered: dict[str, int] = {}
    containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    for container in containers:
        if container.get("name") in SIDECAR_CONTAINERS:
            continue
        for index, port in enumerate(container.get("ports") or []):
            number = int(port.get("containerPort", 0))
            if isinstance(target_port, int) and number == target_port:
                continue
            if isinstance(target_port, str) and port.get("name") == target_port:
                continue
            discovered[port.get("name") or f"tcp-{container.get('name')}-{index}"] = number
    taken = {main["name"]}
    for name in sorted(discovered):
        if name in taken:
            continue
        ports.append({"name": name, "protocol": "TCP", "port": discovered[name], "targetPort": discovered[name]})
    return ports


def _metadata(custom: Any) -> tuple[dict[str, str], dict[str, str]]:
    if custom is None:
        return {}, {}
    data = as_json(custom)
    return dict(data.get("labels") or {}), dict(data.get("annotations") or {})


def build_service(
    canary: Canary, name: str, selector: dict[str, str], ports: list[JsonDict], custom: Any, label_key: str
) -> JsonDict:
    """A ClusterIP Service object named ``name`` selecting ``selector``.

    ``custom`` is the ``spec.service.apex`` / ``primary`` / ``canary``
    metadata; like Flagger, the Service also carries ``<label_key>: <name>``.
    """
    service = require_service(canary)
    labels, annotations = _metadata(custom)
    labels = {**labels, label_key: name}
    spec: JsonDict = {"type": "ClusterIP", "selector": dict(selector), "ports": ports}
    if service.headless:
        spec["clusterIP"] = "None"
    if service.trafficDistribution:
        spec["trafficDistribution"] = service.trafficDistribution
    metadata: JsonDict = {"name": name, "labels": labels}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Service", "metadata": metadata, "spec": spec}


def _keep_node_ports(desired: JsonDict, current: JsonDict) -> JsonDict:
    """Carry over allocated node ports (a NodePort/LoadBalancer apex) so an update never reallocates them.

    A port is matched by name, else by port number, else (one port on each
    side) to the other: an adopted Service's ports may have other names (or
    none) and numbers than the ones we give them.
    """
    ports = [p for p in current.get("spec", {}).get("ports") or [] if isinstance(p, dict) and p.get("nodePort")]
    by_name = {p["name"]: p["nodePort"] for p in ports if p.get("name")}
    by_number = {p.get("port"): p["nodePort"] for p in ports}
    only = ports[0]["nodePort"] if len(ports) == 1 and len(desired["spec"]["ports"]) == 1 else None
    taken: set[Any] = set()
    for port in desired["spec"]["ports"]:  # (by name first: a name is the surer match)
        node_port = by_name.get(port["name"])
        if node_port is not None and node_port not in taken:
            port["nodePort"] = node_port
            taken.add(node_port)
    for port in desired["spec"]["ports"]:
        node_port = by_number.get(port.get("port"), only)
        if "nodePort" not in port and node_port is not None and node_port not in taken:
            port["nodePort"] = node_port  # (each node port once: the API server refuses a duplicate)
            taken.add(node_port)
    return desired


class ServiceReconciler:
    """Keeps a Canary's apex, primary and canary Services as they should be.

    Routers call it from their own ``reconcile``/``finalize``; the
    controller may call :meth:`initialize` earlier, before the primary is
    ready, to get the primary and canary Services (Flagger does the same).
    """

    def __init__(self, api: KubeApi) -> None:
        self.api = api

    async def target(self, canary: Canary) -> JsonDict:
        """The target Deployment, or a (temporary) RoutingError when it does not exist."""
        require_service(canary)
        ref = canary.spec.targetRef
        if ref.kind != "Deployment":
            raise RoutingError(f"spec.targetRef.kind {ref.kind} is not supported by the routers yet (Deployment only)")
        namespace = canary.metadata.namespace or "default"
        deployment = await self.api.get(DEPLOYMENTS, namespace, ref.name)
        if deployment is None:
            raise RoutingError(f"target Deployment {namespace}/{ref.name} not found", temporary=True)
        return deployment

    async def selectors(self, canary: Canary) -> Selectors:
        """The primary and canary pod selectors of this Canary's target."""
        return selectors_of(await self.target(canary))

    async def _ensure(self, canary: Canary, body: JsonDict) -> None:
        await ensure_object(self.api, canary, SERVICES, body, managed=SERVICE_MANAGED_PATHS, adjust=_keep_node_ports)

    async def _initialize(self, canary: Canary, deployment: JsonDict) -> None:
        selectors = selectors_of(deployment)
        ports = build_ports(canary, deployment)
        service = require_service(canary)
        for name, selector, custom in (
            (canary_service_name(canary), selectors.canary, service.canary),
            (primary_service_name(canary), selectors.primary, service.primary),
        ):
            await self._ensure(canary, build_service(canary, name, selector, ports, custom, selectors.key))

    async def initialize(self, canary: Canary) -> None:
        """Create or repair the primary and canary Services (not the apex)."""
        await self._initialize(canary, await self.target(canary))

    async def reconcile(self, canary: Canary) -> None:
        """Create or repair all three Services; the apex selects the primary pods.

        An apex that currently selects the canary pods is left pointing
        there (Flagger's rule): the blue/green router switched it on purpose.
        """
        deployment = await self.target(canary)
        await self._initialize(canary, deployment)
        selectors = selectors_of(deployment)
        body = build_service(
            canary,
            apex_service_name(canary),
            selectors.primary,
            build_ports(canary, deployment),
            require_service(canary).apex,
            selectors.key,
        )

        def keep_canary_selector(desired: JsonDict, current: JsonDict) -> JsonDict:
            # Only an apex already ours was switched by us; a user's Service that selects the
            # target's pods (the usual case before adoption) must move to the primary.
            switched = (current.get("spec", {}).get("selector") or {}) == selectors.canary
            if switched and ownership(current, canary) in ("created", "adopted"):
                desired["spec"]["selector"] = selectors.canary
            return _keep_node_ports(desired, current)

        await ensure_object(
            self.api, canary, SERVICES, body, managed=SERVICE_MANAGED_PATHS, adjust=keep_canary_selector
        )

    async def point_apex(self, canary: Canary, *, to_canary: bool) -> None:
        """Make the apex Service select the canary pods (``to_canary``) or the primary pods."""
        deployment = await self.target(canary)
        selectors = selectors_of(deployment)
        body = build_service(
            canary,
            apex_service_name(canary),
            selectors.canary if to_canary else selectors.primary,
            build_ports(canary, deployment),
            require_service(canary).apex,
            selectors.key,
        )
        await self._ensure(canary, body)

    async def finalize(self, canary: Canary) -> None:
        """Give the apex back if it was adopted; delete the Services this Canary created."""
        for name in (apex_service_name(canary), primary_service_name(canary), canary_service_name(canary)):
            await release_object(self.api, canary, SERVICES, name)
