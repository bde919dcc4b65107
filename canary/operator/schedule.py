"""When each Canary's next reconcile tick is due: the pure part of the controller's scheduler.

A Canary that waits for nothing but a change (initialized, succeeded,
failed, suspended) is due only at the slow safety resync: what would make it
move (a new revision of its target, an edit of the Canary, a readiness
change) arrives as a watch event and wakes it at once. A Canary in an
analysis is due when its next analysis interval has passed (from
``status.lastAnalysisTime``); one in a short-lived phase (initializing,
promoting, finalising, waiting on a gate webhook) keeps the fixed ``tick``
as before. :class:`DueQueue` keeps the due times; it reads no clock (every
method takes ``now``), so the tests need no sleeps. The asynchronous runner
around it is :mod:`canary.operator.scheduler`.
"""

from __future__ import annotations

import heapq
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

__all__ = ["ANALYSING_PHASES", "STEADY_PHASES", "DueQueue", "Timing", "next_due"]

#: Phases that wait for a change (a watch event wakes them), not for time.
STEADY_PHASES = frozenset({"Initialized", "Succeeded", "Failed"})
#: Phases whose ticks run the analysis, once per interval.
ANALYSING_PHASES = frozenset({"Progressing", "WaitingPromotion"})

#: Past the analysis interval by this much, so a tick does not land a hair early and find it not yet due.
SLACK = 0.05


@dataclass(frozen=True)
class Timing:
    """What of a Canary's spec and status decides when it is next due."""

    phase: str | None
    last_analysis: datetime | None = None
    interval: float = 60.0
    suspended: bool = False
    webhooks: bool = False  # gate webhooks are polled every tick while a rollout is in flight
    valid: bool = True  # False: refused or unparseable; only an edit can change that


def next_due(timing: Timing, now: datetime, tick: float, resync: float, moved: bool = False) -> float:
    """Seconds from ``now`` until the Canary should be reconciled next (at most ``resync``).

    ``moved``: the tick that just ended changed the phase; the next step of a short-lived phase may be
    possible at once (nothing outside may change to wake it), so it is due now.
    """
    if not timing.valid or timing.suspended or timing.phase in STEADY_PHASES:
        return resync
    if moved:
        return 0.0
    if timing.phase in ANALYSING_PHASES and timing.last_analysis is not None and not timing.webhooks:
        wait = (timing.last_analysis - now).total_seconds() + timing.interval + SLACK
        # (at least a tick's worth of sleep is never needed: an analysis is due by its own clock; but check the
        # progress deadline and readiness at least every interval)
        return min(max(wait, 0.0), max(timing.interval, tick), resync)
    return min(tick, resync)


K = TypeVar("K", bound=Hashable)


@dataclass
class DueQueue(Generic[K]):
    """Due times (any monotonic clock) of keys; each key is due once, at its earliest requested time."""

    _heap: list[tuple[float, int, K]] = field(default_factory=list)
    _due: dict[K, float] = field(default_factory=dict)
    _counter: int = 0

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def due_at(self, key: K) -> float | None:
        """When ``key`` is due, None if it is not scheduled."""
        return self._due.get(key)

    def schedule(self, key: K, at: float, *, earlier_only: bool = False) -> None:
        """Make ``key`` due at ``at``; with ``earlier_only`` a later time does not postpone an earlier one."""
        current = self._due.get(key)
        if current is not None and (current == at or (earlier_only and current <= at)):
            return
        self._due[key] = at
        self._counter += 1
        heapq.heappush(self._heap, (at, self._counter, key))

    def remove(self, key: K) -> None:
        """Forget ``key`` (its heap entry is dropped lazily)."""
        self._due.pop(key, None)

    def pop_due(self, now: float) -> list[tuple[K, float]]:
        """Take every key due at or before ``now``, earliest first, with the time each was due."""
        taken: list[tuple[K, float]] = []
        while self._heap and self._heap[0][0] <= now:
            at, _, key = heapq.heappop(self._heap)
            if self._due.get(key) == at:
                del self._due[key]
                taken.append((key, at))
        return taken

    def next_at(self) -> float | None:
        """The earliest due time, None when nothing is scheduled."""
        while self._heap and self._due.get(self._heap[0][2]) != self._heap[0][0]:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None
