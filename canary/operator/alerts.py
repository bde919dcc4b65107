"""Chat alerts for rollout events: which events are worth a message, to whom, sent on the side.

A decision's events become :class:`~canary.notifiers.Notification`s (new
revision, promotion, rollback, failed-checks threshold, gate waiting, progress
deadline); each of the Canary's ``analysis.alerts`` receives those its
severity filter admits, or the controller-wide default provider when the
Canary lists none. The outbox posts them in the background: a slow or
failing chat endpoint is logged and recorded as an Event, and never delays
or changes a rollout.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import httpx
from pydantic import ValidationError

from canary.core import Event, State
from canary.kube.api import ALERT_PROVIDERS, SECRETS, ApiError, KubeApi
from canary.models import AlertProvider, Canary, CanaryAlert, CanaryCheck, JudgeStatus
from canary.models.errors import field_path
from canary.notifiers import (
    DEADLINE_EXCEEDED,
    FAILED_CHECKS,
    NEW_REVISION,
    PROMOTED,
    PROMOTION_FORCED,
    ROLLED_BACK,
    WAITING_FOR_GATE,
    Notification,
    Notifier,
    NotifierError,
    check_lines,
    notifier_for,
    notifier_for_type,
    severity_allows,
)

__all__ = ["Alerter", "DefaultAlerts", "notification_for"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DefaultAlerts:
    """The controller-wide provider used when a Canary lists no alerts."""

    type: str
    address: str
    channel: str | None = None
    username: str | None = None


def notification_for(
    canary: Canary,
    event: Event,
    phase: str,
    weight: int,
    checks: Sequence[CanaryCheck] = (),
    judge: JudgeStatus | None = None,
) -> Notification | None:
    """The chat message for one decision event, or None when the event is not worth one.

    ``checks`` and ``judge`` are this tick's measurements (the last ones
    persisted when the tick measured nothing).
    """
    message = event.message
    if event.reason == "FailedChecks":
        title, severity = FAILED_CHECKS, "error"
    elif event.reason == "RolledBack":
        title, severity = ROLLED_BACK, "error"
    elif event.reason == "ProgressDeadlineExceeded":
        title, severity = DEADLINE_EXCEEDED, "error"
    elif event.reason == "Succeeded":
        title, severity = PROMOTED, "info"
    elif event.reason == "PromotionForced":
        title, severity = PROMOTION_FORCED, "warn"
    elif event.reason == "Progressing" and message.startswith(("new revision", "revision changed")):
        title, severity = NEW_REVISION, "info"
    elif event.reason in ("Waiting", "WaitingPromotion") and "gate" in message:
        title, severity = WAITING_FOR_GATE, "info"
    else:  # weight steps and halted steps are Events only, as in Flagger: chat hears of outcomes
        return None
    judge = judge if judge is not None else canary.status.judge
    verdict = judge.verdict if judge is not None else None
    return Notification(
        name=canary.name,
        namespace=canary.namespace,
        phase=phase,
        weight=weight,
        severity=severity,  # type: ignore[arg-type]
        title=title,
        reason=message,
        checks=check_lines(checks or canary.status.checks),
        verdict=verdict.outcome if verdict is not None else None,
        verdict_reason=verdict.reason if verdict is not None else None,
        revision=canary.status.lastAppliedSpec,
    )


class Alerter:
    """Resolves a Canary's alert targets, renders its notifications, and posts one to one target.

    When to post (in the background, retried, at least once) is the outbox's
    business (:mod:`canary.operator.outbox`); this class decides what a
    decision says in chat and to whom, and says why one post failed.
    ``client`` and ``sleep`` reach the notifiers' HTTP path (tests pass an
    ``httpx.MockTransport`` client and a recorder instead of sleeping).
    """

    def __init__(
        self,
        api: KubeApi,
        default: DefaultAlerts | None = None,
        *,
        client: httpx.AsyncClient | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.api = api
        self.default = default
        self.client = client
        self.sleep = sleep

    def targets(self, canary: Canary, severity: str) -> list[CanaryAlert | None]:
        """The alerts ``severity`` reaches (None: the controller's default provider, for Canaries with none)."""
        alerts = canary.spec.analysis.alerts
        if not alerts:
            return [] if self.default is None else [None]
        return [alert for alert in alerts if severity_allows(alert.severity, severity)]

    def target(self, canary: Canary, name: str | None) -> CanaryAlert | Literal[False] | None:
        """The alert a queued message was for, by name (None: the default provider); False when it is gone."""
        if name is None:
            return None if self.default is not None and not canary.spec.analysis.alerts else False
        return next((alert for alert in canary.spec.analysis.alerts if alert.name == name), False)

    async def _notifier(self, canary: Canary, alert: CanaryAlert | None) -> Notifier:
        """The notifier of one alert (its AlertProvider and Secret read now); NotifierError naming what is wrong."""
        seams: dict[str, Any] = {"client": self.client, "sleep": self.sleep}
        if alert is None:
            assert self.default is not None
            d = self.default
            return notifier_for_type(d.type, d.address, channel=d.channel, username=d.username, **seams)
        namespace = alert.providerRef.namespace or canary.namespace
        where = f"alert {alert.name}: AlertProvider {namespace}/{alert.providerRef.name}"
        try:
            body = await self.api.get(ALERT_PROVIDERS, namespace, alert.providerRef.name)
        except ApiError as error:
            raise NotifierError(f"{where} cannot be read: {error}") from None
        if body is None:
            raise NotifierError(f"{where} not found")
        try:
            provider = AlertProvider.model_validate(body)
        except ValidationError as error:  # (no input values: an address may be a secret)
            problems = "; ".join(f"{field_path(d['loc'])}: {d['msg']}" for d in error.errors(include_url=False))
            raise NotifierError(f"{where} is invalid: {problems}") from None
        address, proxy, token = provider.spec.address or "", None, None
        if provider.spec.secretRef is not None:
            secret_name = f"Secret {namespace}/{provider.spec.secretRef.name}"
            try:
                secret = await self.api.get(SECRETS, namespace, provider.spec.secretRef.name)
            except ApiError as error:
                raise NotifierError(f"{where}: {secret_name} cannot be read: {error}") from None
            if secret is None:
                raise NotifierError(f"{where}: {secret_name} not found")
            try:
                data = {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}
            except (ValueError, TypeError):  # binascii.Error and UnicodeDecodeError are ValueErrors
                raise NotifierError(f"{where}: {secret_name} holds a value that is not base64 text") from None
            # (a trailing newline is the usual leftover of `echo ... | base64`: not part of the address)
            address, proxy, token = (
                data.get("address", address).strip(),
                (data.get("proxy") or "").strip() or None,
                (data.get("token") or "").strip() or None,
            )
        if not address:
            raise NotifierError(f"alert {alert.name}: no address in AlertProvider {namespace}/{provider.metadata.name}")
        return notifier_for(provider, address, proxy=proxy, token=token, **seams)

    async def post(self, canary: Canary, alert: CanaryAlert | None, notification: Notification) -> str | None:
        """Post one notification to one alert; None when it was delivered, else why not (never the address)."""
        try:
            await (await self._notifier(canary, alert)).post(notification)
        except NotifierError as error:  # its message never holds the webhook address
            message = error.message
        except Exception as error:  # anything else: only its kind, its text may hold the address
            message = f"alert {alert.name if alert else 'default'}: {type(error).__name__}"
        else:
            return None
        log.warning("alert for %s/%s failed: %s", canary.namespace, canary.name, message)
        return message

    def notifications(
        self,
        canary: Canary,
        events: Sequence[Event],
        phase: str,
        weight: int,
        checks: Sequence[CanaryCheck] = (),
        judge: JudgeStatus | None = None,
    ) -> list[Notification]:
        """The notifications for a decision's events (those worth a message)."""
        found = (notification_for(canary, event, phase, weight, checks, judge) for event in events)
        return [notification for notification in found if notification is not None]

    def text(self, canary: Canary, state: State, title: str, severity: str, reason: str) -> Notification:
        """One notification that no decision event carries (a failed webhook)."""
        return Notification(
            name=canary.name,
            namespace=canary.namespace,
            phase=state.phase.value,
            weight=state.canary_weight,
            severity=severity,  # type: ignore[arg-type]
            title=title,
            reason=reason,
            revision=state.last_applied_spec,
        )
