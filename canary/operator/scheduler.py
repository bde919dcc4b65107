"""The controller's scheduler: ticks each Canary when it is due or when something it depends on changed.

It replaces a fixed per-Canary poll. kopf's watch events (see
:mod:`canary.operator.handlers`) feed :meth:`Scheduler.observe`: a Canary,
or a Deployment a Canary names (its target or primary), changed; the object
goes into the :class:`~canary.kube.cache.WatchCache` the ticks read from, and
the Canaries it concerns are due at once. After each tick the Canary is due
again when :func:`~canary.operator.schedule.next_due` says, from the status
the tick left; at the latest after ``resync`` (the safety net that a missed
watch event cannot strand a Canary). Ticks of one Canary never overlap.

When ticks start late (more are due than the API budget and the event loop
can serve), the scheduler says so: ``canary_tick_lag_seconds`` and
``canary_controller_saturated`` on /metrics, and a warning in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from pydantic import ValidationError

from canary.kube.api import CANARIES, DEPLOYMENTS, ApiError, JsonDict
from canary.kube.cache import WatchCache
from canary.models import Canary, primary_deployment_name
from canary.operator.schedule import STEADY_PHASES, DueQueue, Timing, next_due
from canary.operator.status import plan_from, state_from

__all__ = ["CALM", "SATURATION_LOG_EVERY", "Scheduler", "SchedulerSettings", "spread", "timing_of"]

log = logging.getLogger(__name__)

CanaryKey = tuple[str, str]  # (namespace, name)

#: At most one "saturated" warning in the log per this many seconds.
SATURATION_LOG_EVERY = 60.0
#: Saturated until ticks have run on time (and requests have not waited for the budget) this long.
CALM = 30.0


def spread(uid: str, period: float) -> float:
    """A stable offset within the period, so Canaries do not all tick at once after a restart."""
    digest = int(hashlib.sha256(uid.encode()).hexdigest()[:8], 16)
    return (digest % 1000) / 1000.0 * period


def timing_of(body: JsonDict, min_interval: float) -> Timing:
    """What decides when the Canary ``body`` is next due (an invalid one waits for an edit)."""
    try:
        canary = Canary.from_kube(body)
    except (ValidationError, ValueError, KeyError):
        return Timing(phase=None, valid=False)
    plan, state = plan_from(canary, min_interval), state_from(canary)
    webhooks = bool(canary.spec.analysis and canary.spec.analysis.webhooks)
    return Timing(
        phase=state.phase.value,
        last_analysis=state.last_analysis_time,
        interval=plan.interval,
        suspended=plan.suspend,
        webhooks=webhooks,
    )


@dataclass(frozen=True)
class SchedulerSettings:
    """How often Canaries are reconciled without a change, and when the scheduler counts as saturated."""

    tick: float = 5.0  # the poll of short-lived phases, and the retry delay after a failed tick
    resync: float = 300.0  # every Canary is reconciled at least this often, whatever happens
    concurrency: int = 64  # ticks running at once
    min_interval: float = 10.0
    late: float = 1.0  # a due tick starting later than this (seconds) means the controller is saturated
    startup_spread: float = 120.0  # first ticks of Canaries waiting for a change are spread over this


@dataclass
class _Entry:
    """One Canary the scheduler knows: its latest body, the Deployments it names, whether it is ticking."""

    body: JsonDict
    deployments: tuple[str, ...]
    running: bool = False
    woken: bool = False  # a change arrived while it was ticking: tick again right after


@dataclass
class Scheduler:
    """Runs ``tick(body)`` for each Canary when due; fed by :meth:`observe` with watch events."""

    tick: Callable[[JsonDict], Awaitable[object]]
    cache: WatchCache
    settings: SchedulerSettings = field(default_factory=SchedulerSettings)
    on_lag: Callable[[float], None] | None = None  # each tick's lag (for /metrics)
    on_saturated: Callable[[bool], None] | None = None
    throttled: Callable[[], float] | None = None  # seconds spent waiting for the API budget so far
    clock: Callable[[], float] = time.monotonic
    _queue: DueQueue[CanaryKey] = field(default_factory=DueQueue)
    _canaries: dict[CanaryKey, _Entry] = field(default_factory=dict)
    _by_deployment: dict[tuple[str, str], set[CanaryKey]] = field(default_factory=dict)
    _changed: asyncio.Event = field(default_factory=asyncio.Event)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _gate: asyncio.Semaphore | None = None
    beat: float = field(default_factory=time.monotonic)  # last pass of the loop (liveness)
    _late_since_log: int = 0
    _logged: float = 0.0
    _throttled_seen: float = 0.0
    _pressed: float = 0.0  # when ticks last ran late or requests waited for the budget
    saturated: bool = False

    # ------------------------------------------------------------------ watch events

    def observe(self, kind: str, body: JsonDict, deleted: bool = False, listed: bool = False) -> None:
        """A watch event: ``kind`` is "canary" or "deployment"; wake the Canaries it concerns.

        ``listed``: the object comes from the watch's initial listing (a start or a re-list), not from a
        change: it fills the cache without waking anyone (each Canary's first tick is spread instead).
        """
        meta = body.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or ""), str(meta.get("name") or "")
        if kind == "canary":
            self._observe_canary((namespace, name), body, deleted)
            return
        if (namespace, name) not in self._by_deployment:
            return  # no Canary names it: not kept (a Canary naming it later reads it once from the API)
        if deleted:
            self.cache.drop(DEPLOYMENTS, namespace, name)
            news = True
        else:
            news = self.cache.store(DEPLOYMENTS, body)
        if news and not listed:
            for key in self._by_deployment.get((namespace, name), ()):
                self._wake(key)

    def _observe_canary(self, key: CanaryKey, body: JsonDict, deleted: bool) -> None:
        if deleted:
            self.forget(key)
            return
        news = self.cache.store(CANARIES, body)
        entry = self._canaries.get(key)
        target = ((body.get("spec") or {}).get("targetRef") or {}).get("name")
        deployments = (str(target), primary_deployment_name(str(target))) if target else ()
        if entry is None:
            self._canaries[key] = _Entry(body, deployments)
            self._index(key, deployments)
            uid = str((body.get("metadata") or {}).get("uid") or f"{key[0]}/{key[1]}")
            # First sight (a start, or a new Canary): catch up on what changed while nobody watched, spread
            # so that a start does not spend the API budget at once; over a tick, as the fixed timer did,
            # or, for a Canary that waits for a change, over the (longer) startup spread.
            waits = timing_of(body, self.settings.min_interval).phase in STEADY_PHASES
            period = (
                max(self.settings.tick, min(self.settings.startup_spread, self.settings.resync))
                if waits
                else self.settings.tick
            )
            self._queue.schedule(key, self.clock() + spread(uid, period), earlier_only=True)
            self._changed.set()
            return
        if deployments != entry.deployments:
            self._unindex(key, entry.deployments)
            self._index(key, deployments)
            entry.deployments = deployments
        if news:
            entry.body = body
            self._wake(key)

    def forget(self, key: CanaryKey) -> None:
        """A Canary is gone: no more ticks."""
        entry = self._canaries.pop(key, None)
        if entry is not None:
            self._unindex(key, entry.deployments)
        self._queue.remove(key)
        self.cache.drop(CANARIES, key[0], key[1])

    def _index(self, key: CanaryKey, deployments: tuple[str, ...]) -> None:
        for name in deployments:
            self._by_deployment.setdefault((key[0], name), set()).add(key)

    def _unindex(self, key: CanaryKey, deployments: tuple[str, ...]) -> None:
        for name in deployments:
            keys = self._by_deployment.get((key[0], name))
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_deployment[(key[0], name)]
                    self.cache.drop(DEPLOYMENTS, key[0], name)  # (no longer watched for anyone: may go stale)

    def _wake(self, key: CanaryKey) -> None:
        entry = self._canaries.get(key)
        if entry is None:
            return
        if entry.running:
            entry.woken = True
            return
        self._queue.schedule(key, self.clock(), earlier_only=True)
        self._changed.set()

    # ------------------------------------------------------------------ the loop

    async def run(self) -> None:
        """Tick Canaries as they fall due, until cancelled."""
        self._gate = asyncio.Semaphore(self.settings.concurrency)
        try:
            while True:
                now = self.clock()
                self.beat = now
                for key, due in self._queue.pop_due(now):
                    task = asyncio.create_task(self._run_one(key, due), name=f"tick {key[0]}/{key[1]}")
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
                self._check_throttle()
                self._changed.clear()
                upcoming = self._queue.next_at()
                wait = 10.0 if upcoming is None else min(10.0, max(0.0, upcoming - self.clock()))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._changed.wait(), timeout=wait)
        finally:
            for task in list(self._tasks):
                task.cancel()
            for task in list(self._tasks):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _run_one(self, key: CanaryKey, due: float) -> None:
        entry = self._canaries.get(key)
        if entry is None:
            return
        assert self._gate is not None
        async with self._gate:
            entry = self._canaries.get(key)
            if entry is None or entry.running:
                return
            self._observe_lag(self.clock() - due)
            entry.running, entry.woken = True, False
            delay: float | None = None
            phase: object = None
            try:
                body = self.cache.lookup(CANARIES, key[0], key[1]) or entry.body
                phase = (body.get("status") or {}).get("phase")
                if (body.get("metadata") or {}).get("deletionTimestamp"):
                    return  # the finalizer handles it from here
                await self.tick(dict(body))
            except asyncio.CancelledError:
                raise
            except ApiError as error:
                delay = self.settings.tick
                if not error.retryable:
                    log.warning("reconciling Canary %s/%s failed: %s", key[0], key[1], error)
            except Exception:
                delay = self.settings.tick
                log.exception("reconciling Canary %s/%s failed", key[0], key[1])
            finally:
                entry.running = False
            if key not in self._canaries:
                return
            body = self.cache.lookup(CANARIES, key[0], key[1]) or entry.body
            if delay is None:
                timing = timing_of(body, self.settings.min_interval)
                moved = timing.phase != phase
                delay = next_due(timing, datetime.now(UTC), self.settings.tick, self.settings.resync, moved)
            if entry.woken:
                delay = 0.0
            self._queue.schedule(key, self.clock() + delay)
            self._changed.set()

    # ------------------------------------------------------------------ saturation

    def _observe_lag(self, lag: float) -> None:
        if self.on_lag is not None:
            self.on_lag(max(0.0, lag))
        if lag > self.settings.late:
            self._late_since_log += 1
            self._saturate(True, f"reconcile ticks start up to {lag:.1f}s after they are due")

    def _calm(self) -> None:
        """No late tick and no wait for the API budget for a while: no longer saturated."""
        if self.saturated and self.clock() - self._pressed >= CALM:
            self._saturate(False, "")

    def _check_throttle(self) -> None:
        if self.throttled is None:
            self._calm()
            return
        total = self.throttled()
        waited, self._throttled_seen = total - self._throttled_seen, total
        if waited > self.settings.late:
            self._saturate(True, f"API requests waited {waited:.1f}s for the request budget (--qps/--burst)")
        self._calm()

    def _saturate(self, on: bool, why: str) -> None:
        now = self.clock()
        if on:
            self._pressed = now
        if on != self.saturated and self.on_saturated is not None:
            self.on_saturated(on)
        if on != self.saturated and not on:
            log.info("controller no longer saturated: ticks on time for %gs", CALM)
        self.saturated = on
        if on and now - self._logged >= SATURATION_LOG_EVERY:
            self._logged = now
            log.warning(
                "controller saturated: %s (%d late ticks since the last warning; %d Canaries): raise --qps/--burst "
                "or give the controller more CPU",
                why,
                self._late_since_log,
                len(self._canaries),
            )
            self._late_since_log = 0

    def healthy(self, within: float) -> bool:
        """Whether the scheduling loop ran within ``within`` seconds (it passes at least every 10 s)."""
        return self.clock() - self.beat <= within
