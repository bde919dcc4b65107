"""What a chat notification says, the ``Notifier`` contract, and the severity filter of Canary alerts.

A :class:`Notification` is everything a chat message about one rollout event
needs: which canary (name, namespace, cluster), where the rollout stands
(phase, canary weight), what happened (``title``: "rolled back"), why (the
reason sentence with the measured values), and optionally the per-check lines
and the judge's verdict. Each chat service has a pure renderer turning it into
that service's webhook payload; a :class:`Notifier` posts it.

Posting never raises anything but :class:`NotifierError`, whose message never
contains the webhook address, the proxy, or any other secret.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal, Protocol, get_args, runtime_checkable

from canary.errors import CanaryError

if TYPE_CHECKING:
    from canary.models.canary import CanaryCheck

__all__ = [
    "DEADLINE_EXCEEDED",
    "FAILED_CHECKS",
    "NEW_REVISION",
    "PROMOTED",
    "PROMOTION_FORCED",
    "ROLLED_BACK",
    "SEVERITIES",
    "WAITING_FOR_GATE",
    "CheckLine",
    "Notification",
    "Notifier",
    "NotifierError",
    "Severity",
    "UnknownNotifierTypeError",
    "check_lines",
    "format_value",
    "severity_allows",
]

Severity = Literal["info", "warn", "error"]
"""How serious an event is; Canary alerts forward events at or above their ``severity``."""
SEVERITIES: tuple[str, ...] = get_args(Severity)

# Titles of the events the controller reports (any short phrase works; these keep messages uniform).
NEW_REVISION = "new revision"
"""A new revision of the target was detected and its analysis starts (info)."""
PROMOTED = "promoted"
"""The canary was promoted to primary (info)."""
PROMOTION_FORCED = "promotion forced"
"""Someone forced the promotion of a revision, its checks skipped (warn)."""
ROLLED_BACK = "rolled back"
"""The canary was rolled back (error)."""
FAILED_CHECKS = "failed checks threshold reached"
"""The analysis failed too many checks (error)."""
WAITING_FOR_GATE = "waiting for gate"
"""A confirm-* gate holds the rollout (warn)."""
DEADLINE_EXCEEDED = "progress deadline exceeded"
"""The workload did not become ready in time (error)."""

_RANK = {"info": 0, "warn": 1, "error": 2}


def severity_allows(alert_severity: str | None, event_severity: str) -> bool:
    """Whether an alert of ``alert_severity`` forwards an event of ``event_severity``.

    ``info`` (and empty or ``None``, which mean info) gets everything, ``warn``
    gets warn and error, ``error`` only errors. An unknown alert severity is
    treated as info (the model already refuses one); an unknown event severity
    raises ``ValueError`` (a programming error in the caller).
    """
    if event_severity not in _RANK:
        raise ValueError(f"unknown event severity {event_severity!r} (expected one of {', '.join(SEVERITIES)})")
    threshold = _RANK.get(alert_severity or "info", 0)
    return _RANK[event_severity] >= threshold


def format_value(value: float | None, unit: str = "") -> str:
    """A measured value for people: at most 4 significant digits, the unit after a space ("97.2 %")."""
    if value is None:
        return "no data"
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = f"{value:.4g}"
    if "e" in text:  # large values: plain digits read better in chat than 1.235e+04
        text = f"{value:.0f}" if abs(value) >= 1 else f"{value:.3g}"
    return f"{text} {unit}" if unit else text


@dataclass(frozen=True)
class CheckLine:
    """One check's result as shown in a message: "request-success-rate 97.2 % (≥ 99 %): fail"."""

    name: str
    """Name of the metric (or ``judge``)."""
    value: float | None
    """Measured value; ``None`` when it could not be measured."""
    outcome: str
    """pass, fail, error (not measurable) or inconclusive."""
    min: float | None = None
    """Lowest accepted value."""
    max: float | None = None
    """Highest accepted value."""
    unit: str = ""
    """Unit of value, min and max (``%``, ``ms``)."""
    dry_run: bool = False
    """Reported only (the metric's ``dryRun``): it never fails the analysis."""

    def outcome_text(self) -> str:
        """The outcome, marked when the check is a dry run: "fail (dry run)"."""
        return f"{self.outcome} (dry run)" if self.dry_run else self.outcome

    def value_text(self) -> str:
        """The measured value with its unit."""
        return format_value(self.value, self.unit)

    def threshold_text(self) -> str:
        """The accepted range in words: "≥ 99 %", "≤ 500 ms", "0 – 1 %", or "" when unbounded."""
        low = None if self.min is None else format_value(self.min, "")
        high = None if self.max is None else format_value(self.max, "")
        suffix = f" {self.unit}" if self.unit else ""
        if low is not None and high is not None:
            return f"{low} – {high}{suffix}"
        if low is not None:
            return f"≥ {low}{suffix}"
        if high is not None:
            return f"≤ {high}{suffix}"
        return ""

    def text(self) -> str:
        """The whole line, plain text."""
        threshold = self.threshold_text()
        bounds = f" (want {threshold})" if threshold else ""
        return f"{self.name}: {self.value_text()}{bounds}: {self.outcome_text()}"


def check_lines(checks: Iterable[CanaryCheck]) -> tuple[CheckLine, ...]:
    """Check lines from the ``status.checks`` of a Canary."""
    return tuple(
        CheckLine(
            name=c.name,
            value=c.value,
            outcome=c.outcome,
            min=c.min,
            max=c.max,
            unit=c.unit or "",
            dry_run=bool(c.dryRun),
        )
        for c in checks
    )


_ICONS = {"info": "ℹ️", "warn": "⚠️", "error": "🚨"}


@dataclass(frozen=True)
class Notification:
    """Everything a chat message about one rollout event says (service-neutral)."""

    name: str
    """Name of the Canary."""
    namespace: str
    """Namespace of the Canary."""
    phase: str
    """Phase of the rollout after the event (``Progressing``, ``Failed``, ...)."""
    weight: int
    """Traffic weight routed to the canary, 0–100."""
    severity: Severity
    """info, warn or error; decides which alerts receive it and the colour of the message."""
    title: str
    """What happened, a short phrase: "rolled back" (see the module constants)."""
    reason: str
    """Why, with measured values: "request-success-rate 97.2 % < 99 %"."""
    checks: tuple[CheckLine, ...] = ()
    """Each check's result at the last analysis tick (may be empty)."""
    verdict: str | None = None
    """The judge's verdict (pass, fail, inconclusive) when the judge runs."""
    verdict_reason: str | None = None
    """The judge's reason for its verdict."""
    cluster: str | None = None
    """Name of the cluster, for teams that run several."""
    timestamp: datetime | None = None
    """When the event happened (timezone-aware); shown where the service has a slot for it."""
    revision: str | None = None
    """The revision being rolled out (hash of the pod template), when known."""
    extra: tuple[tuple[str, str], ...] = field(default=())
    """Further label/value pairs to show ("Target", "podinfo"); kept short."""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)} (got {self.severity!r})")

    @property
    def canary(self) -> str:
        """``name.namespace``, the way Flagger names a canary in messages."""
        return f"{self.name}.{self.namespace}"

    @property
    def icon(self) -> str:
        """An emoji for the severity (ℹ️, ⚠️, 🚨)."""
        return _ICONS[self.severity]

    def headline(self) -> str:
        """One plain line: "podinfo.test rolled back"."""
        return f"{self.canary} {self.title}"

    def facts(self) -> list[tuple[str, str]]:
        """Label/value pairs every message shows: canary, namespace, cluster, phase, weight, revision, extras."""
        pairs = [("Canary", self.name), ("Namespace", self.namespace)]
        if self.cluster:
            pairs.append(("Cluster", self.cluster))
        pairs += [("Phase", self.phase or "-"), ("Canary weight", f"{self.weight} %")]
        if self.revision:
            pairs.append(("Revision", self.revision))
        pairs += list(self.extra)
        return pairs

    def verdict_text(self) -> str | None:
        """The judge line, "Judge: fail: <reason>", or ``None`` without a verdict."""
        if not self.verdict:
            return None
        return f"Judge: {self.verdict}" + (f": {self.verdict_reason}" if self.verdict_reason else "")

    def plain_text(self) -> str:
        """The whole message as plain text (fallbacks, generic payloads)."""
        lines = [f"{self.headline()}: {self.reason}" if self.reason else self.headline()]
        lines.append(", ".join(f"{label}: {value}" for label, value in self.facts()))
        lines += [c.text() for c in self.checks]
        verdict = self.verdict_text()
        if verdict:
            lines.append(verdict)
        return "\n".join(lines)


class NotifierError(CanaryError):
    """A chat message could not be delivered (or the provider is misconfigured).

    ``message`` (also ``str(error)``) is safe to log and to put into a Kubernetes
    Event: it names the service and the failure but never the webhook address,
    the proxy or a token. ``status`` is the last HTTP status (``None`` when no
    response came), ``body`` the start of the last response body (redacted).
    """

    def __init__(self, message: str, *, service: str = "", status: int | None = None, body: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.status = status
        self.body = body


class UnknownNotifierTypeError(NotifierError):
    """An AlertProvider's ``spec.type`` names no chat service we can post to."""


@runtime_checkable
class Notifier(Protocol):
    """Posts notifications to one chat destination (one AlertProvider)."""

    @property
    def service(self) -> str:
        """The AlertProvider type this notifier posts to (``slack``, ...)."""
        ...

    async def post(self, notification: Notification) -> None:
        """Deliver one message; raises :class:`NotifierError` (never with the address in it) on failure."""
        ...
