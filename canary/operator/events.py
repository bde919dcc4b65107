"""Kubernetes Events on a Canary from the reconcile shell, and problems told once until they clear.

An Event is a side channel: failing to record one is logged and never stops
a rollout. A problem that repeats each tick (a route the mesh refuses, a
change the API server refuses) is a Warning once per distinct message, and
told again only after it cleared.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Literal

from canary.kube.api import ApiError, JsonDict, KubeApi
from canary.kube.events import record_event
from canary.models import Canary
from canary.operator.ownership import object_of

__all__ = ["CanaryEvents"]

log = logging.getLogger(__name__)


class CanaryEvents:
    """Records the Events of the Canaries one controller runs, and remembers which problems it told."""

    def __init__(self, api: KubeApi, clock: Callable[[], datetime]) -> None:
        self.api = api
        self.clock = clock
        # the last problem reported per (namespace, name, Event reason): each is told once, until it clears
        self._reported: dict[tuple[str, str, str], str] = {}

    async def event(self, canary: Canary, type_: Literal["Normal", "Warning"], reason: str, message: str) -> None:
        """Record an Event on the Canary."""
        await self.record(object_of(canary), type_, reason, message)

    async def record(self, obj: JsonDict, type_: str, reason: str, message: str) -> None:
        """Record an Event on a raw object (a Canary that does not parse has no model)."""
        try:
            await record_event(self.api, obj, type_, reason, message, self.clock())
        except ApiError as error:  # a side channel: never stops the rollout
            log.warning("could not record event on %s: %s", obj["metadata"].get("name"), error)

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
