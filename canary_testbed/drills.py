"""Fault drills: a rollout run through the failures a real cluster has, and the rules it must keep.

One drill rolls out two revisions at once on a running :class:`Testbed`: a
healthy one (``podinfo``, must be promoted) and one failing 10 % of its
requests (``backend``, must be rolled back). Meanwhile, as a seed decides:

- the API server answers the controller's requests with 409/429/500/503,
  delays, dropped and reset connections at a given rate (:mod:`kubeemu.faults`);
- the controller is killed (SIGKILL) and started again, at random moments;
- once ``podinfo`` is under analysis, every write of its routing object fails
  until its next step is decided: a step whose weight is saved in status but
  not in the routing object, the gap between persist and converge;
- Prometheus is stopped and started again on the same port.

Then :func:`violations` checks what a user would: each Canary ended as it
must, the routing object visited every step in order and never stepped back
except to roll back, every step carried traffic at its weight for a whole
analysis interval before the next, each decision's Event was recorded exactly
once, and the erroring revision was never promoted. ``make test`` runs a
short drill per mesh (tests/faults); ``make soak`` runs many
(benchmarks/soak.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from canary.kube.api import EVENTS, JsonDict
from canary.routers.registry import declaration_for
from canary_testbed.demo import demo_canary
from canary_testbed.testbed import Testbed

__all__ = [
    "CONTROLLER_USER",
    "INTERVAL",
    "STEPS",
    "Drill",
    "DrillReport",
    "drill_canary",
    "drill_testbed",
    "run_drill",
    "violations",
]

CONTROLLER_USER = "system:serviceaccount:canary-system:canary-controller"
"""Who the controller authenticates as in a drill: faults are injected on its requests only."""

INTERVAL = 2.0
"""analysis.interval of the drill's Canaries, seconds."""

STEPS = (10, 20, 30, 40, 50)
"""The weight steps of the drill's Canaries (stepWeight 10, maxWeight 50)."""

HEALTHY, ERRORING = "podinfo", "backend"

# Slack for a step's hold time: the routing object is sampled every SAMPLE s, and a route write lands a
# few API calls (each maybe delayed by a fault) after the tick that decided it.
SAMPLE = 0.1
_HOLD_SLACK = 0.8


def drill_canary(provider: str, name: str) -> JsonDict:
    """A drill Canary: the demo's, with a threshold a short Prometheus outage cannot reach by itself."""
    manifest = demo_canary(provider, name=name, interval=f"{INTERVAL:g}s", deadline=60)
    manifest["spec"]["analysis"]["threshold"] = 5
    return manifest


@dataclass(frozen=True)
class Drill:
    """What one drill inflicts; every choice of time comes from ``seed``."""

    seed: int
    api_fault_rate: float = 0.2
    kills: int = 1
    gap: bool = True
    outage: bool = True
    timeout: float = 150.0


@dataclass
class DrillReport:
    """What a drill did and what it broke (``violations`` empty: nothing)."""

    mesh: str
    seed: int
    seconds: float = 0.0
    kills: int = 0
    outages: int = 0
    faults_injected: dict[str, int] = field(default_factory=dict)
    requests_examined: int = 0
    repaired_steps: int = 0
    phases: dict[str, str] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)


def _base_rules(rate: float) -> list[dict[str, Any]]:
    """Status errors, delays, dropped and reset connections on the controller's requests, ``rate`` in all."""
    users = [CONTROLLER_USER]
    share = rate / 6
    return [
        {"fault": "delay", "rate": 0.1, "seconds": 0.1, "users": users},
        {"fault": "status", "status": 409, "rate": share, "users": users, "verbs": ["update", "patch"]},
        {"fault": "status", "status": 429, "rate": share, "retryAfter": 1, "users": users},
        {"fault": "status", "status": 500, "rate": share, "users": users},
        {"fault": "status", "status": 503, "rate": share, "users": users},
        {"fault": "drop", "rate": share, "users": users, "verbs": ["get", "list", "create", "update", "patch"]},
        {"fault": "reset", "rate": share, "users": users, "verbs": ["get", "list", "create", "update", "patch"]},
    ]


def _routing_resources(provider: str) -> list[str]:
    """The ``plural.group`` of the routing objects the provider's router writes (Services aside)."""
    return sorted({f"{r.plural}.{r.group}" for r in declaration_for(provider).writes if r.group})


class _Sampler:
    """Reads each app's split from its routing object every SAMPLE seconds: what traffic really saw."""

    def __init__(self, bed: Testbed, apps: tuple[str, ...]) -> None:
        self.bed = bed
        self.apps = apps
        self.samples: dict[str, list[tuple[float, int]]] = {app: [] for app in apps}

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            for app in self.apps:
                routes = await self.bed.routes(app)
                self.samples[app].append((time.monotonic(), routes.canary))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SAMPLE)


@contextlib.asynccontextmanager
async def drill_testbed(mesh: str, namespace: str = "drill") -> AsyncIterator[Testbed]:
    """A testbed ready for drills: both apps and their Canaries initialized, the controller as its own user."""
    async with Testbed(
        provider=mesh, namespace=namespace, tick=0.5, min_interval=1.0, rps=100, controller_user=CONTROLLER_USER
    ) as bed:
        for app in (HEALTHY, ERRORING):
            await bed.add_app(app)
            await bed.apply_canary(drill_canary(mesh, app))
        bed.start_controller()
        for app in (HEALTHY, ERRORING):
            await bed.wait_phase(app, {"Initialized"}, timeout=60)
        yield bed


async def _phases(bed: Testbed) -> dict[str, JsonDict]:
    return {app: (await bed.canary(app)).get("status") or {} for app in (HEALTHY, ERRORING)}


async def run_drill(bed: Testbed, drill: Drill, revision: int) -> DrillReport:
    """Roll out revision ``revision`` of both apps under ``drill``'s faults; the report says what broke.

    The testbed must have both apps and their Canaries initialized, and the
    controller started as :data:`CONTROLLER_USER` (``Testbed(controller_user=...)``).
    """
    assert bed.api is not None
    rng = random.Random(drill.seed)
    report = DrillReport(mesh=bed.provider, seed=drill.seed)
    started = time.monotonic()
    before = await _phases(bed)
    events_before = {e["metadata"]["name"] for e in await bed.api.list(EVENTS, bed.namespace)}
    base = _base_rules(drill.api_fault_rate)
    await bed.inject_api_faults(base, seed=drill.seed)
    sampler = _Sampler(bed, (HEALTHY, ERRORING))
    stop = asyncio.Event()
    sampling = asyncio.create_task(sampler.run(stop))
    await bed.new_revision(HEALTHY, image=f"podinfo:7.0.{revision}", behaviour="healthy")
    await bed.new_revision(ERRORING, image=f"backend:7.0.{revision}", behaviour="errors")
    chaos = asyncio.create_task(_chaos(bed, drill, rng, report, base))
    try:
        for app in (HEALTHY, ERRORING):
            await bed.wait_for(
                f"{app} to finish revision {revision}",
                lambda app=app: _finished(bed, app, before[app]),  # type: ignore[misc]
                timeout=drill.timeout,
                poll=0.25,
            )
    finally:
        chaos.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await chaos
        counts = await bed.clear_api_faults()
        if not bed.controller_running():
            bed.start_controller()
        if bed.prometheus is not None and not bed.prometheus.running:
            await bed.start_prometheus()
        stop.set()
        await sampling
    report.faults_injected = {str(k): int(v) for k, v in (counts.get("injected") or {}).items()}
    report.requests_examined = int(counts.get("examined") or 0)
    told = await _told(bed)  # what the last decisions had to tell, delivered now that the faults are gone
    after = await _phases(bed)
    report.phases = {app: str(status.get("phase")) for app, status in after.items()}
    events = [e for e in await bed.api.list(EVENTS, bed.namespace) if e["metadata"]["name"] not in events_before]
    report.repaired_steps = sum(1 for e in events if e["reason"] == "RoutesRepaired")
    report.violations = violations(before, after, sampler.samples, events)
    if not told:
        report.violations.append(f"the outboxes were not delivered within {_DRAIN:g}s of the faults ending")
    report.seconds = round(time.monotonic() - started, 1)
    return report


_DRAIN = 10.0
"""How long the Canaries' outboxes may take to empty once the faults are gone (a few ticks)."""


async def _told(bed: Testbed) -> bool:
    """Whether every Canary's status.outbox empties (each decision's Events, hooks and alerts delivered)."""

    async def empty() -> bool:
        return not any(status.get("outbox") for status in (await _phases(bed)).values())

    try:
        await bed.wait_for("the outboxes to empty", empty, timeout=_DRAIN, poll=0.2)
    except TimeoutError:
        return False
    return True


async def _finished(bed: Testbed, app: str, before: JsonDict) -> bool:
    status = (await bed.canary(app)).get("status") or {}
    return status.get("lastAppliedSpec") != before.get("lastAppliedSpec") and status.get("phase") in (
        "Succeeded",
        "Failed",
    )


async def _chaos(bed: Testbed, drill: Drill, rng: random.Random, report: DrillReport, base: list[Any]) -> None:
    """Open the persist->converge gap first, then kill the controller and stop Prometheus at seeded moments.

    The gap comes alone, so that the step it catches is decided while Prometheus answers and the
    controller runs: every drill then exercises a step saved in status but not routed.
    """
    if drill.gap:
        await _gap(bed, drill, base)
    plan: list[tuple[float, str]] = [(rng.uniform(0.5, 10.0), "kill") for _ in range(drill.kills)]
    if drill.outage and bed.prometheus is not None:
        plan.append((rng.uniform(0.5, 8.0), "outage"))
    t0 = time.monotonic()
    for at, what in sorted(plan):
        await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
        if what == "kill":
            bed.stop_process("controller", kill=True)
            report.kills += 1
            await asyncio.sleep(rng.uniform(0.3, 1.5))
            bed.start_controller()
        else:
            await bed.stop_prometheus()
            report.outages += 1
            await asyncio.sleep(rng.uniform(1.0, INTERVAL))
            await bed.start_prometheus()


async def _gap(bed: Testbed, drill: Drill, base: list[Any]) -> None:
    """Fail every write of the healthy app's routing objects from its first step until a step is decided.

    The step is then saved in status while the routing object still holds the
    previous weight; the writes stay blocked for half an interval more, so
    the controller meets the gap on at least one more tick before it closes.
    """

    async def weight() -> tuple[str, int]:
        status = (await bed.canary(HEALTHY)).get("status") or {}
        return str(status.get("phase")), int(status.get("canaryWeight") or 0)

    async def analysing() -> bool:
        phase, at = await weight()
        return phase == "Progressing" and at >= STEPS[0]

    await bed.wait_for("the healthy app under analysis", analysing, timeout=drill.timeout, poll=0.1)
    blocked = {
        "fault": "status",
        "status": 503,
        "rate": 1.0,
        "users": [CONTROLLER_USER],
        "verbs": ["create", "update", "patch"],
        "resources": _routing_resources(bed.provider),
    }
    await bed.inject_api_faults([blocked, *base], seed=drill.seed + 1)
    _, start = await weight()

    async def stepped() -> bool:
        phase, at = await weight()
        return at > start or phase != "Progressing"

    with contextlib.suppress(TimeoutError):  # no step within 6 intervals: the drill's rules will say why
        await bed.wait_for("a step decided while its route cannot be written", stepped, timeout=6 * INTERVAL, poll=0.1)
    await asyncio.sleep(INTERVAL / 2)
    await bed.inject_api_faults(base, seed=drill.seed + 2)


_ADVANCE = re.compile(r"^(?:advancing the canary weight to|starting the analysis: canary weight) (\d+)\b")
# The Events a rollout's decisions record, each exactly once per revision.
_ONCE = ("Promoting", "Finalising", "Succeeded", "FailedChecks", "RolledBack")


def violations(
    before: dict[str, JsonDict],
    after: dict[str, JsonDict],
    samples: dict[str, list[tuple[float, int]]],
    events: list[JsonDict],
) -> list[str]:
    """Every rule the drill broke, in words (see the module docstring)."""
    found: list[str] = []
    healthy, erroring = after[HEALTHY], after[ERRORING]
    if healthy.get("phase") != "Succeeded":
        found.append(f"{HEALTHY}: ended {healthy.get('phase')} ({healthy.get('message')}), not Succeeded")
    if erroring.get("phase") != "Failed":
        found.append(f"{ERRORING}: ended {erroring.get('phase')}, not Failed")
    if erroring.get("lastPromotedSpec") != before[ERRORING].get("lastPromotedSpec"):
        found.append(f"{ERRORING}: the erroring revision was promoted")
    found += _route_violations(HEALTHY, samples[HEALTHY], promoted=True)
    found += _route_violations(ERRORING, samples[ERRORING], promoted=False)
    for app in (HEALTHY, ERRORING):
        mine = [e for e in events if e["involvedObject"]["name"] == app]
        steps = Counter(int(m.group(1)) for e in mine if (m := _ADVANCE.match(e["message"])))
        reasons = Counter(e["reason"] for e in mine if e["reason"] in _ONCE)
        repeated = {f"weight {w}": n for w, n in steps.items() if n > 1} | {r: n for r, n in reasons.items() if n > 1}
        if repeated:
            found.append(f"{app}: decision Events recorded more than once: {repeated}")
        if app == HEALTHY:
            missing = [w for w in STEPS if steps[w] == 0] + [r for r in ("Promoting", "Succeeded") if not reasons[r]]
            if missing:
                found.append(f"{app}: decision Events missing: {missing}")
        elif not (reasons["FailedChecks"] or reasons["RolledBack"]):
            found.append(f"{app}: no rollback Event")
    return found


def _route_violations(app: str, samples: list[tuple[float, int]], promoted: bool) -> list[str]:
    """Steps in order, none skipped (when promoted), never back except to 0, each held a whole interval.

    A weight's hold is bounded from above by the sample that first saw the next weight minus the last
    sample before the weight was first seen: a sampler that stalled (a busy test process) widens the
    bound instead of making a step look short.
    """
    found: list[str] = []
    changes: list[tuple[float, float, int]] = []  # (last sample before the change, first sample after, weight)
    previous = samples[0][0] if samples else 0.0
    for at, weight in samples:
        if not changes or changes[-1][2] != weight:
            changes.append((previous, at, weight))
        previous = at
    weights = [w for _, _, w in changes]
    rising = weights[: weights.index(max(weights)) + 1] if weights else []
    if rising != sorted(rising) or any(w not in (0, *STEPS) for w in weights):
        found.append(f"{app}: the routing object went {weights}: a step back or off the plan")
    after_top = weights[len(rising) :]
    if any(w != 0 for w in after_top):
        found.append(f"{app}: the routing object went {weights}: a step back before the end")
    if promoted and [w for w in rising if w] != list(STEPS):
        found.append(f"{app}: the routing object went {weights}: not every step in order")
    for (before, _, weight), (_, seen_next, _) in itertools.pairwise(changes):
        held = seen_next - before  # at most this long
        if weight in STEPS and weight != max(weights) and held < INTERVAL - _HOLD_SLACK:
            found.append(f"{app}: weight {weight} held at most {held:.2f}s, less than an analysis interval")
    return found
