"""Kubernetes Events on a Canary from the reconcile shell, and problems told once until they clear.

An Event is a side channel: failing to record one is logged and never stops
a rollout. A 429 or 5xx answer is retried a few times at once, within well
under a second (the API server's Retry-After when it asks for little), so a
passing hiccup loses nothing; the Events of a decision are also kept in the
outbox (:mod:`canary.operator.outbox`) until recorded. A problem that
repeats each tick (a route the mesh refuses, a change the API server
refuses) is a Warning once per distinct message, and told again only after
it cleared.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Literal

from canary.kube.api import ApiError, Conflict, JsonDict, KubeApi
from canary.kube.events import record_event
from canary.models import Canary
from canary.operator.ownership import object_of

__all__ = ["EVENT_ATTEMPTS", "EVENT_BACKOFF", "EVENT_MAX_RETRY_AFTER", "CanaryEvents"]

log = logging.getLogger(__name__)

EVENT_ATTEMPTS = 3
"""Attempts in all to record one Event while the API server answers 429 or 5xx."""
EVENT_BACKOFF = 0.1
"""First wait (seconds) between attempts, doubling: 0.1 + 0.2, so a tick waits 0.3 s at most for one Event."""
EVENT_MAX_RETRY_AFTER = 1.0
"""Longest Retry-After (seconds) waited for; a longer one ends the attempts (the outbox tries again later)."""


class CanaryEvents:
    """Records the Events of the Canaries one controller runs, and remembers which problems it told."""

    def __init__(
        self,
        api: KubeApi,
        clock: Callable[[], datetime],
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.api = api
        self.clock = clock
        self.sleep = sleep  # the wait between attempts (a test passes a recorder)
        # the last problem reported per (namespace, name, Event reason): each is told once, until it clears
        self._reported: dict[tuple[str, str, str], str] = {}

    async def event(self, canary: Canary, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        """Record an Event on the Canary."""
        await self.record(object_of(canary), type_, reason, message)

    async def record(self, obj: JsonDict, type_: str, reason: str, message: str) -> bool:
        """Record an Event on a raw object (a Canary that does not parse has no model); whether it was recorded."""
        try:
            await self.create(obj, type_, reason, message)
        except ApiError as error:  # a side channel: never stops the rollout
            log.warning("could not record event on %s: %s", obj["metadata"].get("name"), error)
            return False
        return True

    async def create(
        self,
        obj: JsonDict,
        type_: str,
        reason: str,
        message: str,
        *,
        suffix: str | None = None,
        when: datetime | None = None,
    ) -> None:
        """Record an Event, retrying a 429 or 5xx briefly; the last :class:`ApiError` when it was not recorded.

        ``suffix`` names the Event (see :func:`~canary.kube.events.event_body`):
        an Event of that name recorded already (an earlier attempt whose answer
        was lost, a delivery before a restart) counts as recorded. ``when``:
        the time it tells of (now by default).
        """
        for attempt in range(1, EVENT_ATTEMPTS + 1):
            try:
                await record_event(self.api, obj, type_, reason, message, when or self.clock(), suffix)
                return
            except Conflict as error:
                if suffix is not None and error.exists:
                    return
                raise
            except ApiError as error:
                wait = error.retry_after if error.retry_after is not None else EVENT_BACKOFF * 2 ** (attempt - 1)
                if not error.temporary or attempt == EVENT_ATTEMPTS or wait > EVENT_MAX_RETRY_AFTER:
                    raise
                await self.sleep(wait)

    async def warn_once(self, canary: Canary, reason: str, message: str) -> None:
        """A Warning Event for a problem that repeats each tick until it clears: once per distinct message."""
        key = (canary.namespace, canary.name, reason)
        if self._reported.get(key) != message:
            self._reported[key] = message
            await self.event(canary, "Warning", reason, message)
        log.warning("%s %s/%s: %s", reason, canary.namespace, canary.name, message)

    def cleared(self, canary: Canary, reason: str) -> None:
        """The problem reported under ``reason`` is gone: report it again if it comes back."""
        self._reported.pop((canary.namespace, canary.name, reason), None)

    def forget(self, canary: Canary) -> None:
        """Forget every problem told about the Canary (one created again under its name is a new one)."""
        self._reported = {k: v for k, v in self._reported.items() if k[:2] != (canary.namespace, canary.name)}
