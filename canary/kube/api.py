"""The one seam between canary and the Kubernetes API.

Everything that reads or writes cluster objects (routers, workload adapters,
the operator's status writes, the testbed's simulators) goes through the
:class:`KubeApi` protocol with plain JSON-shaped dicts. Two implementations:
:class:`canary.kube.client.ClusterApi` over the official ``kubernetes``
client (real HTTP, used by the controller and the testbed), and
:class:`canary.kube.memory.MemoryApi`, an in-memory store for unit tests of
code that sits on top of this seam.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from canary.errors import CanaryError

__all__ = [
    "ALERT_PROVIDERS",
    "CANARIES",
    "DEPLOYMENTS",
    "DESTINATION_RULES",
    "EVENTS",
    "HTTP_ROUTES",
    "METRIC_TEMPLATES",
    "NAMESPACES",
    "SECRETS",
    "SERVICES",
    "TRAFFIC_SPLITS",
    "VIRTUAL_SERVICES",
    "ApiError",
    "Conflict",
    "JsonDict",
    "KubeApi",
    "NotFound",
    "Resource",
]

JsonDict = dict[str, Any]


@dataclass(frozen=True)
class Resource:
    """A served Kubernetes resource type: where its objects live in the API."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        """The ``apiVersion`` string objects of this resource carry."""
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The URL path of the collection, or of one object (and its subresource)."""
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        if name:
            base += f"/{name}"
            if subresource:
                base += f"/{subresource}"
        return base


NAMESPACES = Resource("", "v1", "namespaces", "Namespace", namespaced=False)
SERVICES = Resource("", "v1", "services", "Service")
SECRETS = Resource("", "v1", "secrets", "Secret")
EVENTS = Resource("", "v1", "events", "Event")
DEPLOYMENTS = Resource("apps", "v1", "deployments", "Deployment")
CANARIES = Resource("canary.dev", "v1beta1", "canaries", "Canary")
METRIC_TEMPLATES = Resource("canary.dev", "v1beta1", "metrictemplates", "MetricTemplate")
ALERT_PROVIDERS = Resource("canary.dev", "v1beta1", "alertproviders", "AlertProvider")
VIRTUAL_SERVICES = Resource("networking.istio.io", "v1beta1", "virtualservices", "VirtualService")
DESTINATION_RULES = Resource("networking.istio.io", "v1beta1", "destinationrules", "DestinationRule")
TRAFFIC_SPLITS = Resource("split.smi-spec.io", "v1alpha2", "trafficsplits", "TrafficSplit")
HTTP_ROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute")


class ApiError(CanaryError):
    """The API server refused a request; ``status`` is the HTTP status code.

    5xx and 429 are temporary (the same request may succeed later); other 4xx
    are permanent for the request as sent. A 409 is permanent for the request
    too, but the step that sent it is :attr:`retryable`: read again, redo.
    """

    def __init__(self, status: int, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.temporary = status >= 500 or status == 429
        self.retry_after = retry_after  # seconds the API server asked to wait before retrying (None: not said)

    @property
    def retryable(self) -> bool:
        """Temporary, or a 409 Conflict: the object changed since it was read, so a later tick redoes the step."""
        return self.temporary or self.status == 409


class NotFound(ApiError):
    """The object (or its resource type) does not exist."""


class Conflict(ApiError):
    """The object already exists, or was changed since it was read."""

    @property
    def exists(self) -> bool:
        """Whether the create was refused because an object of that name exists already."""
        return self.reason == "AlreadyExists"


class KubeApi(Protocol):
    """Asynchronous access to Kubernetes objects as JSON dicts.

    ``patch`` is a JSON merge patch (RFC 7386). ``get`` answers None for a
    missing object instead of raising, since "absent" is an ordinary state for
    a controller that creates what is missing.
    """

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None: ...

    async def list(
        self, resource: Resource, namespace: str | None, label_selector: str | None = None
    ) -> list[JsonDict]: ...

    async def create(self, resource: Resource, namespace: str | None, body: JsonDict) -> JsonDict: ...

    async def replace(self, resource: Resource, namespace: str | None, name: str, body: JsonDict) -> JsonDict: ...

    async def patch(
        self,
        resource: Resource,
        namespace: str | None,
        name: str,
        patch: JsonDict,
        *,
        subresource: str | None = None,
    ) -> JsonDict: ...

    async def delete(self, resource: Resource, namespace: str | None, name: str) -> None: ...
