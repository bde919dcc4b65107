"""Gates and manual control: what the webhooks and the Canary's annotations let through this tick.

Manual control works without editing the spec or running a gate service:
annotations on the Canary, which ``canary approve|abort|retry|suspend|resume``
write and which work from kubectl and GitOps as well:

- ``canary.dev/approve: <revision>`` opens the confirm-* gate the rollout waits
  at, once, for that revision only (the controller removes it once used or
  once the revision is gone);
- ``canary.dev/abort`` rolls the current revision back now;
- ``canary.dev/retry`` runs a failed revision's analysis again (Flagger cannot);
- ``canary.dev/suspend`` pauses the Canary like ``spec.suspend``;
- ``canary.dev/promote: <revision>`` promotes that revision, under analysis,
  without its remaining steps once its checks pass on an analysis tick (the
  confirm-promotion gate still asked); with ``canary.dev/promote-force`` on,
  at once and without checks or gates (a Warning Event). Who asked is
  ``canary.dev/promote-requested-by`` (the ``canary promote`` command writes
  the kubeconfig user; the annotation is not authenticated: the API server's
  audit log is). They are removed together once used, or once the revision
  is no longer under analysis.

``abort`` and ``suspend`` are on unless their value says no (``false``, ``no``,
``off``, ``0``, ``n``, ``none``, ``null`` or empty, in any case): a request is
never dropped for its spelling (``yes``, ``1`` and ``on`` all suspend).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from canary.core import (
    ABORTABLE,
    ANALYSING,
    TERMINAL,
    Check,
    Phase,
    Plan,
    PromoteRequest,
    State,
    World,
    needs_checks,
    needs_pre_rollout,
    new_revision,
    pending_gate,
)
from canary.models import Canary
from canary.operator.webhooks import HookResult, WebhookCaller

__all__ = [
    "ABORT",
    "APPROVE",
    "PROMOTE",
    "PROMOTE_FORCE",
    "PROMOTE_REQUESTED_BY",
    "RETRY",
    "SUSPEND",
    "GateOutcome",
    "Manual",
    "open_gates",
    "spent_annotations",
]

APPROVE = "canary.dev/approve"
ABORT = "canary.dev/abort"
RETRY = "canary.dev/retry"
SUSPEND = "canary.dev/suspend"
PROMOTE = "canary.dev/promote"
PROMOTE_FORCE = "canary.dev/promote-force"
PROMOTE_REQUESTED_BY = "canary.dev/promote-requested-by"
_PROMOTE_ALL = (PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY)

#: Annotation values that mean "no" (compared stripped and lower-cased).
_NO = frozenset({"", "false", "no", "n", "off", "0", "none", "null"})


def _requested(annotations: dict[str, str], key: str) -> bool:
    """Whether an on/off annotation is present and not a "no"."""
    return key in annotations and str(annotations[key]).strip().lower() not in _NO


@dataclass(frozen=True)
class Manual:
    """The manual requests found on the Canary, read against the current revision."""

    approve: bool = False
    abort: bool = False
    retry: bool = False
    suspend: bool = False
    promote: PromoteRequest | None = None

    @classmethod
    def read(cls, canary: Canary, revision: str | None) -> Manual:
        """Parse the annotations; an approval or a promotion for another revision does not count."""
        annotations = canary.metadata.annotations or {}
        promote = None
        if revision is not None and annotations.get(PROMOTE) == revision:
            requester = str(annotations.get(PROMOTE_REQUESTED_BY) or "").strip() or None
            promote = PromoteRequest(force=_requested(annotations, PROMOTE_FORCE), requested_by=requester)
        return cls(
            approve=revision is not None and annotations.get(APPROVE) == revision,
            abort=_requested(annotations, ABORT),
            retry=RETRY in annotations,
            suspend=_requested(annotations, SUSPEND),
            promote=promote,
        )


@dataclass(frozen=True)
class GateOutcome:
    """The world with this tick's gate answers, and which annotations were used up."""

    world: World
    results: tuple[HookResult, ...]
    used: frozenset[str]


def _all_ok(results: list[HookResult]) -> tuple[bool, str]:
    failed = [r.reason for r in results if not r.ok]
    return (not failed, "; ".join(failed))


async def open_gates(
    caller: WebhookCaller, canary: Canary, plan: Plan, state: State, world: World, now: datetime, manual: Manual
) -> GateOutcome:
    """Ask the gate hooks that matter for this tick (and only those) and fold in the manual requests."""
    phase = state.phase.value or "Initializing"
    results: list[HookResult] = []
    used: set[str] = set()
    new = new_revision(state, world)  # (the decision restarts the analysis: only the rollout gate matters)

    def gate(type_: str) -> bool:
        """True when nothing guards this gate, or a manual approval opens it (used up)."""
        if not caller.has(canary, type_):
            return True
        if manual.approve:
            used.add(APPROVE)
            return True
        return False  # the hooks decide

    async def ask(type_: str) -> tuple[bool, str]:
        found = await caller.run(canary, [type_], phase, None, world.target_hash)
        results.extend(found)
        return _all_ok(found)

    # Every new revision passes the confirm-rollout gate, also one arriving mid-rollout.
    if (new or state.phase == Phase.WAITING) and not gate("confirm-rollout"):
        world = replace(world, rollout_gate_open=(await ask("confirm-rollout"))[0])
    if state.phase in ABORTABLE and not new:
        if manual.abort:
            used.add(ABORT)
            world = replace(world, abort_requested=True)
        elif caller.has(canary, "rollback"):
            found = await caller.run(canary, ["rollback"], phase, None, world.target_hash)
            results.extend(found)
            world = replace(world, abort_requested=any(r.ok for r in found))
    if state.phase == Phase.FAILED and manual.retry and not new:
        used.add(RETRY)
        world = replace(world, retry_requested=True)
    if state.phase in ANALYSING and manual.promote is not None and not new:
        world = replace(world, promote=manual.promote)  # (removed once the decision promotes: see spent_annotations)
    if needs_pre_rollout(plan, state, world, now) and caller.has(canary, "pre-rollout"):
        ok, why = await ask("pre-rollout")
        world = replace(world, pre_rollout=Check("pre-rollout", ok, why or "pre-rollout hooks passed"))
    if needs_checks(plan, state, world, now):
        kind = pending_gate(plan, state, world.promote is not None)
        if kind == "traffic" and not gate("confirm-traffic-increase"):
            world = replace(world, traffic_gate_open=(await ask("confirm-traffic-increase"))[0])
        # A judge "pass" may promote before the last step: the promotion gate guards that too.
        if (kind == "promotion" or plan.promote_on_pass) and not gate("confirm-promotion"):
            world = replace(world, promotion_gate_open=(await ask("confirm-promotion"))[0])
    return GateOutcome(world, tuple(results), frozenset(used))


def spent_annotations(canary: Canary, used: frozenset[str], state: State) -> tuple[frozenset[str], str | None]:
    """The manual-control annotations to remove after a tick that ends in ``state``, and why an approval was not used.

    Those the tick ``used`` up, and those that no longer apply: an abort or
    approval with no rollout in flight, an approval or promotion for a
    revision that is not the one under analysis (answered with the reason,
    for a Warning), a retry once the revision is no longer Failed, a
    promotion once the revision is promoted (it was used) or no longer
    under analysis.
    """
    annotations = canary.metadata.annotations or {}
    drop = set(used)
    ignored = []
    settled = state.phase in TERMINAL  # no rollout in flight: nothing left to abort or approve
    if ABORT in annotations and settled:
        drop.add(ABORT)
    for key, verb in ((APPROVE, "approve"), (PROMOTE, "promote")):
        if key in annotations and (settled or annotations[key] != state.last_applied_spec):
            drop.add(key)  # its revision is done, or gone
            if not settled:
                ignored.append(
                    f"{key}: {annotations[key]!r} is not the revision under analysis"
                    f" ({state.last_applied_spec}): removed; {verb} with that revision"
                )
    if PROMOTE in annotations and state.phase not in ABORTABLE:
        drop.add(PROMOTE)  # promoted (used), rolled back, or settled
    if PROMOTE in drop or PROMOTE not in annotations:
        drop.update(_PROMOTE_ALL)  # its companions go with it
    if RETRY in annotations and state.phase != Phase.FAILED:
        drop.add(RETRY)
    return frozenset(drop & set(annotations)), "; ".join(ignored) or None
