"""The ``Canary`` resource: a Flagger ``v1beta1`` Canary, field by field, plus our judge and status checks.

Defaults follow Flagger's Go code: absent fields stay ``None`` in the model
and the helper methods on :class:`Canary` (``analysis_interval_seconds()``,
``threshold()``, ``max_weight()``, ...) apply Flagger's defaults in one place.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any, Literal, get_args

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from canary.models.base import (
    GROUP_VERSION,
    ApiVersion,
    CrossNamespaceObjectReference,
    CustomMetadata,
    Duration,
    ObjectMeta,
    Percent,
    PositivePercent,
    StrictModel,
    parse_duration,
)
from canary.models.mesh import (
    CorsPolicy,
    Headers,
    HTTPMatchRequest,
    HTTPRequestMirror,
    HTTPRetry,
    HTTPRewrite,
    ParentReference,
    TrafficPolicy,
)
from canary.models.status import PHASES, CanaryCheck, CanaryCondition, CanaryPhase, CanaryStatus, CheckOutcome

__all__ = [
    "BUILTIN_METRICS",
    "DEFAULT_ANALYSIS_INTERVAL_SECONDS",
    "DEFAULT_MAX_WEIGHT",
    "DEFAULT_METRIC_INTERVAL",
    "DEFAULT_PROGRESS_DEADLINE_SECONDS",
    "DEFAULT_READY_THRESHOLD",
    "DEFAULT_SESSION_MAX_AGE",
    "DEFAULT_WEBHOOK_TIMEOUT",
    "MIN_ANALYSIS_INTERVAL_SECONDS",
    "PHASES",
    "PROVIDERS",
    "AlertSeverity",
    "AutoscalerReference",
    "Canary",
    "CanaryAlert",
    "CanaryAnalysis",
    "CanaryCheck",
    "CanaryCondition",
    "CanaryJudge",
    "CanaryMetric",
    "CanaryPhase",
    "CanaryService",
    "CanarySpec",
    "CanaryStatus",
    "CanaryThresholdRange",
    "CanaryWebhook",
    "CheckOutcome",
    "IngressReference",
    "JudgeErrorRate",
    "JudgeLatency",
    "JudgeTemplates",
    "MetricKind",
    "Provider",
    "RouteReference",
    "ScalerReplicas",
    "SessionAffinity",
    "Strategy",
    "TargetReference",
    "UnmanagedMetadata",
    "UpstreamReference",
    "WebhookType",
    "primary_deployment_name",
]

DEFAULT_PROGRESS_DEADLINE_SECONDS = 600
"""Flagger's default for ``spec.progressDeadlineSeconds``."""
DEFAULT_READY_THRESHOLD = 100
"""Flagger's default for ``spec.analysis.primaryReadyThreshold`` and ``canaryReadyThreshold`` (a percentage)."""
DEFAULT_ANALYSIS_INTERVAL_SECONDS = 60.0
"""Flagger's default for ``spec.analysis.interval``."""
MIN_ANALYSIS_INTERVAL_SECONDS = 10.0
"""Flagger raises a shorter analysis interval to this floor."""
DEFAULT_METRIC_INTERVAL = "1m"
"""Flagger's default query window for a metric (``spec.analysis.metrics[].interval``)."""
DEFAULT_MAX_WEIGHT = 100
"""Flagger's default for ``spec.analysis.maxWeight``."""
DEFAULT_WEBHOOK_TIMEOUT = "10s"
"""Flagger's default timeout of a webhook call."""
DEFAULT_SESSION_MAX_AGE = 86400
"""Flagger's default lifetime of the session affinity cookie, in seconds."""

BUILTIN_METRICS = ("request-success-rate", "request-duration")
"""Metric names that need neither ``query`` nor ``templateRef``: each mesh has PromQL for them."""

Provider = Literal[
    "apisix",
    "appmesh",
    "appmesh:v1beta2",
    "contour",
    "gatewayapi:v1",
    "gatewayapi:v1beta1",
    "gloo",
    "istio",
    "knative",
    "kubernetes",
    "kuma",
    "linkerd",
    "nginx",
    "osm",
    "skipper",
    "smi:v1alpha1",
    "smi:v1alpha2",
    "smi:v1alpha3",
    "traefik",
]
"""Every ``spec.provider`` Flagger accepts (which ones we route: see :mod:`canary.models.support`)."""
PROVIDERS: tuple[str, ...] = get_args(Provider)

WebhookType = Literal[
    "",
    "confirm-rollout",
    "pre-rollout",
    "rollout",
    "confirm-promotion",
    "post-rollout",
    "event",
    "rollback",
    "confirm-traffic-increase",
]
"""When a webhook is called; empty means ``rollout``."""

AlertSeverity = Literal["", "info", "warn", "error"]
"""Which events an alert forwards; empty means ``info``."""

MetricKind = Literal["builtin", "query", "template"]
"""Where a metric's query comes from: the mesh's built-in PromQL, an inline query, or a MetricTemplate."""

Strategy = Literal["canary", "ab-testing", "blue-green"]
"""Flagger's deployment strategies, derived from the analysis fields."""


# --------------------------------------------------------------------------- spec: references


class TargetReference(StrictModel):
    """The workload the Canary rolls out (Flagger accepts Deployment, DaemonSet, and Knative Service)."""

    apiVersion: str
    """API version of the target, e.g. ``apps/v1``."""
    kind: Literal["DaemonSet", "Deployment", "Service"]
    """Kind of the target."""
    name: str
    """Name of the target, in the Canary's namespace."""


class ScalerReplicas(StrictModel):
    """Replica bounds for the primary's autoscaler, overriding the target's."""

    minReplicas: int | None = Field(default=None, ge=1)
    """Minimum replicas of the primary."""
    maxReplicas: int | None = Field(default=None, ge=1)
    """Maximum replicas of the primary."""


class AutoscalerReference(StrictModel):
    """The autoscaler of the target, copied for the primary."""

    apiVersion: str
    """API version of the scaler, e.g. ``autoscaling/v2``."""
    kind: Literal["HorizontalPodAutoscaler", "ScaledObject"]
    """Kind of the scaler."""
    name: str
    """Name of the scaler."""
    primaryScalerQueries: dict[str, str] | None = None
    """Queries for the primary's scaler, by trigger name (KEDA ScaledObject)."""
    primaryScalerReplicas: ScalerReplicas | None = None
    """Replica overrides for the primary's scaler."""


class IngressReference(StrictModel):
    """The Ingress an ingress controller provider (NGINX, Skipper) routes through."""

    apiVersion: str
    """API version of the Ingress."""
    kind: Literal["Ingress"]
    """Always ``Ingress``."""
    name: str
    """Name of the Ingress."""


class RouteReference(StrictModel):
    """The APISIX route the apisix provider routes through."""

    apiVersion: str
    """API version of the route."""
    kind: Literal["ApisixRoute"]
    """Always ``ApisixRoute``."""
    name: str
    """Name of the route."""


class UpstreamReference(StrictModel):
    """The Gloo Upstream whose settings are copied to the generated upstreams."""

    apiVersion: str
    """API version of the upstream."""
    kind: Literal["Upstream"]
    """Always ``Upstream``."""
    name: str
    """Name of the upstream."""
    namespace: str | None = None
    """Namespace of the upstream."""


class UnmanagedMetadata(StrictModel):
    """Metadata keys on the generated objects that the controller leaves alone."""

    labels: list[str] | None = None
    """Label keys to ignore."""
    annotations: list[str] | None = None
    """Annotation keys to ignore."""


# --------------------------------------------------------------------------- spec: service


class CanaryService(StrictModel):
    """How the Services and the mesh routing objects for the Canary are generated."""

    name: str | None = None
    """Name of the apex Service; defaults to ``spec.targetRef.name``."""
    port: int = Field(ge=1, le=65535)
    """Port of the generated Services."""
    portName: str | None = None
    """Name of the port of the generated Services (default ``http``)."""
    targetPort: int | str | None = None
    """Container port number or name the Services forward to (default: ``port``)."""
    appProtocol: str | None = None
    """Application protocol of the port."""
    trafficDistribution: Literal["PreferClose", "PreferSameZone", "PreferSameNode"] | None = None
    """Traffic distribution of the generated Services."""
    portDiscovery: bool = False
    """Add every container port of the target to the generated Services."""
    headless: bool = False
    """Generate headless Services."""
    timeout: Duration | None = None
    """HTTP or gRPC request timeout on the generated route."""
    backendTimeout: Duration | None = None
    """Backend request timeout (Gateway API only)."""
    meshName: str | None = None
    """App Mesh mesh name."""
    backends: list[str] | None = None
    """App Mesh backends."""
    hosts: list[str] = Field(default_factory=list)
    """Host names of the generated VirtualService or HTTPRoute; defaults to the Service name."""
    gateways: list[str] = Field(default_factory=list)
    """Istio gateways of the generated VirtualService; defaults to the mesh gateway."""
    gatewayRefs: list[ParentReference] | None = Field(default=None, max_length=32)
    """Gateways (or Services) the generated HTTPRoute attaches to (Gateway API)."""
    delegation: bool = False
    """Generate a delegate VirtualService (no hosts nor gateways)."""
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    """URI match conditions of the generated route."""
    rewrite: HTTPRewrite | None = None
    """Rewrite of HTTP URIs on the generated route."""
    retries: HTTPRetry | None = None
    """Retry policy of the generated route."""
    headers: Headers | None = None
    """Header operations of the generated route."""
    mirror: list[HTTPRequestMirror] | None = None
    """Request mirroring filters (Gateway API)."""
    corsPolicy: CorsPolicy | None = None
    """Cross-Origin Resource Sharing policy of the generated route."""
    trafficPolicy: TrafficPolicy | None = None
    """Traffic policy of the generated DestinationRules (Istio)."""
    apex: CustomMetadata | None = None
    """Metadata to add to the apex Service."""
    primary: CustomMetadata | None = None
    """Metadata to add to the primary Service."""
    canary: CustomMetadata | None = None
    """Metadata to add to the canary Service."""
    unmanagedMetadata: UnmanagedMetadata | None = None
    """Metadata keys that the controller does not manage on generated objects."""


# --------------------------------------------------------------------------- spec: analysis


class CanaryThresholdRange(StrictModel):
    """The range a metric's value must stay in; either bound may be absent."""

    min: float | None = None
    """Lowest accepted value."""
    max: float | None = None
    """Highest accepted value."""

    @field_validator("max")
    @classmethod
    def _ordered(cls, value: float | None, info: ValidationInfo) -> float | None:
        low = info.data.get("min")
        if value is not None and low is not None and low > value:
            raise PydanticCustomError(
                "range_order", "min ({low}) must not be greater than max ({high})", {"low": low, "high": value}
            )
        return value


class CanaryMetric(StrictModel):
    """One metric check of the analysis: a built-in metric, an inline query, or a MetricTemplate."""

    name: str
    """Name of the metric; ``request-success-rate`` and ``request-duration`` are built in."""
    interval: Duration | None = None
    """Query window (default ``1m``)."""
    threshold: float | None = None
    """Deprecated single bound (a minimum for request-success-rate, a maximum otherwise); use thresholdRange."""
    thresholdRange: CanaryThresholdRange | None = None
    """Range accepted for this metric."""
    query: str | None = None
    """Inline Prometheus query (deprecated by Flagger in favour of templateRef)."""
    templateRef: CrossNamespaceObjectReference | None = None
    """Reference to a MetricTemplate (namespace defaults to the Canary's)."""
    templateVariables: dict[str, str] | None = None
    """Variables for the template's query, available as ``{{ variables.<key> }}``."""
    dryRun: bool = False
    """Measure and report this metric like any check, but never count it as a failed check (not in Flagger;
    Argo Rollouts' per-metric dryRun)."""

    @model_validator(mode="after")
    def _known(self) -> CanaryMetric:
        if self.name not in BUILTIN_METRICS and not self.query and self.templateRef is None:
            raise PydanticCustomError(
                "unknown_metric",
                "unknown metric '{name}': not a built-in metric ({builtins}) and has neither query nor templateRef",
                {"name": self.name, "builtins": ", ".join(BUILTIN_METRICS), "field": "name"},
            )
        return self

    def kind(self) -> MetricKind:
        """Where the query comes from: ``templateRef`` wins, then an inline ``query``, then the built-in name."""
        if self.templateRef is not None:
            return "template"
        if self.query:
            return "query"
        return "builtin"

    def interval_or_default(self) -> str:
        """The query window as written, or Flagger's default ``1m``."""
        return self.interval or DEFAULT_METRIC_INTERVAL

    def bounds(self) -> tuple[float | None, float | None]:
        """The accepted ``(min, max)``: ``thresholdRange``, else the deprecated ``threshold`` as Flagger reads it.

        Flagger treats ``threshold`` as a minimum for ``request-success-rate``
        and as a maximum for every other metric.
        """
        if self.thresholdRange is not None:
            return (self.thresholdRange.min, self.thresholdRange.max)
        if self.threshold is not None:
            if self.name == "request-success-rate":
                return (self.threshold, None)
            return (None, self.threshold)
        return (None, None)


class CanaryAlert(StrictModel):
    """An alert: which AlertProvider receives this Canary's events, and from which severity."""

    name: str
    """Name of the alert."""
    severity: AlertSeverity | None = None
    """Lowest severity forwarded: info, warn or error (default info)."""
    providerRef: CrossNamespaceObjectReference
    """The AlertProvider (namespace defaults to the Canary's)."""


class CanaryWebhook(StrictModel):
    """A webhook called at a point of the rollout (gates, tests, load generation, events)."""

    name: str
    """Name of the webhook."""
    type: WebhookType | None = None
    """When it is called: pre-rollout, rollout (default), confirm-rollout, confirm-promotion, ..."""
    url: str
    """URL the payload is POSTed to."""
    muteAlert: bool = False
    """Send no alert for this webhook's failures."""
    timeout: Duration | None = None
    """Request timeout (default 10s)."""
    retries: int | None = Field(default=None, ge=0)
    """Number of retries of a failed call."""
    disableTLS: bool = False
    """Skip TLS certificate verification."""
    metadata: dict[str, str] | None = None
    """Key-value pairs sent in the payload."""

    def hook_type(self) -> str:
        """The webhook type, ``rollout`` when empty (Flagger's reading)."""
        return self.type or "rollout"

    def timeout_seconds(self) -> float:
        """The request timeout in seconds (default 10; 0, which Flagger's Go client reads as "none", is the default too)."""
        return parse_duration(self.timeout or DEFAULT_WEBHOOK_TIMEOUT) or parse_duration(DEFAULT_WEBHOOK_TIMEOUT)


class SessionAffinity(StrictModel):
    """Cookie-based session affinity during a canary run (users who hit the canary stay on it)."""

    cookieName: str
    """Name of the cookie that pins a user to the canary."""
    primaryCookieName: str | None = None
    """Name of the cookie that pins a user to the primary."""
    domain: str | None = None
    """Domain of the cookie."""
    httpOnly: bool | None = None
    """Forbid JavaScript access to the cookie."""
    maxAge: int | None = Field(default=None, ge=0)
    """Lifetime of the cookie in seconds (default 86400)."""
    partitioned: bool | None = None
    """Store the cookie in partitioned storage."""
    path: str | None = None
    """Path the cookie is sent for."""
    sameSite: Literal["Strict", "Lax", "None"] | None = None
    """Whether the cookie is sent with cross-site requests."""
    secure: bool | None = None
    """Send the cookie over https only."""

    def max_age(self) -> int:
        """Lifetime of the cookie in seconds (Flagger's default: one day)."""
        return self.maxAge or DEFAULT_SESSION_MAX_AGE


class JudgeErrorRate(StrictModel):
    """The judge's comparison of error rates between canary and primary."""

    enabled: bool = True
    """Compare error rates."""
    tolerance: float = Field(default=0.1, ge=0, le=100)
    """Allowed rise of the canary's error rate over the primary's, in percentage points."""


class JudgeLatency(StrictModel):
    """The judge's comparison of a latency quantile between canary and primary."""

    enabled: bool = True
    """Compare latencies."""
    tolerance: float = Field(default=10.0, ge=0)
    """Allowed relative rise of the canary's latency quantile over the primary's, in percent."""
    quantile: float = Field(default=0.99, gt=0, lt=1)
    """The latency quantile compared (0.99 is p99)."""
    jitter: float = Field(default=3.5, ge=0, le=50)
    """How much each version's latency may wander on its own from minute to minute, in percent.

    The standard deviation, per version and minute, of a shift of its whole
    latency distribution that the other version does not share (drift common
    to both cancels). The judge's error guarantee holds for any jitter up to
    this: raise it for services that swing more (safer, slower to catch small
    regressions), lower it for steady ones (faster).
    """


class JudgeTemplates(StrictModel):
    """A pair of MetricTemplates feeding the judge's error-rate comparison from custom metrics.

    Each query returns a count over ``{{ interval }}`` for the Deployment
    ``{{ workload }}`` (rendered once for the canary, the target, and once for
    ``<target>-primary``). For the judge, ``{{ interval }}`` is the tick's window
    in milliseconds (e.g. ``61500ms``): from where the last judged window ended
    to now, so that no request is counted in two ticks. E.g.
    ``sum(increase(http_requests_total{namespace="{{ namespace }}",pod=~"{{ workload }}-.*"}[{{ interval }}]))``.
    """

    requests: CrossNamespaceObjectReference
    """Template counting requests."""
    errors: CrossNamespaceObjectReference
    """Template counting failed requests."""


class CanaryJudge(StrictModel):
    """Statistical comparison of the canary against the primary (our addition to Flagger's spec).

    When this block is present the judge runs at every analysis tick beside the
    threshold checks. It compares the canary's error rate and latency with the
    primary's over the same window, using a sequential test whose error
    guarantee (``alpha``) holds however often it is repeated. A ``fail``
    verdict counts as a failed check; with ``promoteOnPass`` a ``pass`` verdict
    may promote before the last weight step; with ``dryRun`` verdicts are only
    reported.
    """

    alpha: float = Field(default=0.01, gt=0, lt=0.5)
    """Probability of wrongly failing a canary that is no worse than the primary (0 < alpha < 0.5)."""
    dryRun: bool = False
    """Judge and report the verdicts, but never let them decide the rollout."""
    promoteOnPass: bool = False
    """Let a ``pass`` verdict promote the canary early."""
    errorRate: JudgeErrorRate = Field(default_factory=JudgeErrorRate)
    """Error rate comparison."""
    latency: JudgeLatency = Field(default_factory=JudgeLatency)
    """Latency comparison."""
    latencyBuckets: list[float] | None = None
    """Upper bounds (ms) of the latency histogram buckets to use; the mesh's buckets when absent."""
    templates: JudgeTemplates | None = None
    """Count requests and errors with these MetricTemplates instead of the mesh's metrics."""

    @model_validator(mode="after")
    def _compares_something(self) -> CanaryJudge:
        if self.templates is None and not self.errorRate.enabled and not self.latency.enabled:
            raise PydanticCustomError(
                "judge_compares_nothing",
                "the judge compares nothing: errorRate and latency are both disabled (enable one, or remove judge)",
                {},
            )
        return self

    @field_validator("latencyBuckets")
    @classmethod
    def _ascending_buckets(cls, value: list[float] | None) -> list[float] | None:
        if value is not None:
            if not value:
                raise PydanticCustomError("buckets", "must list at least one bucket bound", {})
            if any(b <= 0 for b in value) or any(b <= a for a, b in itertools.pairwise(value)):
                raise PydanticCustomError(
                    "buckets", "must be positive and strictly ascending (got {value})", {"value": value}
                )
        return value


class CanaryAnalysis(StrictModel):
    """How a release is analysed: schedule, traffic steps, checks, hooks and alerts."""

    interval: Duration | None = None
    """Time between two analysis ticks (default 1m; Flagger raises anything under 10s to 10s)."""
    iterations: int | None = Field(default=None, ge=0)
    """Number of checks to run for A/B testing and blue/green (instead of weight steps)."""
    threshold: int | None = Field(default=None, ge=0)
    """Number of failed checks that rolls the canary back (default 1)."""
    stepWeight: PositivePercent | None = None
    """Weight added to the canary at each passing tick."""
    stepWeights: list[int] = Field(default_factory=list)
    """Explicit ascending weights for the canary (overrides stepWeight and maxWeight)."""
    maxWeight: PositivePercent | None = None
    """Canary weight after which the canary is promoted (default 100)."""
    stepWeightPromotion: PositivePercent | None = None
    """Weight moved to the primary at each tick while promoting (default: all at once)."""
    mirror: bool = False
    """Mirror traffic to the canary instead of shifting it (blue/green with Istio)."""
    mirrorWeight: Percent | None = None
    """Percentage of traffic mirrored."""
    primaryReadyThreshold: Percent | None = None
    """Percentage of primary pods that must be ready (default 100)."""
    canaryReadyThreshold: Percent | None = None
    """Percentage of canary pods that must be ready (default 100)."""
    alerts: list[CanaryAlert] = Field(default_factory=list)
    """Alerts for this Canary's events."""
    metrics: list[CanaryMetric] = Field(default_factory=list)
    """Metric checks run at each tick."""
    webhooks: list[CanaryWebhook] = Field(default_factory=list)
    """Webhooks called during the rollout."""
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    """A/B testing conditions: requests matching them go to the canary."""
    sessionAffinity: SessionAffinity | None = None
    """Session affinity settings for a canary run."""
    judge: CanaryJudge | None = None
    """Statistical comparison of the canary's error rate and latency against the primary's, valid however
    often it is repeated; present means enabled (our addition to Flagger's spec)."""

    @field_validator("stepWeights")
    @classmethod
    def _ascending_steps(cls, value: list[int]) -> list[int]:
        for weight in value:
            if not 1 <= weight <= 100:
                raise PydanticCustomError(
                    "step_weights", "every weight must be between 1 and 100 (got {value})", {"value": value}
                )
        if any(b <= a for a, b in itertools.pairwise(value)):
            raise PydanticCustomError("step_weights", "must be strictly ascending (got {value})", {"value": value})
        return value

    @field_validator("maxWeight")
    @classmethod
    def _max_not_below_step(cls, value: int | None, info: ValidationInfo) -> int | None:
        step = info.data.get("stepWeight")
        if value is not None and step is not None and value < step:
            raise PydanticCustomError(
                "max_weight", "must not be less than stepWeight ({step}) (got {value})", {"step": step, "value": value}
            )
        return value

    @model_validator(mode="after")
    def _has_progression(self) -> CanaryAnalysis:
        if not self.iterations and not self.stepWeight and not self.stepWeights:
            raise PydanticCustomError(
                "no_progression",
                "set one of iterations (A/B testing, blue/green), stepWeight or stepWeights (canary)",
                {"field": "stepWeight"},
            )
        return self


# --------------------------------------------------------------------------- spec


class CanarySpec(StrictModel):
    """The desired behaviour of a Canary (Flagger's ``CanarySpec``)."""

    provider: Provider | None = None
    """Traffic management provider for this Canary; the controller's default when absent."""
    metricsServer: str | None = None
    """Prometheus URL for this Canary; the controller's default when absent."""
    progressDeadlineSeconds: int | None = Field(default=None, ge=0)
    """Seconds the canary may take to become ready before the rollout fails (default 600)."""
    targetRef: TargetReference
    """The workload to roll out."""
    autoscalerRef: AutoscalerReference | None = None
    """The autoscaler of the target."""
    ingressRef: IngressReference | None = None
    """The Ingress used by ingress controller providers."""
    routeRef: RouteReference | None = None
    """The APISIX route used by the apisix provider."""
    upstreamRef: UpstreamReference | None = None
    """The Gloo Upstream used by the gloo provider."""
    service: CanaryService | None = None
    """How the Services and routing objects are generated (required for Deployment and DaemonSet targets)."""
    analysis: CanaryAnalysis
    """How each release is analysed."""
    skipAnalysis: bool = False
    """Promote without analysis."""
    revertOnDeletion: bool = False
    """Restore the target and routing to their original state when the Canary is deleted."""
    suspend: bool = False
    """Pause the Canary: no new runs, and a run in progress stops where it is."""


def primary_deployment_name(target: str) -> str:
    """The primary workload for target ``target``: ``<target>-primary`` (Flagger's naming)."""
    return f"{target}-primary"


# --------------------------------------------------------------------------- the object


class Canary(StrictModel):
    """A Canary: rolls out a new revision of a workload step by step, judged by metrics."""

    apiVersion: ApiVersion = GROUP_VERSION
    """Always ``canary.dev/v1beta1``."""
    kind: Literal["Canary"] = "Canary"
    """Always ``Canary``."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
    spec: CanarySpec
    """Desired behaviour."""
    status: CanaryStatus = Field(default_factory=CanaryStatus)
    """Observed state, written by the controller."""

    @classmethod
    def from_kube(cls, obj: Mapping[str, Any]) -> Canary:
        """Parse an object read from the API: spec strictly, status tolerating keys that are not ours.

        Other writers (a framework's bookkeeping, an older controller) may
        leave keys in ``status``; they must not make a valid Canary invalid,
        so unknown status keys are dropped here. The spec is validated as
        strictly as by ``model_validate`` (errors raise ``ValidationError``).
        """
        data = dict(obj)
        status = data.get("status")
        if isinstance(status, Mapping):
            known = {field.alias or name for name, field in CanaryStatus.model_fields.items()}
            data["status"] = {key: value for key, value in status.items() if key in known}
        return cls.model_validate(data)

    # Flagger's getters, with Flagger's defaults.

    @property
    def name(self) -> str:
        """``metadata.name`` (empty when unset)."""
        return self.metadata.name or ""

    @property
    def namespace(self) -> str:
        """``metadata.namespace`` (empty when unset)."""
        return self.metadata.namespace or ""

    def analysis_interval_seconds(self, floor: float = MIN_ANALYSIS_INTERVAL_SECONDS) -> float:
        """Seconds between analysis ticks: 60 by default, never below ``floor`` (Flagger's GetAnalysisInterval).

        Flagger's floor is 10 s; the testbed passes a lower one to rehearse a rollout quickly.
        """
        text = self.spec.analysis.interval
        if not text:
            return DEFAULT_ANALYSIS_INTERVAL_SECONDS
        return max(parse_duration(text), floor)

    def threshold(self) -> int:
        """Failed checks that roll the canary back: ``analysis.threshold``, 1 when unset or 0."""
        value = self.spec.analysis.threshold
        return value if value and value > 0 else 1

    def iterations(self) -> int:
        """Checks to run for A/B testing and blue/green (0 in a weighted canary)."""
        return self.spec.analysis.iterations or 0

    def strategy(self) -> Strategy:
        """canary (weights), ab-testing (iterations + match), or blue-green (iterations, no match)."""
        analysis = self.spec.analysis
        if analysis.stepWeights or analysis.stepWeight:
            return "canary"
        return "ab-testing" if analysis.match else "blue-green"

    def max_weight(self) -> int:
        """Canary weight at which the canary is promoted: the last stepWeights, else maxWeight, else 100."""
        analysis = self.spec.analysis
        if analysis.stepWeights:
            return analysis.stepWeights[-1]
        return analysis.maxWeight or DEFAULT_MAX_WEIGHT

    def step_weights(self) -> list[int]:
        """The canary weights the rollout walks through; empty for A/B testing and blue/green.

        The explicit ``stepWeights``, else ``stepWeight, 2*stepWeight, ...``
        below ``maxWeight`` followed by ``maxWeight`` itself (Flagger caps the
        last step at maxWeight).
        """
        analysis = self.spec.analysis
        if analysis.stepWeights:
            return list(analysis.stepWeights)
        step = analysis.stepWeight
        if not step:
            return []
        top = self.max_weight()
        weights = list(range(step, top, step))
        weights.append(top)
        return weights

    def progress_deadline_seconds(self) -> int:
        """Seconds allowed for the canary to become ready (default 600)."""
        value = self.spec.progressDeadlineSeconds
        return DEFAULT_PROGRESS_DEADLINE_SECONDS if value is None else value

    def primary_ready_threshold(self) -> int:
        """Percentage of the primary's updated pods that must be ready (``analysis.primaryReadyThreshold``, 100)."""
        value = self.spec.analysis.primaryReadyThreshold
        return DEFAULT_READY_THRESHOLD if value is None else value

    def canary_ready_threshold(self) -> int:
        """Percentage of the canary's updated pods that must be ready (``analysis.canaryReadyThreshold``, 100)."""
        value = self.spec.analysis.canaryReadyThreshold
        return DEFAULT_READY_THRESHOLD if value is None else value

    def skip_analysis(self) -> bool:
        """Whether the canary is promoted without analysis (``spec.skipAnalysis``)."""
        return self.spec.skipAnalysis

    def primary_deployment_name(self) -> str:
        """Name of the primary workload: ``<targetRef.name>-primary``."""
        return primary_deployment_name(self.spec.targetRef.name)

    def require_service(self) -> CanaryService:
        """``spec.service``; raises ``ValueError`` when absent (``unsupported()`` refuses such a Canary first)."""
        if self.spec.service is None:
            raise ValueError(f"Canary {self.namespace}/{self.name}: spec.service is required")
        return self.spec.service
