"""The reconcile tick: observe -> measure -> decide -> persist -> converge -> tell.

This module holds the imperative shell around :mod:`canary.core`. It knows
nothing of kopf: :mod:`canary.operator.handlers` calls :meth:`Reconciler.tick`
from a timer with the Canary's raw body, and tests call it directly. The
body is parsed once, first; from there on only the :class:`~canary.models.Canary`
model travels.

Order matters for restarts. The decision is persisted first (the Canary's
status is the only state), then the world is converged to what the persisted
state implies. A controller killed between the two re-converges to the same
world on its next tick, so weights never move backwards except on rollback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from canary.core import TERMINAL, Decision, Phase, Plan, State, World, decide, desired, needs_checks
from canary.kube.api import CANARIES, DEPLOYMENTS, ApiError, JsonDict, KubeApi
from canary.kube.events import record_event
from canary.kube.workloads import (
    TEMPLATE_HASH_ANNOTATION,
    deployment_ready,
    replica_count,
    scale,
    selector_label,
    template_hash,
)
from canary.models import Canary, describe, unsupported
from canary.operator.alerts import Alerter, DefaultAlerts
from canary.operator.checks import TickChecks, TickContext, run_checks
from canary.operator.converge import converge_primary, converge_replicas, converge_routes
from canary.operator.gates import ABORT, APPROVE, RETRY, GateOutcome, Manual, open_gates
from canary.operator.metrics import Recorder
from canary.operator.ownership import (
    PrimaryClaim,
    describe_owner,
    object_of,
    owner_reference,
    primary_claim,
    primary_taken,
)
from canary.operator.status import conditions_of, iso, plan_from, refusal, state_from, tick_status
from canary.operator.webhooks import HookResult, WebhookCaller
from canary.providers.checks import ProviderPool
from canary.routers.base import Router, RoutingError
from canary.routers.registry import router_for

__all__ = ["Reconciler", "ReconcilerSettings", "owner_reference"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReconcilerSettings:
    """The controller-wide settings the reconcile tick needs."""

    default_provider: str = "istio"
    prometheus_url: str | None = None
    min_interval: float = 10.0  # Flagger's floor for analysis.interval; the testbed lowers it
    metrics_timeout: float = 5.0
    alerts: DefaultAlerts | None = None  # used for Canaries that list no alerts


@dataclass(frozen=True)
class _Seen:
    """What a tick observed before deciding: the Canary, what it asks for, what it persisted, the workloads."""

    canary: Canary
    plan: Plan
    state: State
    world: World  # before the gates and checks of this tick
    target: JsonDict | None
    primary: JsonDict | None
    claim: PrimaryClaim
    manual: Manual
    not_yet: list[str]  # the fields in use that are accepted but not supported yet
    now: datetime
    started: float  # monotonic, for the tick's duration


@dataclass(frozen=True)
class _Measured:
    """What a tick learnt by asking: the gates' answers and, when due, the checks; the world they make."""

    world: World
    gates: GateOutcome
    checks: TickChecks | None

    def hook_results(self) -> tuple[HookResult, ...]:
        """Every hook answer of the tick: the gates', then the rollout hooks'."""
        return self.gates.results + (self.checks.hooks if self.checks else ())


class Reconciler:
    """Runs one Canary's reconcile ticks against the injected API, routers and metric providers."""

    def __init__(
        self,
        api: KubeApi,
        settings: ReconcilerSettings,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        router_factory: Callable[[str | None, KubeApi], Router] = router_for,
        recorder: Recorder | None = None,
    ) -> None:
        self.api = api
        self.recorder = recorder
        self.alerter = Alerter(api, settings.alerts, on_failure=self._alert_failed)
        self.settings = settings
        self.clock = clock
        self.router_factory = router_factory
        self.pool = ProviderPool(timeout=settings.metrics_timeout)
        self.hooks = WebhookCaller()
        self._tasks: set[asyncio.Task[Any]] = set()
        # the last problem reported per (namespace, name, Event reason): each is told once, until it clears
        self._reported: dict[tuple[str, str, str], str] = {}

    # ------------------------------------------------------------------ helpers

    def _router(self, canary: Canary) -> Router:
        return self.router_factory(canary.spec.provider or self.settings.default_provider, self.api)

    async def _patch_status(self, canary: Canary, status: JsonDict) -> None:
        """Write status only if the Canary is still the one this tick read (409 otherwise).

        A tick on a stale body (a lagging watch) must not overwrite what a
        later tick persisted: that is how a weight could move backwards.
        """
        meta = canary.metadata
        await self._write_status(meta.namespace, canary.name, meta.resourceVersion, status)

    async def _write_status(self, namespace: str | None, name: str, version: str | None, status: JsonDict) -> None:
        """Patch the status of the Canary ``namespace/name``, on condition that it is at ``version`` (if given)."""
        patch: JsonDict = {"status": status}
        if version:
            patch["metadata"] = {"resourceVersion": version}
        await self.api.patch(CANARIES, namespace, name, patch, subresource="status")

    async def _adopt(self, seen: _Seen) -> _Seen:
        """Make a free primary this Canary's (so the garbage collector does not remove one whose owner is gone)."""
        canary, primary = seen.canary, seen.primary
        if primary is None or seen.claim != "free" or seen.target is None:
            return seen
        name = primary["metadata"]["name"]
        adopted = f"adopted Deployment {canary.namespace}/{name} (it was {describe_owner(primary)})"
        refs = primary["metadata"].get("ownerReferences") or []
        others = [r for r in refs if isinstance(r, dict) and not r.get("controller")]
        references = {"metadata": {"ownerReferences": [*others, owner_reference(canary)]}}
        try:
            primary = await self.api.patch(DEPLOYMENTS, canary.namespace, name, references)
        except ApiError as error:
            if error.temporary or error.status == 409:
                raise
            await self._warn_once(canary, "KubernetesRefused", f"the API server refused a change: {error}")
            return seen
        await self._event(canary, "Normal", "PrimaryAdopted", adopted)
        return replace(seen, primary=primary)

    async def _warn_once(self, canary: Canary, reason: str, message: str) -> None:
        """A Warning Event for a problem that repeats each tick until it clears: once per distinct message."""
        key = (canary.namespace, canary.name, reason)
        if self._reported.get(key) != message:
            self._reported[key] = message
            await self._event(canary, "Warning", reason, message)
        log.warning("%s %s/%s: %s", reason, canary.namespace, canary.name, message)

    def _cleared(self, canary: Canary, reason: str) -> None:
        """The problem reported under ``reason`` is gone: report it again if it comes back."""
        self._reported.pop((canary.namespace, canary.name, reason), None)

    async def _event(self, canary: Canary, type_: str, reason: str, message: str) -> None:
        await self._record_event(object_of(canary), type_, reason, message)

    async def _record_event(self, obj: JsonDict, type_: str, reason: str, message: str) -> None:
        try:
            await record_event(self.api, obj, type_, reason, message, self.clock())
        except ApiError as error:  # a side channel: never stops the rollout
            log.warning("could not record event on %s: %s", obj["metadata"].get("name"), error)

    async def _refuse(self, canary: Canary, reason: str, lines: list[str]) -> None:
        """Report a Canary the controller will not run, once: a condition and a Warning Event."""
        message = "; ".join(lines)
        patch = refusal(conditions_of(canary), reason, message, self.clock())
        if patch is not None:
            await self._patch_status(canary, patch)
            await self._event(canary, "Warning", reason, message)

    async def _refuse_invalid(self, body: JsonDict, error: ValidationError) -> None:
        """Report a Canary that does not parse, once: as :meth:`_refuse`, from the raw object (there is no model)."""
        message = "; ".join(f"invalid Canary: {line}" for line in describe(error))
        patch = refusal((body.get("status") or {}).get("conditions"), "InvalidSpec", message, self.clock())
        if patch is not None:
            meta = body["metadata"]
            await self._write_status(meta.get("namespace"), meta["name"], meta.get("resourceVersion"), patch)
            await self._record_event(body, "Warning", "InvalidSpec", message)

    # ------------------------------------------------------------------ the tick

    async def tick(self, body: JsonDict) -> Decision | None:
        """One reconcile of one Canary; answers the decision (None when the Canary is refused)."""
        seen = await self._observe(body)
        if seen is None:
            return None
        if seen.plan.suspend or seen.manual.suspend:
            # Flagger's suspend: nothing moves, nothing is called, no request is used up.
            decision = Decision(seen.state)
            self._record_metrics(seen, decision, None)
            return decision
        seen = await self._adopt(seen)
        measured = await self._measure(seen)
        decision = decide(seen.plan, seen.state, measured.world, seen.now)
        await self._persist(seen, decision, measured.checks)
        await self._converge(seen, decision)
        await self._tell(seen, decision, measured)
        self._record_metrics(seen, decision, measured.checks)
        return decision

    async def _observe(self, body: JsonDict) -> _Seen | None:
        """Parse the Canary and read its workloads; None when the Canary is refused (and that is reported)."""
        started = time.monotonic()
        parsed = await self._parse(body)
        if parsed is None:
            return None
        canary, not_yet = parsed
        workloads = await self._workloads(canary)
        if workloads is None:
            return None
        target, primary, claim = workloads
        world = World(
            target_hash=template_hash(target) if target is not None else None,
            primary_ready=deployment_ready(primary),
            primary_hash=((primary or {}).get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION),
            canary_ready=deployment_ready(target),
        )
        plan, state = plan_from(canary, self.settings.min_interval), state_from(canary)
        manual = Manual.read(canary, world.target_hash)
        return _Seen(canary, plan, state, world, target, primary, claim, manual, not_yet, self.clock(), started)

    async def _parse(self, body: JsonDict) -> tuple[Canary, list[str]] | None:
        """The Canary and what of it is not supported yet; None when it is invalid or asks what we cannot do."""
        try:
            canary = Canary.from_kube(body)
        except ValidationError as error:
            await self._refuse_invalid(body, error)
            return None
        problems = unsupported(canary, self.settings.default_provider)
        refused = [p.message for p in problems if p.severity == "refuse"]
        if refused:
            await self._refuse(canary, "Unsupported", refused)
            return None
        return canary, [p.message for p in problems if p.severity != "refuse"]

    async def _workloads(self, canary: Canary) -> tuple[JsonDict | None, JsonDict | None, PrimaryClaim] | None:
        """The target, the primary and whose that is; None when either cannot be this Canary's (reported)."""
        namespace = canary.namespace
        target = await self.api.get(DEPLOYMENTS, namespace, canary.spec.targetRef.name)
        if target is not None:
            try:
                selector_label(target)
            except ValueError as error:
                await self._refuse(canary, "InvalidTarget", [str(error)])
                return None
        primary_name = canary.primary_name()
        primary = await self.api.get(DEPLOYMENTS, namespace, primary_name)
        claim: PrimaryClaim = primary_claim(primary, canary) if primary is not None else "this"
        taken = primary_taken(primary, claim, target) if primary is not None else None
        if taken is not None:
            message = f"Deployment {namespace}/{primary_name} exists and is not this Canary's: {taken}"
            await self._refuse(canary, "PrimaryNotOwned", [message])
            return None
        return target, primary, claim

    async def _measure(self, seen: _Seen) -> _Measured:
        """Ask the gates that matter this tick, then run the checks when they are due."""
        canary, plan, state, now = seen.canary, seen.plan, seen.state, seen.now
        gates = await open_gates(self.hooks, canary, plan, state, seen.world, now, seen.manual)
        world = gates.world
        if not needs_checks(plan, state, world, now):
            return _Measured(world, gates, None)
        settings = self.settings
        context = TickContext(
            api=self.api,
            pool=self.pool,
            default_mesh=settings.default_provider,
            default_address=settings.prometheus_url,
            interval=plan.interval,
            now=now,
            hooks=self.hooks,
            phase=state.phase.value,
            revision=world.target_hash,
        )
        checks = await run_checks(canary, context)
        return _Measured(replace(world, checks=checks.checks, judge=checks.judge), gates, checks)

    async def _persist(self, seen: _Seen, decision: Decision, measured: TickChecks | None) -> None:
        """Write the decision to status (before anything converges to it: a restart resumes from there)."""
        patch = tick_status(seen.canary, decision, measured, seen.not_yet, seen.now)
        if patch:
            await self._patch_status(seen.canary, patch)

    async def _converge(self, seen: _Seen, decision: Decision) -> None:
        """Bring the workloads and routes to what the persisted state wants; a refusal for good is reported."""
        if seen.target is None:
            return
        try:
            await self._converge_workloads(seen, decision.state)
            self._cleared(seen.canary, "KubernetesRefused")
        except ApiError as error:
            if error.temporary or error.status == 409:
                raise  # the handler retries after a delay
            # refused for good as sent (RBAC, a quota, an admission webhook): say so on the Canary; the next
            # tick tries again, as the state asks
            await self._warn_once(seen.canary, "KubernetesRefused", f"the API server refused a change: {error}")

    async def _converge_workloads(self, seen: _Seen, state: State) -> None:
        """The primary, then traffic, then the canary's replicas (never scaled while traffic is elsewhere)."""
        canary, target = seen.canary, seen.target
        assert target is not None
        want = desired(state, seen.plan)
        primary = await converge_primary(self.api, canary, want, target, seen.primary, state)
        if primary is None:
            return
        if want.routes is not None and deployment_ready(primary):
            try:
                await converge_routes(self._router(canary), canary, want.routes, state)
                self._cleared(canary, "RoutingFailed")
            except RoutingError as error:
                # Never scale anything while traffic is not where the state says it is.
                await self._warn_once(canary, "RoutingFailed", error.message)
                return
        await converge_replicas(self.api, want, target, primary)

    async def _tell(self, seen: _Seen, decision: Decision, measured: _Measured) -> None:
        """Events for the decision and what the tick found, the used-up annotations, hooks and chat alerts.

        Traffic was converged first: a rollback reaches the primary before any side channel is told.
        """
        canary = seen.canary
        await self._clear_used(canary, measured.gates.used, decision)
        for result in measured.gates.results:
            if not result.ok and result.type != "rollback" and decision.changed:
                await self._event(canary, "Warning", "WebhookFailed", result.reason)
        for event in decision.events:
            await self._event(canary, event.type, event.reason, event.message)
        for reason, message in measured.checks.notices if measured.checks else ():
            await self._event(canary, "Warning", reason, message)
        self._side_channels(seen, decision, measured.checks)
        # Flagger alerts on a failed test hook unless the hook says muteAlert (gates only wait: no alert).
        for result in measured.hook_results():
            if not result.ok and not result.muted and result.type in ("pre-rollout", "rollout"):
                self.alerter.send_text(canary, decision.state, f"{result.type} webhook failed", "warn", result.reason)

    def _record_metrics(self, seen: _Seen, decision: Decision, measured: TickChecks | None) -> None:
        """Update /metrics with the tick's outcome."""
        if self.recorder is not None:
            canary = seen.canary
            self.recorder.observe(
                name=canary.name,
                namespace=canary.namespace,
                target=canary.spec.targetRef.name,
                primary=canary.primary_name(),
                provider=canary.spec.provider or self.settings.default_provider,
                strategy=canary.strategy(),
                phase=decision.state.phase.value,
                previous_phase=seen.state.phase.value,
                canary_weight=decision.state.canary_weight,
                failed_checks=decision.state.failed_checks,
                seconds=time.monotonic() - seen.started,
                checks=measured.records if measured else (),
                judge=measured.judge_status if measured else None,
            )

    # ------------------------------------------------------------------ side channels

    def _side_channels(self, seen: _Seen, decision: Decision, measured: TickChecks | None) -> None:
        """Event and post-rollout hooks and chat alerts: in the background, never delaying a decision."""
        canary, state = seen.canary, seen.state
        phase = decision.state.phase.value
        revision = decision.state.last_applied_spec
        for event in decision.events:
            extra = {"eventMessage": event.message, "eventType": event.type, "timestamp": iso(seen.now) or ""}
            self._background(self.hooks.run(canary, ["event"], phase, extra, revision))
        self.alerter.send(
            canary,
            decision.events,
            phase,
            decision.state.canary_weight,
            measured.records if measured else (),
            measured.judge_status if measured else None,
        )
        ended = decision.state.phase in (Phase.SUCCEEDED, Phase.FAILED) and decision.state.phase != state.phase
        if ended and state.phase != Phase.INITIALIZING:

            async def post_rollout() -> None:
                for result in await self.hooks.run(canary, ["post-rollout"], phase, None, revision):
                    if not result.ok:
                        await self._event(canary, "Warning", "WebhookFailed", result.reason)

            self._background(post_rollout())

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the side-channel work in flight (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.alerter.drain()

    async def close(self) -> None:
        """Finish the side channels and release the HTTP clients."""
        await self.drain()
        await self.hooks.close()
        await asyncio.to_thread(self.pool.close)

    async def _alert_failed(self, canary: Canary, message: str) -> None:
        await self._event(canary, "Warning", "AlertFailed", f"chat notification failed: {message}")

    async def _clear_used(self, canary: Canary, used: frozenset[str], decision: Decision) -> None:
        """Remove the manual-control annotations this tick used up (or that no longer apply)."""
        annotations = canary.metadata.annotations or {}
        drop = set(used)
        settled = decision.state.phase in TERMINAL  # no rollout in flight: nothing left to abort or approve
        if ABORT in annotations and settled:
            drop.add(ABORT)
        if APPROVE in annotations and (settled or annotations[APPROVE] != decision.state.last_applied_spec):
            drop.add(APPROVE)  # its revision is done, or gone
            if not settled:
                await self._event(
                    canary, "Warning", "ApprovalIgnored",
                    f"{APPROVE}: {annotations[APPROVE]!r} is not the revision under analysis"
                    f" ({decision.state.last_applied_spec}): removed; approve with that revision",
                )  # fmt: skip
        if RETRY in annotations and decision.state.phase != Phase.FAILED:
            drop.add(RETRY)
        drop &= set(annotations)
        if drop:
            await self.api.patch(
                CANARIES, canary.namespace, canary.name, {"metadata": {"annotations": dict.fromkeys(drop)}}
            )

    async def finalize(self, body: JsonDict) -> None:
        """On deletion: give back what the routers took over.

        With ``revertOnDeletion`` (Flagger's meaning) the target is also scaled
        back up first, so it serves again once the primary is garbage-collected.
        """
        try:
            canary = Canary.from_kube(body)
        except ValidationError:
            return  # nothing was ever built for an invalid Canary
        if any(p.severity == "refuse" for p in unsupported(canary, self.settings.default_provider)):
            return
        target = await self.api.get(DEPLOYMENTS, canary.namespace, canary.spec.targetRef.name)
        if canary.spec.revertOnDeletion and target is not None:
            primary = await self.api.get(DEPLOYMENTS, canary.namespace, canary.primary_name())
            await scale(self.api, target, replica_count(primary) if primary else 1)
        try:
            await self._router(canary).finalize(canary)
            # (a Canary created again under this name is a new one: its problems are news again)
            self._reported = {k: v for k, v in self._reported.items() if k[:2] != (canary.namespace, canary.name)}
        except RoutingError as error:
            # Deleting anyway would let the garbage collector remove the Services an adopted route still sends
            # traffic to: the deletion waits (the handler retries), and says why.
            await self._warn_once(canary, "FinalizeBlocked", f"{error.message}; the Canary is kept until that is fixed")
            raise
