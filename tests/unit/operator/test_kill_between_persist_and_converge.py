"""A controller killed between persisting a step and routing it: no step is skipped, none judged at the wrong weight.

The decision is persisted before the world converges to it. A process that
dies (or an API call that fails) in between leaves status at the new weight
and the routing object at the old one. The next tick must not judge the
traffic of that interval as if it ran at the new weight: it routes the
weight again and starts the step's interval then.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from canary.core import Routes
from canary.kube.api import CANARIES, EVENTS
from canary.models import Canary
from canary.operator import checks as checks_module
from canary.operator import reconcile as reconcile_module
from canary.operator.checks import TickChecks, TickContext
from tests.unit.operator.harness import NS, Harness, canary_body

INTERVAL = 10.0


class Killed(Exception):
    """The process died here."""


class Timeline:
    """When the routing object took each weight, and at which weight each analysis tick measured."""

    def __init__(self, h: Harness) -> None:
        self.h = h
        self.routed_at: list[tuple[datetime, int]] = []
        self.measured: list[tuple[datetime, int]] = []
        original = h.router.set_routes

        async def set_routes(canary: Canary, routes: Routes) -> None:
            await original(canary, routes)
            self.routed_at.append((h.clock.now, routes.canary))

        h.router.set_routes = set_routes  # type: ignore[method-assign]

    def record_measurement(self) -> None:
        self.measured.append((self.h.clock.now, self.h.router.routes.canary))


def kill_once_at(monkeypatch: pytest.MonkeyPatch, point: str, when: Callable[[], bool]) -> list[str]:
    """Make the converge step ``point`` raise Killed the first time ``when()`` holds; answers where it died."""
    original: Callable[..., Awaitable[Any]] = getattr(reconcile_module, point)
    died: list[str] = []

    async def maybe_die(*args: Any, **kwargs: Any) -> Any:
        if not died and when():
            died.append(point)
            raise Killed(point)
        return await original(*args, **kwargs)

    monkeypatch.setattr(reconcile_module, point, maybe_die)
    return died


@pytest.mark.parametrize("point", ["converge_primary", "converge_routes", "converge_replicas"])
@pytest.mark.parametrize("step", [50, 75])
async def test_a_kill_after_a_step_is_persisted_neither_skips_nor_misjudges_it(
    monkeypatch: pytest.MonkeyPatch, point: str, step: int
) -> None:
    h = Harness(canary_body(stepWeight=25, maxWeight=100))
    timeline = Timeline(h)
    original_run_checks = checks_module.run_checks

    async def run_checks(canary: Canary, context: TickContext) -> TickChecks:
        timeline.record_measurement()
        return await original_run_checks(canary, context)

    monkeypatch.setattr(reconcile_module, "run_checks", run_checks)
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    persisted: list[int] = []
    original_tick_status = reconcile_module.tick_status

    def tick_status(*args: Any, **kwargs: Any) -> dict[str, Any]:
        patch: dict[str, Any] = original_tick_status(*args, **kwargs)
        if "canaryWeight" in patch:
            persisted.append(patch["canaryWeight"])
        return patch

    monkeypatch.setattr(reconcile_module, "tick_status", tick_status)
    died = kill_once_at(monkeypatch, point, lambda: persisted[-1:] == [step])
    phases = []
    for _ in range(30):
        with contextlib.suppress(Killed):  # the process died after persisting; next is a restarted controller
            await h.tick(INTERVAL)
        body = await h.api.get(CANARIES, NS, "podinfo")
        assert body is not None
        phases.append(body["status"]["phase"])
        if phases[-1] == "Succeeded":
            break
    assert died == [point]
    assert phases[-1] == "Succeeded", phases
    # the routing object visited every step in order, never stepping back before the promotion's 0
    assert h.router.history == [25, 50, 75, 100, 0], h.router.history
    # every analysis tick measured at the weight its step says, a whole interval after that weight was routed
    for at, weight in timeline.measured:
        routed = max(when for when, w in timeline.routed_at if w == weight and when <= at)
        assert (at - routed).total_seconds() >= INTERVAL, (weight, at, routed)
    assert sorted({w for _, w in timeline.measured}) == [25, 50, 75, 100]
    repaired = [e for e in await h.api.list(EVENTS, NS) if e["reason"] == "RoutesRepaired"]
    assert len(repaired) == (1 if point != "converge_replicas" else 0)


async def test_a_step_whose_route_write_lands_late_starts_its_interval_then() -> None:
    """A throttled API (429s with Retry-After) can make a route write land seconds after its decision."""
    h = Harness(canary_body(stepWeight=25, maxWeight=50))
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    await h.tick()  # Progressing at 0
    original = h.router.set_routes

    async def slow_set_routes(canary: Canary, routes: Routes) -> None:
        h.clock.now += timedelta(seconds=3.25)  # the write lands this much after the tick started
        await original(canary, routes)

    h.router.set_routes = slow_set_routes  # type: ignore[method-assign]
    status = await h.tick()  # the analysis starts: weight 25, written 3.25 s into the tick
    assert status["canaryWeight"] == 25
    assert datetime.fromisoformat(status["lastAnalysisTime"]) == h.clock.now  # to the millisecond
    h.router.set_routes = original  # type: ignore[method-assign]
    assert (await h.tick(INTERVAL - 1))["canaryWeight"] == 25  # a whole interval after the write: not yet
    assert (await h.tick(1))["canaryWeight"] == 50
