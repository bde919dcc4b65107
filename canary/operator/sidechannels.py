"""A tick's side channels: the event and post-rollout hooks and the chat alerts, in the background.

They are told after the decision is persisted and traffic converged, and
never delay or change it: their work runs as background tasks, and their
failures are Events (``WebhookFailed``, ``AlertFailed``) and log lines.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import datetime
from typing import Any

from canary.core import Decision, Phase, State
from canary.models import Canary
from canary.operator.alerts import Alerter
from canary.operator.checks import TickChecks
from canary.operator.events import CanaryEvents
from canary.operator.status import iso
from canary.operator.webhooks import HookResult, WebhookCaller

__all__ = ["SideChannels"]


class SideChannels:
    """Tells the hooks and chat what a tick decided, in background tasks (``drain`` waits for them)."""

    def __init__(self, hooks: WebhookCaller, alerter: Alerter, events: CanaryEvents) -> None:
        self.hooks = hooks
        self.alerter = alerter
        self.events = events
        self._tasks: set[asyncio.Task[Any]] = set()

    def tell(
        self,
        canary: Canary,
        previous: State,
        decision: Decision,
        measured: TickChecks | None,
        hook_results: Sequence[HookResult],
        now: datetime,
    ) -> None:
        """Queue the event hooks, the chat alerts and, when the rollout ended, the post-rollout hooks.

        ``previous`` is the state the tick started from; ``hook_results`` are
        the tick's hook answers (a failed test hook is an alert, as in Flagger).
        """
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
            measured.judge_status if measured else None,
        )
        ended = decision.state.phase in (Phase.SUCCEEDED, Phase.FAILED) and decision.state.phase != previous.phase
        if ended and previous.phase != Phase.INITIALIZING:
            self._background(self._post_rollout(canary, phase, revision))
        # Flagger alerts on a failed test hook unless the hook says muteAlert (gates only wait: no alert).
        for result in hook_results:
            if not result.ok and not result.muted and result.type in ("pre-rollout", "rollout"):
                self.alerter.send_text(canary, decision.state, f"{result.type} webhook failed", "warn", result.reason)

    async def _post_rollout(self, canary: Canary, phase: str, revision: str | None) -> None:
        """Call the post-rollout hooks; a failed one is a Warning Event and changes nothing else."""
        for result in await self.hooks.run(canary, ["post-rollout"], phase, None, revision):
            if not result.ok:
                await self.events.event(canary, "Warning", "WebhookFailed", result.reason)

    def _background(self, work: Coroutine[Any, Any, Any]) -> None:
        """Run ``work`` as a task the tick does not wait for (kept, so it is not collected, and drained)."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait for the work in flight (tests, and shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        await self.alerter.drain()
