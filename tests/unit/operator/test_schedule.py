"""When a Canary is due (canary.operator.schedule), the due queue, and the watch cache the ticks read from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from canary.kube.api import CANARIES, DEPLOYMENTS, SERVICES, JsonDict, Resource
from canary.kube.cache import CachedApi, WatchCache, newer
from canary.kube.memory import MemoryApi
from canary.operator.schedule import SLACK, DueQueue, Timing, next_due
from canary.operator.scheduler import CALM, Scheduler, SchedulerSettings, timing_of

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
TICK, RESYNC = 5.0, 300.0


@pytest.mark.parametrize("phase", ["Initialized", "Succeeded", "Failed"])
def test_a_canary_that_waits_for_a_change_is_due_only_at_the_resync(phase: str) -> None:
    assert next_due(Timing(phase=phase), NOW, TICK, RESYNC) == RESYNC


def test_suspended_and_invalid_canaries_wait_for_an_edit() -> None:
    assert next_due(Timing(phase="Progressing", suspended=True), NOW, TICK, RESYNC) == RESYNC
    assert next_due(Timing(phase=None, valid=False), NOW, TICK, RESYNC) == RESYNC


@pytest.mark.parametrize("phase", [None, "Initializing", "Promoting", "Finalising", "Waiting"])
def test_short_lived_phases_keep_the_tick(phase: str | None) -> None:
    assert next_due(Timing(phase=phase), NOW, TICK, RESYNC) == TICK


def test_a_tick_that_moved_the_phase_is_followed_by_one_at_once_unless_steady() -> None:
    assert next_due(Timing(phase="Promoting"), NOW, TICK, RESYNC, moved=True) == 0.0
    assert next_due(Timing(phase="Succeeded"), NOW, TICK, RESYNC, moved=True) == RESYNC


def test_an_analysis_is_due_one_interval_after_the_last() -> None:
    timing = Timing(phase="Progressing", last_analysis=NOW - timedelta(seconds=20), interval=60)
    assert next_due(timing, NOW, TICK, RESYNC) == pytest.approx(40 + SLACK)


def test_an_overdue_analysis_is_due_now() -> None:
    timing = Timing(phase="WaitingPromotion", last_analysis=NOW - timedelta(seconds=90), interval=60)
    assert next_due(timing, NOW, TICK, RESYNC) == 0.0


def test_an_analysis_stamped_in_the_future_waits_at_most_an_interval() -> None:
    timing = Timing(phase="Progressing", last_analysis=NOW + timedelta(hours=1), interval=60)
    assert next_due(timing, NOW, TICK, RESYNC) == 60


def test_an_analysis_with_gate_webhooks_polls_them_every_tick() -> None:
    timing = Timing(phase="Progressing", last_analysis=NOW, interval=60, webhooks=True)
    assert next_due(timing, NOW, TICK, RESYNC) == TICK


def test_an_analysis_not_started_yet_keeps_the_tick() -> None:
    assert next_due(Timing(phase="Progressing", interval=60), NOW, TICK, RESYNC) == TICK


def test_nothing_waits_longer_than_the_resync() -> None:
    timing = Timing(phase="Progressing", last_analysis=NOW, interval=3600)
    assert next_due(timing, NOW, TICK, 120.0) == 120.0
    assert next_due(Timing(phase="Initializing"), NOW, 600.0, 120.0) == 120.0


def test_the_queue_hands_out_keys_when_due_earliest_first() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.schedule("b", 20.0)
    queue.schedule("a", 10.0)
    queue.schedule("c", 30.0)
    assert queue.next_at() == 10.0
    assert queue.pop_due(25.0) == [("a", 10.0), ("b", 20.0)]
    assert len(queue) == 1 and "c" in queue and queue.pop_due(25.0) == []


def test_rescheduling_moves_a_key_and_earlier_only_never_postpones() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.schedule("a", 10.0)
    queue.schedule("a", 50.0)
    assert queue.pop_due(20.0) == [] and queue.due_at("a") == 50.0
    queue.schedule("a", 5.0, earlier_only=True)
    queue.schedule("a", 70.0, earlier_only=True)
    assert queue.next_at() == 5.0
    assert queue.pop_due(100.0) == [("a", 5.0)]
    assert queue.next_at() is None


def test_a_removed_key_is_never_handed_out() -> None:
    queue: DueQueue[str] = DueQueue()
    queue.schedule("a", 1.0)
    queue.remove("a")
    assert queue.next_at() is None and queue.pop_due(10.0) == []


def _obj(name: str, version: str, **fields: object) -> JsonDict:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}, **fields}


def test_resource_versions_compare_as_numbers() -> None:
    assert newer("10", "9") and not newer("9", "10") and not newer("10", "10")
    assert newer("x", "") and newer("b", "a")


def test_the_cache_keeps_the_newest_version() -> None:
    cache = WatchCache((DEPLOYMENTS,))
    assert cache.store(DEPLOYMENTS, _obj("app", "5"))
    assert not cache.store(DEPLOYMENTS, _obj("app", "4"))  # a lagging watch event
    assert not cache.store(DEPLOYMENTS, _obj("app", "5"))  # the echo of our own write
    assert cache.store(DEPLOYMENTS, _obj("app", "6"))
    found = cache.lookup(DEPLOYMENTS, "ns", "app")
    assert found is not None and found["metadata"]["resourceVersion"] == "6"


class _Counting(MemoryApi):
    """MemoryApi that counts reads."""

    def __init__(self) -> None:
        super().__init__()
        self.gets = 0

    async def get(self, resource: Resource, namespace: str | None, name: str) -> JsonDict | None:
        self.gets += 1
        return await super().get(resource, namespace, name)


async def test_cached_reads_cost_no_request_and_writes_go_through() -> None:
    backend = _Counting()
    created = await backend.create(DEPLOYMENTS, "ns", {"metadata": {"name": "app", "namespace": "ns"}, "spec": {}})
    cache = WatchCache((DEPLOYMENTS, CANARIES))
    cache.store(DEPLOYMENTS, created)
    api = CachedApi(backend, cache)
    found = await api.get(DEPLOYMENTS, "ns", "app")
    assert found is not None and backend.gets == 0
    found["spec"]["replicas"] = 9  # a copy: the cache is not changed by its readers
    assert (await api.get(DEPLOYMENTS, "ns", "app") or {})["spec"] == {}
    written = await api.patch(DEPLOYMENTS, "ns", "app", {"spec": {"replicas": 3}})
    assert (await api.get(DEPLOYMENTS, "ns", "app") or {})["spec"]["replicas"] == 3 == written["spec"]["replicas"]
    assert backend.gets == 0
    # a miss asks the API (and keeps the answer); kinds not watched always ask
    await backend.create(DEPLOYMENTS, "ns", {"metadata": {"name": "other", "namespace": "ns"}})
    assert await api.get(DEPLOYMENTS, "ns", "other") is not None and backend.gets == 1
    assert await api.get(DEPLOYMENTS, "ns", "other") is not None and backend.gets == 1
    assert await api.get(SERVICES, "ns", "svc") is None and backend.gets == 2
    await api.delete(DEPLOYMENTS, "ns", "app")
    assert cache.lookup(DEPLOYMENTS, "ns", "app") is None


def _canary(name: str, version: str, phase: str | None = None, target: str = "app", **status: object) -> JsonDict:
    body: JsonDict = {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"namespace": "ns", "name": name, "resourceVersion": version, "uid": f"uid-{name}"},
        "spec": {
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "service": {"port": 80},
            "analysis": {"interval": "1m", "threshold": 2, "maxWeight": 50, "stepWeight": 10},
        },
    }
    if phase is not None:
        body["status"] = {"phase": phase, **status}
    return body


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _scheduler(clock: _Clock) -> tuple[Scheduler, list[str]]:
    ticked: list[str] = []

    async def tick(body: JsonDict) -> None:
        ticked.append(body["metadata"]["name"])

    settings = SchedulerSettings(tick=TICK, resync=RESYNC, min_interval=1.0, startup_spread=TICK)
    return Scheduler(tick=tick, cache=WatchCache((CANARIES, DEPLOYMENTS)), settings=settings, clock=clock), ticked


def test_timing_is_read_from_the_canary() -> None:
    stamp = "2026-01-01T11:59:30Z"
    timing = timing_of(_canary("a", "1", "Progressing", lastAnalysisTime=stamp), 1.0)
    assert timing.phase == "Progressing" and timing.interval == 60 and timing.last_analysis is not None
    assert not timing_of({"metadata": {"name": "x"}, "spec": {}}, 1.0).valid


async def test_a_changed_deployment_wakes_the_canaries_that_name_it_and_no_other() -> None:
    clock = _Clock()
    scheduler, ticked = _scheduler(clock)
    scheduler.observe("canary", _canary("a", "1", "Succeeded", target="app"))
    scheduler.observe("canary", _canary("b", "1", "Succeeded", target="other"))
    clock.now += TICK  # past the first sight's spread
    runner = asyncio.create_task(scheduler.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert sorted(ticked) == ["a", "b"]
    ticked.clear()
    scheduler.observe("deployment", _obj("app-primary", "7"))
    scheduler.observe("deployment", _obj("unrelated", "8"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert ticked == ["a"]
    ticked.clear()
    scheduler.observe("deployment", _obj("app-primary", "7"))  # the same version again: no news
    scheduler.observe("canary", _canary("b", "1", "Succeeded", target="other"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert ticked == []
    scheduler.observe("canary", _canary("b", "1", "Succeeded"), deleted=True)
    scheduler.observe("deployment", _obj("other", "9"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert ticked == []
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_a_succeeded_canary_is_next_due_at_the_resync() -> None:
    clock = _Clock()
    scheduler, ticked = _scheduler(clock)
    scheduler.observe("canary", _canary("a", "1", "Succeeded"))
    clock.now += TICK
    runner = asyncio.create_task(scheduler.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert ticked == ["a"]
    assert scheduler._queue.due_at(("ns", "a")) == pytest.approx(clock.now + RESYNC)
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner


async def test_the_initial_listing_fills_the_cache_without_waking() -> None:
    clock = _Clock()
    scheduler, _ = _scheduler(clock)
    scheduler.observe("canary", _canary("a", "1", "Succeeded"), listed=True)
    first = scheduler._queue.due_at(("ns", "a"))
    assert first is not None and first >= clock.now
    scheduler.observe("deployment", _obj("app", "3"), listed=True)
    assert scheduler._queue.due_at(("ns", "a")) == first  # not woken: its spread first tick stands
    assert scheduler.cache.lookup(DEPLOYMENTS, "ns", "app") is not None


async def test_late_ticks_and_a_spent_api_budget_are_reported_as_saturation(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    lags: list[float] = []
    states: list[bool] = []
    waited = {"total": 0.0}
    scheduler, ticked = _scheduler(clock)
    scheduler.on_lag, scheduler.on_saturated = lags.append, states.append
    scheduler.throttled = lambda: waited["total"]
    scheduler.observe("canary", _canary("a", "1", "Succeeded"))
    clock.now += TICK + 30.0  # the loop gets to it 30 s after it was due
    runner = asyncio.create_task(scheduler.run())
    for _ in range(20):
        await asyncio.sleep(0)
    assert ticked == ["a"] and lags and lags[0] >= 30.0
    assert states == [True] and scheduler.saturated
    assert "controller saturated" in caplog.text and "after they are due" in caplog.text
    scheduler.observe("canary", _canary("a", "2", "Succeeded"))  # on time now
    for _ in range(20):
        await asyncio.sleep(0)
    assert states == [True]  # (not yet calm)
    clock.now += CALM
    scheduler.observe("canary", _canary("a", "4", "Succeeded"))  # (the loop passes)
    for _ in range(20):
        await asyncio.sleep(0)
    assert states == [True, False] and not scheduler.saturated
    waited["total"] = 5.0  # requests waited 5 s for the request budget
    scheduler.observe("canary", _canary("a", "5", "Succeeded"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert states[-1] is True
    runner.cancel()
    with pytest.raises(asyncio.CancelledError):
        await runner
