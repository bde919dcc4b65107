"""The Canary's status: what the controller persisted, its conditions and its last checks.

The status is the controller's only state (a restarted controller resumes
from it), so everything here is what a restart needs, plus what people read.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from canary.models.base import StrictModel

__all__ = [
    "PHASES",
    "CanaryCheck",
    "CanaryCondition",
    "CanaryPhase",
    "CanaryStatus",
    "CheckOutcome",
    "JudgeMetric",
    "JudgeStatus",
    "JudgeVerdict",
    "OutboxAlert",
    "OutboxCheck",
    "OutboxEntry",
    "OutboxEvent",
    "OutboxHook",
    "OutboxKind",
]

CanaryPhase = Literal[
    "",
    "Initializing",
    "Initialized",
    "Waiting",
    "Progressing",
    "WaitingPromotion",
    "Promoting",
    "Finalising",
    "Succeeded",
    "Failed",
    "Terminating",
    "Terminated",
]
"""Flagger's phase names (``canary.core.Phase`` holds the same values)."""
PHASES: tuple[str, ...] = get_args(CanaryPhase)

CheckOutcome = Literal["pass", "fail", "error", "inconclusive"]
"""Result of one metric check: within range, out of range, or not measurable (no data, NaN, unreachable)."""


class CanaryCondition(StrictModel):
    """A status condition (``Promoted``, ``Supported``, ...)."""

    type: str
    """Type of the condition, e.g. ``Promoted``."""
    status: Literal["True", "False", "Unknown"]
    """Status of the condition."""
    reason: str
    """One-word reason for the status, e.g. ``Succeeded``."""
    message: str | None = None
    """Human-readable details."""
    lastUpdateTime: datetime | None = None
    """When the condition was last written."""
    lastTransitionTime: datetime | None = None
    """When the status last changed."""
    observedGeneration: int | None = None
    """The ``metadata.generation`` the condition describes (kubectl wait ignores a condition older than the spec)."""


class CanaryCheck(StrictModel):
    """The result of one check at the last analysis tick, as shown to people."""

    name: str
    """Name of the metric (or of the judge)."""
    value: float | None = None
    """Measured value; absent when it could not be measured."""
    min: float | None = None
    """Lowest accepted value."""
    max: float | None = None
    """Highest accepted value."""
    unit: str | None = None
    """Unit of value, min and max (e.g. ``%``, ``ms``)."""
    outcome: CheckOutcome
    """pass, fail, error (not measurable), or inconclusive (the judge needs more evidence)."""
    reason: str
    """Why, in words: "request-success-rate 97.2 % < 99 %"."""
    dryRun: bool | None = None
    """True for a check that is reported only (a metric's or the judge's ``dryRun``): it never fails the analysis."""


def _number(value: Any) -> float | None:
    """A number as the judge's status holds one (a number, or text such as "inf"), None if it is none."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _json_number(value: float | None) -> float | str | None:
    """A number as the analysis package writes it in JSON: infinities as text, NaN as nothing."""
    if value is None or math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


JudgeNumber = Annotated[float | None, BeforeValidator(_number), PlainSerializer(_json_number)]
"""A number in the judge's status: infinities are kept as "inf" / "-inf" text, as the analysis package writes them."""


class _Lenient(BaseModel):
    """Base of the judge's status models: what anyone wrote is read as far as it makes sense.

    ``status.judge`` is the controller's bookkeeping, but anyone with access
    may edit it, and another version of the controller may have written it.
    So unlike the resource models, a value of the wrong type reads as absent
    (None) instead of making the Canary invalid, and keys that are not ours
    are kept (and written back) as they are.
    """

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)

    @field_validator("*", mode="wrap")
    @classmethod
    def _absent_if_malformed(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            return None


class JudgeMetric(_Lenient):
    """The judge's verdict on one judged metric (``error-rate``, ``latency``, ``latency-tail``)."""

    name: Annotated[str | None, BeforeValidator(lambda v: v if v is None or isinstance(v, str) else str(v))] = None
    """The judged metric."""
    outcome: str | None = None
    """pass, fail or inconclusive."""
    reason: str | None = None
    """Why, in words."""
    evidence: JudgeNumber = None
    """The evidence of a regression so far (an e-value)."""
    threshold: JudgeNumber = None
    """The evidence at which the judge rolls back (1 / alpha)."""


class JudgeVerdict(_Lenient):
    """The judge's last verdict, as the analysis package's ``Verdict.to_dict()`` writes it."""

    outcome: str | None = None
    """pass, fail or inconclusive."""
    reason: str | None = None
    """Why, in words (what chat messages show)."""
    evidence: JudgeNumber = None
    """The combined evidence of a regression."""
    threshold: JudgeNumber = None
    """The evidence at which the judge rolls back."""
    ticks: int | None = None
    """Ticks of evidence so far."""
    metrics: Annotated[
        list[JudgeMetric],
        BeforeValidator(lambda v: [m for m in v if isinstance(m, dict)] if isinstance(v, list) else []),
    ] = Field(default_factory=list)
    """The verdict per judged metric (entries that are not objects are dropped)."""


class JudgeStatus(_Lenient):
    """``status.judge``: the statistical judge's evidence for the revision under analysis, and its last verdict.

    Written by the controller at each judged tick and read at the next, so
    the evidence of one revision carries across ticks and restarts. The CRD
    keeps it free-form (``x-kubernetes-preserve-unknown-fields``): the
    evidence is the analysis package's own format.
    """

    revision: str | None = None
    """The revision (``lastAppliedSpec``) the evidence is about."""
    settings: str | None = None
    """A fingerprint of the judge settings the evidence was gathered under."""
    state: Any = None
    """The evidence, in the analysis package's own format (``SequentialJudge.state()``; it validates it)."""
    verdict: JudgeVerdict | None = None
    """The verdict of the last judged tick."""
    windowEnd: str | None = None
    """Where the last judged window ended (ISO 8601, milliseconds): the next one starts there."""
    windowTicks: float | None = None
    """The evidence's tick count when ``windowEnd`` was written (another writer since makes it stale)."""

    def evidence_for(self, revision: str | None) -> bool:
        """Whether this holds evidence about ``revision`` (the one under analysis)."""
        return self.revision == revision and bool(self.state)

    def settings_match(self, digest: str) -> bool:
        """Whether the evidence was gathered under the settings of fingerprint ``digest``.

        A status written before fingerprints were recorded (no ``settings``
        key) matches any.
        """
        return "settings" not in self.model_fields_set or self.settings == digest

    def window_end(self) -> datetime | None:
        """``windowEnd`` as a time, or None when it is missing, unreadable or without a time zone."""
        try:
            end = datetime.fromisoformat(self.windowEnd) if self.windowEnd is not None else None
        except ValueError:
            return None
        return end if end is not None and end.tzinfo is not None else None

    @property
    def state_ticks(self) -> Any:
        """The tick count inside the evidence (None when it has none)."""
        return self.state.get("ticks") if isinstance(self.state, dict) else None

    @property
    def recorded(self) -> bool:
        """Whether anything is recorded (an empty object records nothing)."""
        return bool(self.model_fields_set or self.model_extra)


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


OutboxKind = Literal["event", "alert", "hook"]
"""What an outbox entry delivers: a Kubernetes Event, a chat message, or a webhook call."""


class OutboxEvent(StrictModel):
    """A Kubernetes Event to record on the Canary."""

    type: Literal["Normal", "Warning"]
    """Normal or Warning."""
    reason: str
    """The Event's reason, e.g. ``RolledBack``."""
    message: str
    """The Event's message."""


class OutboxCheck(StrictModel):
    """One check line of a chat message (a ``CanaryCheck`` without its reason)."""

    name: str
    """Name of the metric (or of the judge)."""
    outcome: str
    """pass, fail, error or inconclusive."""
    value: float | None = None
    """Measured value; absent when it could not be measured."""
    min: float | None = None
    """Lowest accepted value."""
    max: float | None = None
    """Highest accepted value."""
    unit: str | None = None
    """Unit of value, min and max."""
    dryRun: bool = False
    """The metric is in dry run: shown, never a failed check."""


class OutboxAlert(StrictModel):
    """A chat message, rendered when it was queued, for one of the Canary's alerts."""

    target: str | None = None
    """The ``analysis.alerts`` entry (by name) to post to; absent: the controller's default provider."""
    title: str
    """What happened ("rolled back")."""
    severity: Literal["info", "warn", "error"]
    """info, warn or error."""
    reason: str
    """Why, in words."""
    phase: str
    """Phase of the rollout after the event."""
    weight: int
    """Canary weight after the event."""
    revision: str | None = None
    """The revision being rolled out."""
    checks: list[OutboxCheck] = Field(default_factory=list)
    """The check lines the message shows."""
    verdict: str | None = None
    """The judge's verdict, when it runs."""
    verdictReason: str | None = None
    """The judge's reason for it."""


class OutboxHook(StrictModel):
    """A notice webhook call (``event`` or ``post-rollout``) to one of the Canary's webhooks."""

    name: str
    """The ``analysis.webhooks`` entry (by name) to call."""
    type: Literal["event", "post-rollout"]
    """The hook's type."""
    phase: str
    """The phase the payload carries."""
    checksum: str | None = None
    """The revision the payload carries."""
    metadata: dict[str, str] | None = None
    """What joins the hook's own metadata in the payload (an event hook's eventMessage, eventType, timestamp)."""


class OutboxEntry(StrictModel):
    """Something a decision must tell, kept in status with the decision until it is delivered.

    Written in the same status patch as the decision, so a controller that
    stops (or fails) before telling still tells on its next tick; removed by
    the first status write after it was delivered (or given up on).
    """

    key: str
    """Stable name of the entry, derived from the decision (it also names the Kubernetes Event)."""
    kind: OutboxKind
    """event, alert or hook: which of the fields below is set."""
    queued: Annotated[datetime, AfterValidator(_aware)]
    """When the decision that queued it was made (a time without a time zone reads as UTC)."""
    event: OutboxEvent | None = None
    """The Event (kind event)."""
    alert: OutboxAlert | None = None
    """The chat message (kind alert)."""
    hook: OutboxHook | None = None
    """The webhook call (kind hook)."""

    @model_validator(mode="after")
    def _kind_matches(self) -> OutboxEntry:
        if getattr(self, self.kind) is None:
            raise ValueError(f"an entry of kind {self.kind} needs its {self.kind} field")
        return self


def _outbox_entries(value: Any) -> list[OutboxEntry]:
    """The entries of a raw ``status.outbox`` that are entries; anything else (a hand edit) is dropped.

    Dropped here, it is gone from status at the next write instead of making
    the Canary invalid.
    """
    if not isinstance(value, list):
        return []
    entries = []
    for item in value:
        try:
            entries.append(OutboxEntry.model_validate(item))
        except ValidationError:
            continue
    return entries


def _check_phase(value: str) -> str:
    if value not in PHASES:
        raise PydanticCustomError(
            "phase", "must be one of {phases} (got '{value}')", {"phases": ", ".join(PHASES[1:]), "value": value}
        )
    return str(value)


class CanaryStatus(StrictModel):
    """The observed state of a Canary; the controller's only state, so a restart resumes from it."""

    phase: Annotated[str, AfterValidator(_check_phase), Field(json_schema_extra={"enum": list(PHASES)})] | None = None
    """Phase of the rollout (a ``canary.core.Phase`` value)."""
    canaryWeight: int = 0
    """Traffic weight routed to the canary."""
    failedChecks: int = 0
    """Failed checks of the current analysis."""
    iterations: int = 0
    """Analysis ticks run in the current analysis."""
    trackedConfigs: dict[str, str] | None = None
    """Hashes of the ConfigMaps and Secrets the target uses."""
    lastAppliedSpec: str | None = None
    """Hash of the target's pod template last seen (the revision being rolled out)."""
    lastPromotedSpec: str | None = None
    """Hash of the pod template last promoted."""
    lastTransitionTime: datetime | None = None
    """When the phase last changed."""
    sessionAffinityCookie: str | None = None
    """Session affinity cookie of the current canary run."""
    primarySessionAffinityCookie: str | None = None
    """Primary session affinity cookie of the current canary run."""
    previousSessionAffinityCookie: str | None = None
    """Session affinity cookie of the previous canary run."""
    conditions: list[CanaryCondition] = Field(default_factory=list)
    """Status conditions of this Canary."""
    # Ours, beyond Flagger's status:
    observedGeneration: int | None = None
    """The ``metadata.generation`` this status was computed for."""
    lastAnalysisTime: datetime | None = None
    """When the last analysis tick ran (so a restarted controller keeps the interval)."""
    message: str | None = None
    """The reason for the last decision, in words."""
    checks: list[CanaryCheck] = Field(default_factory=list)
    """Each check's result at the last analysis tick."""
    # (free-form in the CRD, as before this was typed: the evidence inside is the analysis package's format)
    judge: Annotated[
        JudgeStatus | None,
        WithJsonSchema({"anyOf": [{"additionalProperties": True, "type": "object"}, {"type": "null"}]}),
    ] = None
    """The judge's persisted state and last verdict (free-form; owned by the analysis package)."""
    outbox: Annotated[list[OutboxEntry], BeforeValidator(_outbox_entries)] = Field(default_factory=list)
    """What the last decisions must still tell (Events, chat messages, webhook calls), oldest first."""

    def condition(self, type_: str) -> CanaryCondition | None:
        """The condition of that type, if present."""
        for cond in self.conditions:
            if cond.type == type_:
                return cond
        return None
