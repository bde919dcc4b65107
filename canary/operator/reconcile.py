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
What the decision tells (Events, hooks, chat) is persisted with it, in
``status.outbox``, and delivered after converging, or at the start of the
next tick when this one did not get that far (:mod:`canary.operator.outbox`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from pydantic import ValidationError

from canary.core import ANALYSING, Decision, Plan, Routes, State, World, decide, desired, needs_checks
from canary.kube.api import CANARIES, DEPLOYMENTS, ApiError, JsonDict, KubeApi
from canary.kube.workloads import (
    deployment_ready,
    replica_count,
    scale,
)
from canary.models import Canary, OutboxEntry, describe
from canary.operator.admit import admission_due, admission_errors
from canary.operator.alerts import Alerter, DefaultAlerts
from canary.operator.checks import TickChecks, TickContext, run_checks
from canary.operator.converge import converge_primary, converge_replicas, converge_routes
from canary.operator.events import CanaryEvents
from canary.operator.gates import GateOutcome, Manual, open_gates, spent_annotations
from canary.operator.metrics import Recorder
from canary.operator.outbox import Outbox
from canary.operator.ownership import PrimaryClaim, describe_owner, owner_reference
from canary.operator.sidechannels import SideChannels, TickEvent
from canary.operator.status import (
    conditions_of,
    iso_ms,
    outbox_status,
    plan_from,
    refusal,
    state_from,
    tick_status,
)
from canary.operator.webhooks import HookResult, WebhookCaller
from canary.operator.workloads import Refusal, read_workloads
from canary.providers.checks import ProviderPool
from canary.providers.registry import ProviderFactory
from canary.routers.base import Router, RoutingError
from canary.routers.registry import PROVIDER_SUPPORT, router_for, unsupported

__all__ = ["Reconciler", "ReconcilerSettings", "owner_reference"]


@dataclass(frozen=True)
class ReconcilerSettings:
    """The controller-wide settings the reconcile tick needs."""

    default_provider: str = "istio"
    prometheus_url: str | None = None
    min_interval: float = 10.0  # Flagger's floor for analysis.interval; the testbed lowers it
    metrics_timeout: float = 5.0
    alerts: DefaultAlerts | None = None  # used for Canaries that list no alerts
    metric_providers: Mapping[str, ProviderFactory] | None = None  # replaces registered providers (the testbed)


ROUTE_LAG = 1.0
"""Seconds a step's route write may land after its decision before the step's interval restarts
(at most a tenth of the interval)."""


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
    routed: Routes | None = None  # the split the routing object held when read this tick (None: not read)

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
        self.alerter = Alerter(api, settings.alerts)
        self.settings = settings
        self.clock = clock
        self.router_factory = router_factory
        self.pool = ProviderPool(timeout=settings.metrics_timeout, overrides=settings.metric_providers)
        self.hooks = WebhookCaller()
        self.events = CanaryEvents(api, clock)
        self.side = SideChannels(self.alerter)
        self.outbox = Outbox(self.events, self.alerter, self.hooks, clock)

    # ------------------------------------------------------------------ helpers

    def _router(self, canary: Canary) -> Router:
        """The router of the Canary's mesh (the controller's default when the spec names none)."""
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
            if error.retryable:
                raise
            await self.events.warn_once(canary, "KubernetesRefused", f"the API server refused a change: {error}")
            return seen
        await self.events.event(canary, "Normal", "PrimaryAdopted", adopted)
        return replace(seen, primary=primary)

    async def _refuse(self, canary: Canary, reason: str, lines: list[str]) -> None:
        """Report a Canary the controller will not run, once: a condition and a Warning Event."""
        message = "; ".join(lines)
        patch = refusal(conditions_of(canary), reason, message, self.clock(), canary.metadata.generation)
        if patch is not None:
            await self._patch_status(canary, patch)
            await self.events.event(canary, "Warning", reason, message)

    async def _refuse_invalid(self, body: JsonDict, error: ValidationError) -> None:
        """Report a Canary that does not parse, once: as :meth:`_refuse`, from the raw object (there is no model)."""
        message = "; ".join(f"invalid Canary: {line}" for line in describe(error))
        meta = body["metadata"]
        generation = meta.get("generation") if isinstance(meta.get("generation"), int) else None
        patch = refusal((body.get("status") or {}).get("conditions"), "InvalidSpec", message, self.clock(), generation)
        if patch is not None:
            await self._write_status(meta.get("namespace"), meta["name"], meta.get("resourceVersion"), patch)
            await self.events.record(body, "Warning", "InvalidSpec", message)

    # ------------------------------------------------------------------ the tick

    async def tick(self, body: JsonDict) -> Decision | None:
        """One reconcile of one Canary; answers the decision (None when the Canary is refused)."""
        seen = await self._observe(body)
        if seen is None:
            return None
        if seen.plan.suspend or seen.manual.suspend:
            # Flagger's suspend: nothing moves, nothing is called, no request is used up. (What earlier
            # decisions had still to tell was told as the tick started: that is their news, not this tick's.)
            decision = Decision(seen.state)
            await self._persist_outbox(seen)
            self._record_metrics(seen, decision, None)
            return decision
        seen = await self._adopt(seen)
        measured = await self._measure(seen)
        decision = decide(seen.plan, seen.state, measured.world, seen.now)
        drop, ignored = spent_annotations(seen.canary, measured.gates.used, decision.state)
        queued = self._queue(seen, decision, measured, ignored)
        await self._persist(seen, decision, measured.checks, queued)
        try:
            await self._converge(seen, decision, measured.routed)
        except ApiError:
            # The decision is persisted: tell it now, not a retry later (the handler retries converging).
            # Should telling fail too, the next tick tells what is left as it starts; this error is the news.
            with contextlib.suppress(ApiError):
                await self._tell(seen, drop, queued)
            raise
        await self._tell(seen, drop, queued)
        self._record_metrics(seen, decision, measured.checks)
        return decision

    async def _observe(self, body: JsonDict) -> _Seen | None:
        """Parse the Canary and read its workloads; None when the Canary is refused (and that is reported)."""
        started = time.monotonic()
        parsed = await self._parse(body)
        if parsed is None:
            return None
        canary, not_yet = parsed
        # First, what earlier ticks persisted and did not tell (killed, or failed, after persisting): before
        # anything else this tick does can fail.
        await self.outbox.deliver_pending(canary)
        workloads = await read_workloads(self.api, canary)
        if isinstance(workloads, Refusal):
            await self._refuse(canary, workloads.reason, [workloads.message])
            return None
        world = workloads.world(canary)
        provider = PROVIDER_SUPPORT.get(canary.spec.provider or self.settings.default_provider)
        weighted = provider is None or "canary" in provider.strategies
        plan, state = plan_from(canary, self.settings.min_interval, weighted), state_from(canary)
        manual = Manual.read(canary, world.target_hash)
        target, primary, claim = workloads.target, workloads.primary, workloads.claim
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
        if admission_due(canary):
            errors = await admission_errors(self.api, canary)
            if errors:
                await self._refuse(canary, "InvalidSpec", errors)
                return None
        return canary, [p.message for p in problems if p.severity != "refuse"]

    async def _measure(self, seen: _Seen) -> _Measured:
        """Ask the gates that matter this tick, then run the checks when they are due."""
        canary, plan, state, now = seen.canary, seen.plan, seen.state, seen.now
        gates = await open_gates(self.hooks, canary, plan, state, seen.world, now, seen.manual)
        routed, misrouted = await self._read_routes(seen)
        world = replace(gates.world, misrouted=misrouted)
        if not needs_checks(plan, state, world, now):
            return _Measured(world, gates, None, routed)
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
        return _Measured(replace(world, checks=checks.checks, judge=checks.judge), gates, checks, routed)

    async def _read_routes(self, seen: _Seen) -> tuple[Routes | None, str | None]:
        """During an analysis: the split the routing object holds, and why it is not the state's (None if it is).

        A weight saved in status whose route write did not land (the process
        died, or the API failed, between persist and converge) must not be
        judged as if it had carried traffic: the core holds the step and
        restarts its interval once the weight is written again.
        """
        state, primary = seen.state, seen.primary
        ready = deployment_ready(primary, seen.canary.primary_ready_threshold())
        if state.phase not in ANALYSING or seen.target is None or primary is None or not ready:
            return None, None
        want = desired(state, seen.plan).routes
        assert want is not None
        try:
            routed = await self._router(seen.canary).get_routes(seen.canary)
        except RoutingError as error:
            return None, f"the routing object does not hold the step's split ({error.message})"
        if (routed.primary, routed.canary) != (want.primary, want.canary):
            held = f"the routing object sends {routed.canary}% to the canary where the step says {want.canary}%"
            return routed, held
        return routed, None

    def _queue(self, seen: _Seen, decision: Decision, measured: _Measured, ignored: str | None) -> list[OutboxEntry]:
        """What the tick tells, as outbox entries: its Events (a manual request ignored, the gates' failures,
        the decision's, the checks' notices), hooks and chat messages."""
        events: list[TickEvent] = []
        if ignored is not None:
            events.append(("Warning", "ApprovalIgnored", ignored))
        for result in measured.gates.results:
            if not result.ok and result.type != "rollback" and decision.changed:
                events.append(("Warning", "WebhookFailed", result.reason))
        events += [(event.type, event.reason, event.message) for event in decision.events]
        for reason, message in measured.checks.notices if measured.checks else ():
            events.append(("Warning", reason, message))
        hooks = measured.hook_results()
        return self.side.entries(seen.canary, seen.state, decision, measured.checks, hooks, events, seen.now)

    async def _persist(
        self, seen: _Seen, decision: Decision, measured: TickChecks | None, queued: list[OutboxEntry]
    ) -> None:
        """Write the decision and what it tells to status (before anything converges to it or is told:
        a restart resumes from there), and drop the entries told since the last write."""
        outbox = self.outbox.after(seen.canary, queued)
        patch = tick_status(seen.canary, decision, measured, seen.not_yet, seen.now, outbox=outbox)
        if patch:
            await self._patch_status(seen.canary, patch)

    async def _persist_outbox(self, seen: _Seen) -> None:
        """Drop the entries told since the last write (a tick that writes nothing else); no request when none."""
        outbox = self.outbox.after(seen.canary, ())
        if outbox is not None:
            await self._patch_status(seen.canary, {"outbox": outbox_status(outbox)})

    async def _converge(self, seen: _Seen, decision: Decision, routed: Routes | None) -> None:
        """Bring the workloads and routes to what the persisted state wants; a refusal for good is reported.

        ``routed``: the split read from the routing object earlier in this tick, if it was.
        """
        if seen.target is None:
            return
        try:
            await self._converge_workloads(seen, seen.target, decision.state, routed)
            self.events.cleared(seen.canary, "KubernetesRefused")
        except ApiError as error:
            if error.retryable:
                raise  # the handler retries after a delay
            # refused for good as sent (RBAC, a quota, an admission webhook): say so on the Canary; the next
            # tick tries again, as the state asks
            await self.events.warn_once(seen.canary, "KubernetesRefused", f"the API server refused a change: {error}")

    async def _converge_workloads(self, seen: _Seen, target: JsonDict, state: State, routed: Routes | None) -> None:
        """The primary, then traffic, then the canary's replicas (never scaled while traffic is elsewhere)."""
        canary = seen.canary
        want = desired(state, seen.plan)
        primary = await converge_primary(self.api, canary, want, target, seen.primary, state)
        if primary is None:
            return
        if want.routes is not None and deployment_ready(primary, canary.primary_ready_threshold()):
            try:
                if await converge_routes(self._router(canary), canary, want.routes, state, routed):
                    await self._step_took_effect(seen, state)
                self.events.cleared(canary, "RoutingFailed")
            except RoutingError as error:
                # Never scale anything while traffic is not where the state says it is.
                await self.events.warn_once(canary, "RoutingFailed", error.message)
                return
        await converge_replicas(self.api, want, target, primary, canary.primary_ready_threshold())

    async def _step_took_effect(self, seen: _Seen, state: State) -> None:
        """A step's weight was written late in its tick (a slow or throttled API): its interval starts now.

        The decision set ``lastAnalysisTime`` when the tick started. A route write
        that lands seconds later (retries after a 429's Retry-After, say) would
        shorten the step's first interval by that much, and its checks would
        cover traffic that ran partly at the previous weight.
        """
        if state.phase not in ANALYSING:
            return
        now = self.clock()
        if (now - seen.now).total_seconds() > min(ROUTE_LAG, seen.plan.interval / 10):
            canary = seen.canary
            await self._write_status(canary.namespace, canary.name, None, {"lastAnalysisTime": iso_ms(now)})

    async def _tell(self, seen: _Seen, drop: frozenset[str], queued: list[OutboxEntry]) -> None:
        """Deliver what the tick queued (Events now, hooks and chat in the background), then remove the
        used-up annotations.

        Traffic was converged first: a rollback reaches the primary before any side channel is told.
        """
        await self.outbox.deliver(seen.canary, queued)
        await self._clear_used(seen.canary, drop)

    def _record_metrics(self, seen: _Seen, decision: Decision, measured: TickChecks | None) -> None:
        """The tick's outcome for /metrics (when the controller exports them)."""
        if self.recorder is not None:
            provider = seen.canary.spec.provider or self.settings.default_provider
            seconds = time.monotonic() - seen.started
            self.recorder.observe_tick(seen.canary, provider, seen.state, decision, measured, seconds)

    async def drain(self) -> None:
        """Wait for the side-channel work in flight (tests, and shutdown)."""
        await self.outbox.drain()

    async def close(self) -> None:
        """Finish the side channels and release the HTTP clients."""
        await self.drain()
        await self.hooks.close()
        await asyncio.to_thread(self.pool.close)

    async def _clear_used(self, canary: Canary, drop: frozenset[str]) -> None:
        """Remove the manual-control annotations this tick used up (or that no longer apply)."""
        if drop:
            patch = {"metadata": {"annotations": dict.fromkeys(drop)}}
            await self.api.patch(CANARIES, canary.namespace, canary.name, patch)

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
            primary = await self.api.get(DEPLOYMENTS, canary.namespace, canary.primary_deployment_name())
            # as Flagger's Finalize: the primary's replicas; without a primary, the target's own, or 1 from zero
            await scale(self.api, target, replica_count(primary) if primary else replica_count(target) or 1)
        try:
            await self._router(canary).finalize(canary)
            # (a Canary created again under this name is a new one: its problems are news again)
            self.events.forget(canary)
            self.outbox.forget(canary)
        except RoutingError as error:
            # Deleting anyway would let the garbage collector remove the Services an adopted route still sends
            # traffic to: the deletion waits (the handler retries), and says why.
            await self.events.warn_once(
                canary, "FinalizeBlocked", f"{error.message}; the Canary is kept until that is fixed"
            )
            raise
