"""The reconcile tick: observe -> (check) -> decide -> persist -> converge.

This module holds the imperative shell around :mod:`canary.core`. It knows
nothing of kopf: :mod:`canary.operator.handlers` calls :meth:`Reconciler.tick`
from a timer with the Canary's raw body, and tests call it directly.

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

from canary.core import (
    TERMINAL,
    Decision,
    Desired,
    Phase,
    Replicas,
    State,
    World,
    decide,
    desired,
    needs_checks,
)
from canary.kube.api import CANARIES, DEPLOYMENTS, ApiError, JsonDict, KubeApi
from canary.kube.events import record_event
from canary.kube.workloads import (
    TEMPLATE_HASH_ANNOTATION,
    deployment_ready,
    render_primary,
    replica_count,
    scale,
    selector_label,
    template_hash,
)
from canary.models import Canary, CanaryCheck, describe, judge_verdict
from canary.operator.alerts import Alerter, DefaultAlerts
from canary.operator.checks import TickChecks, TickContext, run_checks
from canary.operator.gates import ABORT, APPROVE, RETRY, Manual, open_gates, rollout_hook_checks
from canary.operator.metrics import Recorder
from canary.operator.ownership import PrimaryClaim, describe_owner, owner_reference, primary_claim, primary_taken
from canary.operator.status import PROMOTED, condition, conditions_differ, iso, plan_from, state_from, well_formed
from canary.operator.webhooks import WebhookCaller
from canary.providers.checks import ProviderPool
from canary.routers.base import Router, RoutingError
from canary.routers.registry import router_for, unsupported

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

    async def _patch_status(self, body: JsonDict, status: JsonDict) -> None:
        """Write status only if the Canary is still the one this tick read (409 otherwise).

        A tick on a stale body (a lagging watch) must not overwrite what a
        later tick persisted: that is how a weight could move backwards.
        """
        meta = body["metadata"]
        patch: JsonDict = {"status": status}
        if meta.get("resourceVersion"):
            patch["metadata"] = {"resourceVersion": meta["resourceVersion"]}
        await self.api.patch(CANARIES, meta.get("namespace"), meta["name"], patch, subresource="status")

    async def _adopt(self, body: JsonDict, canary: Canary, primary: JsonDict) -> JsonDict:
        """Make a free primary this Canary's (so the garbage collector does not remove one whose owner is gone)."""
        name = primary["metadata"]["name"]
        adopted = f"adopted Deployment {canary.namespace}/{name} (it was {describe_owner(primary)})"
        refs = primary["metadata"].get("ownerReferences") or []
        others = [r for r in refs if isinstance(r, dict) and not r.get("controller")]
        references = {"metadata": {"ownerReferences": [*others, owner_reference(body)]}}
        try:
            primary = await self.api.patch(DEPLOYMENTS, canary.namespace, name, references)
        except ApiError as error:
            if error.temporary or error.status == 409:
                raise
            await self._warn_once(body, canary, "KubernetesRefused", f"the API server refused a change: {error}")
            return primary
        await self._event(body, "Normal", "PrimaryAdopted", adopted)
        return primary

    async def _warn_once(self, body: JsonDict, canary: Canary, reason: str, message: str) -> None:
        """A Warning Event for a problem that repeats each tick until it clears: once per distinct message."""
        key = (canary.namespace, canary.name, reason)
        if self._reported.get(key) != message:
            self._reported[key] = message
            await self._event(body, "Warning", reason, message)
        log.warning("%s %s/%s: %s", reason, canary.namespace, canary.name, message)

    def _cleared(self, canary: Canary, reason: str) -> None:
        """The problem reported under ``reason`` is gone: report it again if it comes back."""
        self._reported.pop((canary.namespace, canary.name, reason), None)

    async def _event(self, body: JsonDict, type_: str, reason: str, message: str) -> None:
        try:
            await record_event(self.api, body, type_, reason, message, self.clock())
        except ApiError as error:  # a side channel: never stops the rollout
            log.warning("could not record event on %s: %s", body["metadata"].get("name"), error)

    async def _refuse(self, body: JsonDict, reason: str, lines: list[str]) -> None:
        """Report an invalid or unsupported Canary once: a condition and a Warning Event."""
        message = "; ".join(lines)
        status = body.get("status") or {}
        old = next((c for c in well_formed(status.get("conditions")) if c.get("type") == "Valid"), None)
        if old is not None and old.get("status") == "False" and old.get("message") == message:
            return
        now = self.clock()
        conditions = condition(status.get("conditions"), "Valid", "False", reason, message, now)
        await self._patch_status(body, {"conditions": conditions, "message": message})
        await self._event(body, "Warning", reason, message)

    # ------------------------------------------------------------------ the tick

    async def tick(self, body: JsonDict) -> Decision | None:
        """One reconcile of one Canary; answers the decision (None when the spec is refused)."""
        started = time.monotonic()
        try:
            canary = Canary.from_kube(body)
        except ValidationError as error:
            await self._refuse(body, "InvalidSpec", [f"invalid Canary: {line}" for line in describe(error)])
            return None
        problems = unsupported(canary, self.settings.default_provider)
        refused = [p.message for p in problems if p.severity == "refuse"]
        if refused:
            await self._refuse(body, "Unsupported", refused)
            return None
        not_yet = [p.message for p in problems if p.severity != "refuse"]

        namespace = canary.namespace
        target = await self.api.get(DEPLOYMENTS, namespace, canary.spec.targetRef.name)
        if target is not None:
            try:
                selector_label(target)
            except ValueError as error:
                await self._refuse(body, "InvalidTarget", [str(error)])
                return None
        primary_name = canary.primary_name()
        primary = await self.api.get(DEPLOYMENTS, namespace, primary_name)
        claim: PrimaryClaim = primary_claim(primary, body) if primary is not None else "this"
        taken = primary_taken(primary, claim, target) if primary is not None else None
        if taken is not None:
            await self._refuse(
                body,
                "PrimaryNotOwned",
                [f"Deployment {namespace}/{primary_name} exists and is not this Canary's: {taken}"],
            )
            return None
        plan = plan_from(canary, self.settings.min_interval)
        state = state_from(canary)
        world = World(
            target_hash=template_hash(target) if target is not None else None,
            primary_ready=deployment_ready(primary),
            primary_hash=((primary or {}).get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION),
            canary_ready=deployment_ready(target),
        )
        now = self.clock()
        manual = Manual.read(body, world.target_hash)
        if plan.suspend or manual.suspend:
            # Flagger's suspend: nothing moves, nothing is called, no request is used up.
            decision = Decision(state)
            self._observe(canary, state, decision, None, started)
            return decision
        if primary is not None and claim == "free" and target is not None:
            primary = await self._adopt(body, canary, primary)
        gates = await open_gates(self.hooks, canary, plan, state, world, now, manual)
        world = gates.world
        hook_results = gates.results
        measured: TickChecks | None = None
        if needs_checks(plan, state, world, now):
            settings = self.settings
            tick = TickContext(
                self.api, self.pool, settings.default_provider, settings.prometheus_url, plan.interval, now
            )
            measured = await run_checks(canary, tick)
            hooks, rollout_results = await rollout_hook_checks(self.hooks, canary, state.phase.value, world.target_hash)
            hook_results += rollout_results
            measured.checks = measured.checks + hooks
            measured.records.extend(
                CanaryCheck(name=c.name, outcome="pass" if c.ok else "fail", reason=c.reason) for c in hooks
            )
            world = replace(world, checks=measured.checks, judge=measured.judge)
        decision = decide(plan, state, world, now)
        await self._persist(body, canary, decision, measured, not_yet, now)
        # Traffic first: a rollback reaches the primary before any side channel is told.
        if target is not None:
            try:
                await self._converge(canary, body, desired(decision.state, plan), target, primary, decision.state)
                self._cleared(canary, "KubernetesRefused")
            except ApiError as error:
                if error.temporary or error.status == 409:
                    raise  # the handler retries after a delay
                # refused for good as sent (RBAC, a quota, an admission webhook): say so on the Canary; the next
                # tick tries again, as the state asks
                await self._warn_once(body, canary, "KubernetesRefused", f"the API server refused a change: {error}")
        await self._clear_used(body, canary, gates.used, decision)
        for result in gates.results:
            if not result.ok and result.type != "rollback" and decision.changed:
                await self._event(body, "Warning", "WebhookFailed", result.reason)
        for event in decision.events:
            await self._event(body, event.type, event.reason, event.message)
        for reason, message in measured.notices if measured else ():
            await self._event(body, "Warning", reason, message)
        self._side_channels(canary, body, state, decision, measured, now)
        # Flagger alerts on a failed test hook unless the hook says muteAlert (gates only wait: no alert).
        for result in hook_results:
            if not result.ok and not result.muted and result.type in ("pre-rollout", "rollout"):
                self.alerter.send_text(canary, decision.state, f"{result.type} webhook failed", "warn", result.reason)
        self._observe(canary, state, decision, measured, started)
        return decision

    def _side_channels(
        self,
        canary: Canary,
        body: JsonDict,
        state: State,
        decision: Decision,
        measured: TickChecks | None,
        now: datetime,
    ) -> None:
        """Event and post-rollout hooks and chat alerts: in the background, never delaying a decision."""
        phase = decision.state.phase.value
        revision = decision.state.last_applied_spec
        for event in decision.events:
            extra = {"eventMessage": event.message, "eventType": event.type, "timestamp": iso(now) or ""}
            self._background(self.hooks.run(canary, ["event"], phase, extra, revision))
        self.alerter.send(
            canary,
            decision.events,
            phase,
            decision.state.canary_weight,
            measured.records if measured else (),
            judge_verdict(measured.judge_status) if measured and measured.judge_status else None,
        )
        ended = decision.state.phase in (Phase.SUCCEEDED, Phase.FAILED) and decision.state.phase != state.phase
        if ended and state.phase != Phase.INITIALIZING:

            async def post_rollout() -> None:
                for result in await self.hooks.run(canary, ["post-rollout"], phase, None, revision):
                    if not result.ok:
                        await self._event(body, "Warning", "WebhookFailed", result.reason)

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

    def _observe(
        self, canary: Canary, state: State, decision: Decision, measured: TickChecks | None, started: float
    ) -> None:
        if self.recorder is None:
            return
        self.recorder.observe(
            name=canary.name,
            namespace=canary.namespace,
            target=canary.spec.targetRef.name,
            primary=canary.primary_name(),
            provider=canary.spec.provider or self.settings.default_provider,
            strategy=canary.strategy(),
            phase=decision.state.phase.value,
            previous_phase=state.phase.value,
            canary_weight=decision.state.canary_weight,
            failed_checks=decision.state.failed_checks,
            seconds=time.monotonic() - started,
            checks=[c.model_dump(mode="json") for c in measured.records] if measured else (),
            judge=measured.judge_status if measured else None,
        )

    async def _alert_failed(self, canary: Canary, message: str) -> None:
        body = {"apiVersion": canary.apiVersion, "kind": "Canary", "metadata": canary.metadata.model_dump(mode="json")}
        await self._event(body, "Warning", "AlertFailed", f"chat notification failed: {message}")

    async def _clear_used(self, body: JsonDict, canary: Canary, used: frozenset[str], decision: Decision) -> None:
        """Remove the manual-control annotations this tick used up (or that no longer apply)."""
        annotations = body.get("metadata", {}).get("annotations") or {}
        drop = set(used)
        settled = decision.state.phase in TERMINAL  # no rollout in flight: nothing left to abort or approve
        if ABORT in annotations and settled:
            drop.add(ABORT)
        if APPROVE in annotations and (settled or annotations[APPROVE] != decision.state.last_applied_spec):
            drop.add(APPROVE)  # its revision is done, or gone
            if not settled:
                await self._event(
                    body, "Warning", "ApprovalIgnored",
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

    async def _persist(
        self,
        body: JsonDict,
        canary: Canary,
        decision: Decision,
        measured: TickChecks | None,
        not_yet: list[str],
        now: datetime,
    ) -> None:
        status_body: JsonDict = body.get("status") or {}
        state = decision.state
        patch: dict[str, Any] = {}
        conditions = well_formed(status_body.get("conditions"))
        promoted = PROMOTED.get(state.phase)
        if promoted is not None:
            conditions = condition(conditions, "Promoted", promoted[0], promoted[1], state.message, now)
        conditions = condition(conditions, "Valid", "True", "Valid", "the spec is valid", now)
        if not_yet:
            conditions = condition(conditions, "Supported", "False", "NotSupportedYet", "; ".join(not_yet), now)
        else:
            conditions = condition(conditions, "Supported", "True", "Supported", "every field in use is supported", now)
        if decision.changed or measured is not None or conditions_differ(status_body.get("conditions"), conditions):
            patch.update(
                {
                    "phase": state.phase.value,
                    "canaryWeight": state.canary_weight,
                    "failedChecks": state.failed_checks,
                    "iterations": state.iterations,
                    "lastAppliedSpec": state.last_applied_spec,
                    "lastPromotedSpec": state.last_promoted_spec,
                    "lastTransitionTime": iso(state.last_transition_time),
                    "lastAnalysisTime": iso(state.last_analysis_time),
                    "message": state.message,
                    "observedGeneration": canary.metadata.generation,
                    "conditions": conditions,
                }
            )
        fresh_start = state.phase == Phase.PROGRESSING and state.canary_weight == 0 and state.iterations == 0
        if fresh_start and status_body.get("judge"):
            patch["judge"] = None  # a new or retried analysis starts from no evidence (merge patch: delete)
        if measured is not None:
            patch["checks"] = [c.model_dump(mode="json", exclude_none=True) for c in measured.records]
            if measured.judge_status is not None:
                patch["judge"] = measured.judge_status
        if patch:
            await self._patch_status(body, patch)

    async def _converge(
        self,
        canary: Canary,
        body: JsonDict,
        want: Desired,
        target: JsonDict,
        primary: JsonDict | None,
        state: State,
    ) -> None:
        namespace = canary.namespace
        if want.ensure_primary and primary is None:
            rendered = render_primary(target, owner_reference(body))
            await self.api.create(DEPLOYMENTS, namespace, rendered)
            return  # the primary must become ready before anything routes to it
        if primary is None:
            return
        target_hash = template_hash(target)
        primary_hash = (primary.get("metadata", {}).get("annotations") or {}).get(TEMPLATE_HASH_ANNOTATION)
        # Only the analysed revision is ever promoted (a change since then restarts the analysis first);
        # initialization makes the target's template the first primary (an adopted one may run another).
        first = state.phase in (Phase.NEW, Phase.INITIALIZING)
        if (
            want.primary_from_target
            and primary_hash != target_hash
            and (first or target_hash == state.last_applied_spec)
        ):
            rendered = render_primary(target, owner_reference(body), replicas=replica_count(primary))
            rendered["metadata"]["resourceVersion"] = primary["metadata"].get("resourceVersion")
            rendered["metadata"]["labels"] = {
                **(primary["metadata"].get("labels") or {}),
                **rendered["metadata"]["labels"],
            }
            await self.api.replace(DEPLOYMENTS, namespace, primary["metadata"]["name"], rendered)
        if want.routes is not None and deployment_ready(primary):
            try:
                router = self._router(canary)
                try:
                    current = await router.get_routes(canary)
                except RoutingError:
                    current = None  # not there yet, or not ours yet: reconcile creates or adopts it
                if current is None or state.phase in (Phase.INITIALIZING, Phase.INITIALIZED):
                    await router.reconcile(canary)
                if current != want.routes:
                    await router.set_routes(canary, want.routes)
                self._cleared(canary, "RoutingFailed")
            except RoutingError as error:
                # Never scale anything while traffic is not where the state says it is.
                await self._warn_once(body, canary, "RoutingFailed", error.message)
                return
        if want.canary_replicas == Replicas.UP:
            await scale(self.api, target, replica_count(primary))
        elif want.canary_replicas == Replicas.ZERO and deployment_ready(primary):
            await scale(self.api, target, 0)

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
            await self._warn_once(
                body, canary, "FinalizeBlocked", f"{error.message}; the Canary is kept until that is fixed"
            )
            raise
