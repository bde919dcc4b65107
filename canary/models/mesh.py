"""Routing settings a Canary passes through to the mesh (Istio and Gateway API shapes).

These mirror the subset of Istio's ``networking.istio.io`` and Gateway API
types that Flagger embeds in ``spec.service`` and ``spec.analysis.match``,
with the same field names, so the routers can copy them into the objects they
write.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from canary.models.base import Duration, StrictModel

__all__ = [
    "ConnectionPool",
    "ConsistentHash",
    "CorsPolicy",
    "HTTPConnectionPool",
    "HTTPCookie",
    "HTTPMatchRequest",
    "HTTPRequestMirror",
    "HTTPRetry",
    "HTTPRewrite",
    "HeaderOperations",
    "Headers",
    "LoadBalancer",
    "LocalityDistribute",
    "LocalityFailover",
    "LocalityLbSetting",
    "MirrorBackendRef",
    "OutlierDetection",
    "ParentReference",
    "StringMatch",
    "TLSSettings",
    "TrafficPolicy",
]


class StringMatch(StrictModel):
    """How a string is matched (Istio ``StringMatch``): at most one of exact, prefix, suffix, regex."""

    exact: str | None = None
    """Exact string match."""
    prefix: str | None = None
    """Prefix-based match."""
    suffix: str | None = None
    """Suffix-based match (A/B header matches only)."""
    regex: str | None = None
    """RE2 style regex-based match (https://github.com/google/re2/wiki/Syntax)."""

    @model_validator(mode="after")
    def _one_kind(self) -> StringMatch:
        given = [name for name in ("exact", "prefix", "suffix", "regex") if getattr(self, name) is not None]
        if len(given) > 1:
            raise PydanticCustomError(
                "string_match",
                "set only one of exact, prefix, suffix, regex (got {given})",
                {"given": ", ".join(given)},
            )
        return self


class HTTPMatchRequest(StrictModel):
    """Conditions a request must meet for a route to apply (Istio ``HTTPMatchRequest``)."""

    name: str | None = None
    """The name assigned to a match."""
    uri: StringMatch | None = None
    """URI to match."""
    scheme: StringMatch | None = None
    """URI scheme to match."""
    method: StringMatch | None = None
    """HTTP method to match."""
    authority: StringMatch | None = None
    """HTTP authority to match."""
    headers: dict[str, StringMatch] | None = None
    """Header values to match, by lower-case header name."""
    port: int | None = None
    """Specifies the ports on the host that is being addressed."""
    sourceLabels: dict[str, str] | None = None
    """Applicable only when the 'mesh' gateway is included in the service.gateways list."""
    gateways: list[str] | None = None
    """Names of gateways where the rule should be applied."""
    queryParams: dict[str, StringMatch] | None = None
    """Query parameters for matching."""
    ignoreUriCase: bool | None = None
    """Flag to specify whether the URI matching should be case-insensitive."""
    withoutHeaders: dict[str, StringMatch] | None = None
    """withoutHeader has the same syntax with the header, but has opposite meaning."""
    sourceNamespace: str | None = None
    """Source namespace constraining the applicability of a rule to workloads in that namespace."""


class HTTPRetry(StrictModel):
    """Retry policy for HTTP requests."""

    attempts: int | None = Field(default=None, ge=0)
    """Number of retries for a given request."""
    perTryTimeout: Duration | None = None
    """Timeout per retry attempt for a given request."""
    retryOn: str | None = None
    """Specifies the conditions under which retry takes place."""


class HTTPRewrite(StrictModel):
    """Rewrite of the HTTP URI and authority before forwarding."""

    uri: str | None = None
    """Rewrite the path (or the prefix) portion of the URI with this value."""
    authority: str | None = None
    """Rewrite the Authority/Host header with this value."""
    type: str | None = None
    """Rewrite type (Gateway API: ReplaceFullPath or ReplacePrefixMatch)."""


class MirrorBackendRef(StrictModel):
    """The backend requests are mirrored to (Gateway API ``BackendObjectReference``)."""

    group: str | None = Field(default=None, max_length=253)
    """API group of the referent; empty for the core group."""
    kind: str | None = Field(default=None, min_length=1, max_length=63)
    """Kind of the referent (default Service)."""
    name: str = Field(min_length=1, max_length=253)
    """Name of the referent."""
    namespace: str | None = Field(default=None, min_length=1, max_length=63)
    """Namespace of the referent."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Destination port number; required for a Service."""


class HTTPRequestMirror(StrictModel):
    """A Gateway API filter that mirrors requests to another backend."""

    backendRef: MirrorBackendRef
    """The backend to mirror requests to."""


class HeaderOperations(StrictModel):
    """Header manipulations applied to a request or a response."""

    set: dict[str, str] | None = None
    """Overwrite these headers."""
    add: dict[str, str] | None = None
    """Append to these headers."""
    remove: list[str] | None = None
    """Remove these headers."""


class Headers(StrictModel):
    """Header operations for the generated virtual service."""

    request: HeaderOperations | None = None
    """Operations on the request headers."""
    response: HeaderOperations | None = None
    """Operations on the response headers."""


class ParentReference(StrictModel):
    """A Gateway (or Service, for mesh routing) an HTTPRoute attaches to (Gateway API ``ParentReference``)."""

    group: str | None = Field(default=None, max_length=253)
    """API group of the parent (default gateway.networking.k8s.io)."""
    kind: str | None = Field(default=None, min_length=1, max_length=63)
    """Kind of the parent (default Gateway)."""
    name: str = Field(min_length=1, max_length=253)
    """Name of the parent."""
    namespace: str | None = Field(default=None, min_length=1, max_length=63)
    """Namespace of the parent; the route's namespace when empty."""
    sectionName: str | None = Field(default=None, min_length=1, max_length=253)
    """Name of a section (listener) within the parent."""
    port: int | None = Field(default=None, ge=1, le=65535)
    """Network port of the parent to attach to."""


class CorsPolicy(StrictModel):
    """Cross-Origin Resource Sharing policy (Istio ``CorsPolicy``)."""

    allowOrigin: list[str] | None = None
    """The list of origins that are allowed to perform CORS requests (deprecated by Istio)."""
    allowOrigins: list[StringMatch] | None = None
    """String patterns that match allowed origins."""
    allowMethods: list[str] | None = None
    """List of HTTP methods allowed to access the resource."""
    allowHeaders: list[str] | None = None
    """List of HTTP headers that can be used when requesting the resource."""
    exposeHeaders: list[str] | None = None
    """Headers the browsers are allowed to access."""
    maxAge: str | None = None
    """How long the results of a preflight request can be cached."""
    allowCredentials: bool | None = None
    """Whether the caller may send the actual request with credentials."""


class HTTPConnectionPool(StrictModel):
    """HTTP connection pool settings."""

    http1MaxPendingRequests: int | None = None
    """Maximum number of pending HTTP requests to a destination."""
    http2MaxRequests: int | None = None
    """Maximum number of requests to a backend."""
    maxRequestsPerConnection: int | None = None
    """Maximum number of requests per connection to a backend."""
    maxRetries: int | None = None
    """Maximum number of retries outstanding to all hosts in a cluster at a given time."""
    idleTimeout: str | None = None
    """The idle timeout for upstream connection pool connections."""
    h2UpgradePolicy: Literal["DEFAULT", "DO_NOT_UPGRADE", "UPGRADE"] | None = None
    """Specify if http1.1 connection should be upgraded to http2 for the associated destination."""


class ConnectionPool(StrictModel):
    """Connection pool settings for the upstream host."""

    http: HTTPConnectionPool | None = None
    """HTTP connection pool settings."""


class HTTPCookie(StrictModel):
    """The cookie a consistent hash is based on."""

    name: str | None = None
    """Name of the cookie."""
    path: str | None = None
    """Path to set for the cookie."""
    ttl: str | None = None
    """Lifetime of the cookie."""


class ConsistentHash(StrictModel):
    """Consistent-hash load balancing (soft session affinity)."""

    httpHeaderName: str | None = None
    """Hash based on a specific HTTP header."""
    httpCookie: HTTPCookie | None = None
    """Hash based on HTTP cookie."""
    useSourceIp: bool | None = None
    """Hash based on the source IP address."""
    httpQueryParameterName: str | None = None
    """Hash based on a specific HTTP query parameter."""
    minimumRingSize: int | None = None
    """The minimum number of virtual nodes to use for the hash ring."""


class LocalityDistribute(StrictModel):
    """Traffic distribution from one locality to others."""

    from_: str | None = Field(default=None, alias="from")
    """Originating locality, '/' separated, e.g. 'region/zone/sub_zone'."""
    to: dict[str, int] | None = None
    """Map of upstream localities to traffic distribution weights."""


class LocalityFailover(StrictModel):
    """Where traffic fails over to when a region's endpoints are unhealthy."""

    from_: str | None = Field(default=None, alias="from")
    """Originating region."""
    to: str | None = None
    """Destination region the traffic will fail over to."""


class LocalityLbSetting(StrictModel):
    """Locality-weighted load balancing."""

    distribute: list[LocalityDistribute] | None = None
    """Optional: only one of distribute or failover can be set."""
    failover: list[LocalityFailover] | None = None
    """Optional: only failover or distribute can be set."""
    enabled: bool | None = None
    """Enable locality load balancing for this destination."""


class LoadBalancer(StrictModel):
    """Settings controlling the load balancer algorithms."""

    simple: Literal["ROUND_ROBIN", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "LEAST_REQUEST"] | None = None
    """A standard load balancing algorithm."""
    consistentHash: ConsistentHash | None = None
    """Consistent-hash based load balancing."""
    localityLbSetting: LocalityLbSetting | None = None
    """Locality load balancer settings."""
    warmupDurationSecs: str | None = None
    """Represents the warmup duration of Service."""


class OutlierDetection(StrictModel):
    """Settings controlling eviction of unhealthy hosts from the load balancing pool."""

    consecutiveErrors: int | None = None
    """Number of errors before a host is ejected (deprecated by Istio)."""
    consecutive5xxErrors: int | None = None
    """Number of 5xx errors before a host is ejected from the connection pool."""
    consecutiveGatewayErrors: int | None = None
    """Number of gateway errors before a host is ejected from the connection pool."""
    consecutiveLocalOriginFailures: int | None = None
    """Number of consecutive locally originated failures before ejection."""
    splitExternalLocalOriginErrors: bool | None = None
    """Determines whether to distinguish local origin failures from external errors."""
    interval: str | None = None
    """Time interval between ejection sweep analysis."""
    baseEjectionTime: str | None = None
    """Minimum ejection duration."""
    maxEjectionPercent: int | None = None
    """Maximum % of hosts in the load balancing pool that can be ejected."""
    minHealthPercent: int | None = None
    """Outlier detection is enabled as long as this % of hosts is healthy."""


class TLSSettings(StrictModel):
    """TLS settings for connections to the upstream service."""

    mode: Literal["DISABLE", "SIMPLE", "MUTUAL", "ISTIO_MUTUAL"] | None = None
    """How the connection to the upstream is secured."""
    clientCertificate: str | None = None
    """REQUIRED if mode is `MUTUAL`."""
    privateKey: str | None = None
    """REQUIRED if mode is `MUTUAL`."""
    caCertificates: str | None = None
    """File with the certificate authority certificates."""
    subjectAltNames: list[str] | None = None
    """Alternate names to verify the subject identity in the certificate."""
    sni: str | None = None
    """SNI string to present to the server during TLS handshake."""


class TrafficPolicy(StrictModel):
    """Traffic policy the Istio router puts on the generated DestinationRules."""

    connectionPool: ConnectionPool | None = None
    """Settings controlling the volume of connections to an upstream service."""
    loadBalancer: LoadBalancer | None = None
    """Settings controlling the load balancer algorithms."""
    outlierDetection: OutlierDetection | None = None
    """Settings controlling eviction of unhealthy hosts from the load balancing pool."""
    tls: TLSSettings | None = None
    """Istio TLS related settings for connections to the upstream service."""
