"""What a tick tells: its Events, the event and post-rollout hooks, the chat alerts, as outbox entries.

The tick persists these entries with its decision (``status.outbox``) and
the outbox (:mod:`canary.operator.outbox`) delivers them: Events at once,
hooks and chat in the background, each at least once. This module only
decides what is told, in the order it was told before the outbox existed:
the Events (a manual request ignored, the gates' failures, the decision's
own, the checks' notices), then the event hooks, the chat alerts, the
post-rollout hooks and the alerts for failed test hooks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from canary.core import Decision, Phase, State
from canary.models import Canary, OutboxAlert, OutboxEntry, OutboxEvent, OutboxHook
from canary.notifiers import Notification
from canary.operator.alerts import Alerter
from canary.operator.checks import TickChecks
from canary.operator.outbox import queued_alert
from canary.operator.status import iso
from canary.operator.webhooks import HookResult

__all__ = ["SideChannels", "TickEvent", "entry_key"]

TickEvent = tuple[Literal["Normal", "Warning"], str, str]
"""A Kubernetes Event a tick records: type, reason, message."""


def entry_key(canary: Canary, state: State, now: datetime, position: int, kind: str, what: str) -> str:
    """The stable key of the ``position``-th entry a decision queued (16 hex digits).

    Derived from the decision (the Canary, the revision, the phase's
    transition time, the tick's time) and the entry (its place, kind and
    what it tells), so two entries never share one; it also names the
    entry's Kubernetes Event, which makes a second create of it harmless.
    """
    basis = "|".join(
        [
            canary.metadata.uid or f"{canary.namespace}/{canary.name}",
            state.last_applied_spec or "",
            iso(state.last_transition_time) or "",
            iso(now) or "",
            str(position),
            kind,
            what,
        ]
    )
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


_Told = tuple[str, str, OutboxEvent | OutboxAlert | OutboxHook]
"""An entry before it has a key: its kind, what it tells (for the key), and its body."""


def _entry(key: str, now: datetime, body: OutboxEvent | OutboxAlert | OutboxHook) -> OutboxEntry:
    if isinstance(body, OutboxEvent):
        return OutboxEntry(key=key, kind="event", queued=now, event=body)
    if isinstance(body, OutboxAlert):
        return OutboxEntry(key=key, kind="alert", queued=now, alert=body)
    return OutboxEntry(key=key, kind="hook", queued=now, hook=body)


class SideChannels:
    """Turns what a tick decided and found into the outbox entries that tell it."""

    def __init__(self, alerter: Alerter) -> None:
        self.alerter = alerter

    def entries(
        self,
        canary: Canary,
        previous: State,
        decision: Decision,
        measured: TickChecks | None,
        hook_results: Sequence[HookResult],
        events: Sequence[TickEvent],
        now: datetime,
    ) -> list[OutboxEntry]:
        """The entries of one tick: ``events`` first, then the hooks and chat messages of the decision.

        ``previous`` is the state the tick started from; ``hook_results`` are
        the tick's hook answers (a failed test hook is an alert, as in Flagger).
        """
        state = decision.state
        phase = state.phase.value
        revision = state.last_applied_spec
        told: list[_Told] = []
        for type_, reason, message in events:
            told.append(("event", reason, OutboxEvent(type=type_, reason=reason, message=message)))
        for event in decision.events:
            extra = {"eventMessage": event.message, "eventType": event.type, "timestamp": iso(now) or ""}
            told += self._hooks(canary, "event", phase, revision, extra)
        checks = measured.records if measured else ()
        judge = measured.judge_status if measured else None
        for notification in self.alerter.notifications(
            canary, decision.events, phase, state.canary_weight, checks, judge
        ):
            told += self._alerts(canary, notification)
        ended = state.phase in (Phase.SUCCEEDED, Phase.FAILED) and state.phase != previous.phase
        if ended and previous.phase != Phase.INITIALIZING:
            told += self._hooks(canary, "post-rollout", phase, revision, None)
        # Flagger alerts on a failed test hook unless the hook says muteAlert (gates only wait: no alert).
        for result in hook_results:
            if not result.ok and not result.muted and result.type in ("pre-rollout", "rollout"):
                text = self.alerter.text(canary, state, f"{result.type} webhook failed", "warn", result.reason)
                told += self._alerts(canary, text)
        return [
            _entry(entry_key(canary, state, now, position, kind, what), now, body)
            for position, (kind, what, body) in enumerate(told)
        ]

    @staticmethod
    def _hooks(
        canary: Canary,
        type_: Literal["event", "post-rollout"],
        phase: str,
        revision: str | None,
        extra: dict[str, str] | None,
    ) -> list[_Told]:
        """One call per hook of that type, in spec order."""
        told: list[_Told] = []
        for hook in canary.spec.analysis.webhooks:
            if hook.hook_type() == type_:
                call = OutboxHook(name=hook.name, type=type_, phase=phase, checksum=revision, metadata=extra)
                told.append(("hook", f"{type_}/{hook.name}", call))
        return told

    def _alerts(self, canary: Canary, notification: Notification) -> list[_Told]:
        """One message per alert the notification's severity reaches."""
        return [
            (
                "alert",
                f"{alert.name if alert else ''}/{notification.title}",
                queued_alert(alert.name if alert else None, notification),
            )
            for alert in self.alerter.targets(canary, notification.severity)
        ]
