"""The outbox: what a decision tells, persisted with it, delivered at least once.

A tick's Events, chat messages and notice webhooks (event, post-rollout)
are entries of ``status.outbox`` (:class:`~canary.models.OutboxEntry`),
written in the same status patch as the decision they tell of. So whatever
fails after that write (the process is killed, converging raises a
temporary API error, the Event create answers 5xx) the next tick still
finds them, and delivers them:

- at the start of every tick, right after the Canary is parsed: whatever an
  earlier tick left undelivered, before this tick can fail on anything else;
- at the end of the tick that queued them (after the world converged, so a
  rollback reaches traffic before it is announced); when converging raises
  a temporary API error, before that error leaves the tick.

Kubernetes Events are recorded in the tick, in order, each retried briefly
on 429/5xx (:class:`~canary.operator.events.CanaryEvents`); one the API
server still refuses is kept, and the Events after it wait with it, until a
later tick records it (given up after :data:`EVENT_TTL`, or at once when
refused for good). Chat messages and hooks run as background tasks that
never hold a tick; one that fails is reported once (``AlertFailed``,
``WebhookFailed``) and tried again each tick until it succeeds or
:data:`SIDE_CHANNEL_TTL` has passed since it was queued.

A delivered (or given up) entry is remembered here and removed from status
by the next status write of the Canary (a removal-only patch when the tick
writes nothing else). That memory is a cache: after a restart an entry
still in status is delivered again. The bound: an entry delivered between
the last status write and a crash is delivered once more. An Event is
named after its key, so its second create is refused as AlreadyExists and
it is recorded once even then; a chat message or hook call is repeated.
An idle Canary with an empty outbox costs no request at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from canary.kube.api import ApiError
from canary.models import Canary, OutboxAlert, OutboxCheck, OutboxEntry
from canary.notifiers import CheckLine, Notification
from canary.operator.alerts import Alerter
from canary.operator.events import CanaryEvents
from canary.operator.ownership import object_of
from canary.operator.webhooks import WebhookCaller

__all__ = ["EVENT_TTL", "MAX_ENTRIES", "SIDE_CHANNEL_TTL", "Outbox", "notification_of", "queued_alert"]

log = logging.getLogger(__name__)

SIDE_CHANNEL_TTL = timedelta(minutes=10)
"""A chat message or hook call that keeps failing is given up this long after it was queued."""
EVENT_TTL = timedelta(hours=1)
"""A Kubernetes Event the API server keeps refusing is given up this long after it was queued
(the API server itself forgets Events after an hour by default)."""
MAX_ENTRIES = 100
"""Entries kept in status at most; the oldest beyond that are given up (status must stay small)."""
_FORGET_AFTER = SIDE_CHANNEL_TTL
"""How long after it was settled a key is remembered once status no longer lists it (a lagging body may)."""


# What a queued chat message keeps of its Notification under the same name (name and namespace are the Canary's).
_KEPT = ("title", "severity", "reason", "phase", "weight", "revision", "verdict")


def _queued_check(line: CheckLine) -> OutboxCheck:
    """A message's check line as the outbox keeps it (field by field: a new field must be mapped, not lost)."""
    return OutboxCheck(
        name=line.name,
        outcome=line.outcome,
        value=line.value,
        min=line.min,
        max=line.max,
        unit=line.unit or None,
        dryRun=line.dry_run,
    )


def _check_line(check: OutboxCheck) -> CheckLine:
    """:func:`_queued_check` the other way."""
    return CheckLine(
        name=check.name,
        value=check.value,
        outcome=check.outcome,
        min=check.min,
        max=check.max,
        unit=check.unit or "",
        dry_run=check.dryRun,
    )


def queued_alert(target: str | None, notification: Notification) -> OutboxAlert:
    """A chat message as the outbox keeps it, for the alert named ``target`` (None: the default provider)."""
    return OutboxAlert(
        target=target,
        checks=[_queued_check(c) for c in notification.checks],
        verdictReason=notification.verdict_reason,
        **{field: getattr(notification, field) for field in _KEPT},
    )


def notification_of(canary: Canary, alert: OutboxAlert) -> Notification:
    """The chat message a queued alert holds (:func:`queued_alert` the other way)."""
    return Notification(
        name=canary.name,
        namespace=canary.namespace,
        checks=tuple(_check_line(c) for c in alert.checks),
        verdict_reason=alert.verdictReason,
        **{field: getattr(alert, field) for field in _KEPT},
    )


class Outbox:
    """Delivers the outbox entries of the Canaries one controller runs, and remembers which are settled."""

    def __init__(
        self, events: CanaryEvents, alerter: Alerter, hooks: WebhookCaller, clock: Callable[[], datetime]
    ) -> None:
        self.events = events
        self.alerter = alerter
        self.hooks = hooks
        self.clock = clock
        # per Canary: the keys delivered or given up, not yet seen gone from status (key -> when settled)
        self._settled: dict[str, dict[str, datetime]] = {}
        self._reported: dict[str, set[str]] = {}  # per Canary: the keys whose failure was reported
        self._flight: set[tuple[str, str]] = set()  # (Canary, key) being delivered in the background
        self._tasks: set[asyncio.Task[Any]] = set()

    @staticmethod
    def _owner(canary: Canary) -> str:
        return canary.metadata.uid or f"{canary.namespace}/{canary.name}"

    def _open(self, owner: str, entry: OutboxEntry) -> bool:
        """Whether the entry still wants delivering (neither settled nor under way)."""
        return entry.key not in self._settled.get(owner, {}) and (owner, entry.key) not in self._flight

    def _settle(self, owner: str, entry: OutboxEntry) -> None:
        self._settled.setdefault(owner, {})[entry.key] = self.clock()

    def after(self, canary: Canary, queued: Sequence[OutboxEntry]) -> list[OutboxEntry] | None:
        """What ``status.outbox`` holds after this tick's write: the unsettled entries, then ``queued``.

        None when that is what status holds already (nothing to write).
        """
        owner = self._owner(canary)
        settled = self._settled.get(owner, {})
        kept = [e for e in canary.status.outbox if e.key not in settled]
        known = {e.key for e in kept}
        kept += [e for e in queued if e.key not in known]
        if len(kept) > MAX_ENTRIES:
            for entry in kept[:-MAX_ENTRIES]:
                log.warning(
                    "outbox of %s/%s full: giving up %s %s", canary.namespace, canary.name, entry.kind, entry.key
                )
            kept = kept[-MAX_ENTRIES:]
        if [e.key for e in kept] == [e.key for e in canary.status.outbox]:
            return None
        return kept

    async def deliver_pending(self, canary: Canary) -> None:
        """The start of a tick: deliver what earlier ticks left in status (nothing to do, no request)."""
        self._forget_removed(canary)
        if canary.status.outbox:
            await self.deliver(canary, canary.status.outbox)

    def _forget_removed(self, canary: Canary) -> None:
        """Forget the settled keys status no longer lists (after a while: a lagging body may list them still)."""
        owner = self._owner(canary)
        if owner not in self._settled and owner not in self._reported:
            return
        settled = self._settled.get(owner, {})
        listed = {e.key for e in canary.status.outbox}
        now = self.clock()
        for key, when in list(settled.items()):
            if key not in listed and now - when >= _FORGET_AFTER:
                del settled[key]
        reported = self._reported.get(owner, set())
        reported &= listed | set(settled)
        if not settled:
            self._settled.pop(owner, None)
        if not reported:
            self._reported.pop(owner, None)

    async def deliver(self, canary: Canary, entries: Iterable[OutboxEntry]) -> None:
        """Record the Events now, in order, and start the chat messages and hook calls in the background.

        An Event the API server refuses for now stops the Events after it
        (they keep their order, and wait in status with it).
        """
        owner = self._owner(canary)
        events_wait = False
        hooks: list[OutboxEntry] = []
        for entry in entries:
            if not self._open(owner, entry):
                continue
            if entry.kind == "event":
                events_wait = events_wait or not await self._record(owner, canary, entry)
            elif entry.kind == "alert":
                self._background(owner, [entry], self._post(owner, canary, entry))
            else:
                hooks.append(entry)
        if hooks:  # one after the other, in spec order, as Flagger calls them
            self._background(owner, hooks, self._call(owner, canary, hooks))

    async def _record(self, owner: str, canary: Canary, entry: OutboxEntry) -> bool:
        """Record one Event; False when the API server refused it for now (it stays in the outbox)."""
        event = entry.event
        assert event is not None
        try:
            await self.events.create(
                object_of(canary), event.type, event.reason, event.message, suffix=entry.key, when=entry.queued
            )
        except ApiError as error:
            where = f"{canary.namespace}/{canary.name}"
            if error.temporary and self.clock() - entry.queued < EVENT_TTL:
                log.warning("event %s on %s not recorded yet, kept for the next tick: %s", event.reason, where, error)
                return False
            log.warning("event %s on %s given up: %s", event.reason, where, error)
        self._settle(owner, entry)
        return True

    def _background(self, owner: str, entries: Sequence[OutboxEntry], work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` as a task the tick does not wait for; its entries are under way until it ends."""
        flight = {(owner, e.key) for e in entries}
        self._flight |= flight

        async def run() -> None:
            try:
                await work
            except Exception:  # a bug here must not leave the entries stuck under way, nor kill the loop quietly
                log.exception("delivering the outbox of %s failed", owner)
            finally:
                self._flight -= flight

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _post(self, owner: str, canary: Canary, entry: OutboxEntry) -> None:
        """Post one chat message; a failure is reported once, and tried again until it is too old."""
        alert = entry.alert
        assert alert is not None
        target = self.alerter.target(canary, alert.target)
        if target is False:  # the alert (or the default provider) is gone from the spec: no one to tell
            self._settle(owner, entry)
            return
        failure = await self.alerter.post(canary, target, notification_of(canary, alert))
        await self._done(owner, canary, entry, None if failure is None else f"chat notification failed: {failure}")

    async def _call(self, owner: str, canary: Canary, entries: Sequence[OutboxEntry]) -> None:
        """Call the queued hooks one by one; each failure is reported once, and tried again until too old."""
        for entry in entries:
            try:
                queued = entry.hook
                assert queued is not None
                hook = next(
                    (
                        h
                        for h in canary.spec.analysis.webhooks
                        if h.name == queued.name and h.hook_type() == queued.type
                    ),
                    None,
                )
                if hook is None:  # gone from the spec: nothing to call
                    self._settle(owner, entry)
                    continue
                result = await self.hooks.call(canary, hook, queued.phase, queued.metadata, queued.checksum)
                await self._done(owner, canary, entry, None if result.ok else result.reason, "WebhookFailed")
            finally:
                self._flight.discard((owner, entry.key))

    async def _done(
        self, owner: str, canary: Canary, entry: OutboxEntry, failure: str | None, reason: str = "AlertFailed"
    ) -> None:
        """Settle a delivered entry; report a failed one once, and give it up once it is too old."""
        if failure is None:
            self._settle(owner, entry)
            return
        reported = self._reported.setdefault(owner, set())
        if entry.key not in reported:
            reported.add(entry.key)
            await self.events.event(canary, "Warning", reason, failure)
        if self.clock() - entry.queued >= SIDE_CHANNEL_TTL:
            log.warning("%s %s of %s/%s given up: %s", entry.kind, entry.key, canary.namespace, canary.name, failure)
            self._settle(owner, entry)

    async def drain(self) -> None:
        """Wait for the deliveries in flight (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    def forget(self, canary: Canary) -> None:
        """Forget the Canary (deleted: one created again under its name is a new one)."""
        owner = self._owner(canary)
        self._settled.pop(owner, None)
        self._reported.pop(owner, None)
