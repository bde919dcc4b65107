"""The outbox: every decision's Events, chat messages and hooks are told at least once, whatever fails.

A decision and what it tells are written in one status patch (``status.outbox``),
then delivered. Faults are injected between the two: the process killed right
after the write or while converging (a fresh Reconciler plays the restarted
controller), a retryable API error while converging, the Event create answering
5xx. Each run is compared with the same rollout without the fault: the same
Events, chat messages and hook calls, each exactly once.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from canary.core import Decision, Phase, State
from canary.kube.api import CANARIES, EVENTS, ApiError, JsonDict
from canary.models import Canary
from canary.operator.events import EVENT_MAX_RETRY_AFTER
from canary.operator.gates import ABORT, SUSPEND
from canary.operator.outbox import EVENT_TTL, SIDE_CHANNEL_TTL
from canary.operator.reconcile import Reconciler
from tests.unit.operator.conftest import HookServer
from tests.unit.operator.harness import NS, Harness, canary_body
from tests.unit.operator.test_alerts import provider

TERMINAL = ("Succeeded", "Failed")


class Killed(Exception):
    """The process died here."""


def told(hooks: HookServer) -> dict[str, Any]:
    """A Canary that tells everything: an event hook, a post-rollout hook and a chat alert."""
    webhooks = [hooks.hook("events", "event"), hooks.hook("post", "post-rollout")]
    return canary_body(webhooks=webhooks, alerts=[{"name": "chat", "providerRef": {"name": "slack"}}])


async def events(h: Harness) -> Counter[tuple[str, str, str]]:
    return Counter((e["type"], e["reason"], e["message"]) for e in await h.api.list(EVENTS, NS))


async def status(h: Harness) -> JsonDict:
    body = await h.api.get(CANARIES, NS, "podinfo")
    assert body is not None
    return body.get("status") or {}


def calls(hooks: HookServer) -> Counter[str]:
    """Every hook and chat call, as sent (an event hook's timestamp aside: a fault may shift a tick)."""
    seen: Counter[str] = Counter()
    for path, body in hooks.calls:
        body = json.loads(json.dumps(body))
        if isinstance(body.get("metadata"), dict):
            body["metadata"].pop("timestamp", None)
        seen[f"{path} {json.dumps(body, sort_keys=True)}"] += 1
    return seen


async def rollout(h: Harness, hooks: HookServer, *, abort: bool) -> list[str]:
    """Set up, roll out a new revision (aborted after two ticks, or to the end), until the outbox is empty.

    A tick that dies (Killed) is followed by a restarted controller; one that
    raises an ApiError is retried by the same one, as the handler does.
    """
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    phases = []
    for i in range(20):
        if abort and i == 2:
            await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {ABORT: "true"}}})
        try:
            await h.tick()
        except Killed:
            await h.reconciler.drain()  # (what was under way is done; the rest of memory is lost)
            h.restart()
        except ApiError as error:
            assert error.retryable
        await h.reconciler.drain()
        now = await status(h)
        phases.append(now["phase"])
        if now["phase"] in TERMINAL and "outbox" not in now:
            return phases
    raise AssertionError(f"the rollout did not settle: {phases}")


Fault = Callable[[pytest.MonkeyPatch, Harness, str], list[str]]


def killed_after_persist(monkeypatch: pytest.MonkeyPatch, h: Harness, phase: str) -> list[str]:
    """The process dies right after the decision (and its outbox) is written."""
    fired: list[str] = []
    original = Reconciler._persist

    async def persist(self: Reconciler, seen: Any, decision: Decision, *args: Any) -> None:
        await original(self, seen, decision, *args)
        if not fired and decision.state.phase.value == phase:
            fired.append(phase)
            raise Killed

    monkeypatch.setattr(Reconciler, "_persist", persist)
    return fired


def _in_converge(name: str, error: Callable[[], Exception]) -> Fault:
    """The process dies (Killed), or the API answers an error, while converging the decision."""

    def fault(monkeypatch: pytest.MonkeyPatch, h: Harness, phase: str) -> list[str]:
        fired: list[str] = []
        original = Reconciler._converge_workloads

        async def converge(self: Reconciler, seen: Any, target: JsonDict, state: State, *args: Any) -> None:
            if not fired and state.phase.value == phase:
                fired.append(phase)
                raise error()
            await original(self, seen, target, state, *args)

        monkeypatch.setattr(Reconciler, "_converge_workloads", converge)
        return fired

    fault.__name__ = name
    return fault


killed_in_converge = _in_converge("killed_in_converge", Killed)
api_error_in_converge = _in_converge("api_error_in_converge", lambda: ApiError(503, "ServiceUnavailable", "injected"))


def events_refused_for_a_tick(monkeypatch: pytest.MonkeyPatch, h: Harness, phase: str) -> list[str]:
    """Every Event create answers 503 from the decision's write to the end of its tick."""
    fired: list[str] = []
    original_persist, original_tick = Reconciler._persist, Reconciler.tick

    async def persist(self: Reconciler, seen: Any, decision: Decision, *args: Any) -> None:
        await original_persist(self, seen, decision, *args)
        if not fired and decision.state.phase.value == phase:
            fired.append(phase)
            h.api.fail_creates("events", 503, times=None)

    async def tick(self: Reconciler, body: JsonDict) -> Decision | None:
        try:
            return await original_tick(self, body)
        finally:
            h.api.heal("events")

    monkeypatch.setattr(Reconciler, "_persist", persist)
    monkeypatch.setattr(Reconciler, "tick", tick)
    return fired


async def no_sleep(seconds: float) -> None:
    return None


@pytest.mark.parametrize(
    "fault",
    [killed_after_persist, killed_in_converge, api_error_in_converge, events_refused_for_a_tick],
    ids=lambda fault: fault.__name__,
)
@pytest.mark.parametrize(
    ("abort", "phase"),
    [(True, "Failed"), (False, "Promoting"), (False, "Finalising"), (False, "Succeeded")],
)
async def test_a_fault_between_a_decision_and_its_telling_loses_and_repeats_nothing(
    monkeypatch: pytest.MonkeyPatch, hooks: HookServer, fault: Fault, abort: bool, phase: str
) -> None:
    clean = Harness(told(hooks))
    await rollout(clean, hooks, abort=abort)
    expected_events, expected_calls = await events(clean), calls(hooks)
    hooks.calls.clear()

    h = Harness(told(hooks))
    h.reconciler.events.sleep = no_sleep
    fired = fault(monkeypatch, h, phase)
    await rollout(h, hooks, abort=abort)

    assert fired == [phase]
    assert await events(h) == expected_events
    assert calls(hooks) == expected_calls
    reasons = {reason for _, reason, _ in expected_events}
    assert ("RolledBack" in reasons) if abort else ({"Promoting", "Finalising", "Succeeded"} <= reasons)
    posted = [body["phase"] for path, body in hooks.calls if path == "post"]
    assert posted == ["Failed" if abort else "Succeeded"]  # the post-rollout hook: once


async def about_to_abort(h: Harness, hooks: HookServer) -> None:
    """A rollout two ticks in, and the abort annotation set: the next tick rolls back."""
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    await h.tick()
    await h.tick()
    await h.reconciler.drain()
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {ABORT: "true"}}})


async def aborted_with(
    fault: Fault, error: type[Exception], monkeypatch: pytest.MonkeyPatch, hooks: HookServer
) -> Harness:
    """The tick that rolls back, with ``fault`` injected into it (the tick raises ``error``)."""
    h = Harness(told(hooks))
    fault(monkeypatch, h, "Failed")
    await about_to_abort(h, hooks)
    with pytest.raises(error):
        await h.tick()
    return h


async def rollback_told_once(h: Harness, hooks: HookServer) -> None:
    assert [r for _, r, _ in await events(h)].count("RolledBack") == 1
    assert [b["phase"] for p, b in hooks.calls if p == "post"] == ["Failed"]


async def test_the_outbox_is_written_with_the_decision(monkeypatch: pytest.MonkeyPatch, hooks: HookServer) -> None:
    h = await aborted_with(killed_after_persist, Killed, monkeypatch, hooks)
    written = await status(h)
    assert written["phase"] == "Failed"
    assert "RolledBack" in [e["event"]["reason"] for e in written["outbox"] if e["kind"] == "event"]
    assert [e["hook"]["type"] for e in written["outbox"] if e["kind"] == "hook"] == ["event", "post-rollout"]
    [alert] = [e["alert"] for e in written["outbox"] if e["kind"] == "alert"]
    assert (alert["target"], alert["title"], alert["severity"]) == ("chat", "rolled back", "error")
    assert "RolledBack" not in [r for _, r, _ in await events(h)]  # nothing told yet
    assert len({e["key"] for e in written["outbox"]}) == len(written["outbox"])
    assert Canary.from_kube(await h.api.get(CANARIES, NS, "podinfo") or {}).status.outbox  # it reads back


async def test_a_temporary_api_error_in_converge_still_tells_the_decision_in_that_tick(
    monkeypatch: pytest.MonkeyPatch, hooks: HookServer
) -> None:
    h = await aborted_with(api_error_in_converge, ApiError, monkeypatch, hooks)
    await h.reconciler.drain()
    await rollback_told_once(h, hooks)
    assert "rolled back" in str(hooks.called("slack")[-1])
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and ABORT not in (canary["metadata"].get("annotations") or {})


async def test_a_suspended_canary_still_tells_what_was_decided_before_it(
    monkeypatch: pytest.MonkeyPatch, hooks: HookServer
) -> None:
    h = await aborted_with(killed_after_persist, Killed, monkeypatch, hooks)
    h.restart()
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {SUSPEND: "true"}}})
    for _ in range(3):
        assert (await h.tick())["phase"] == "Failed"
        await h.reconciler.drain()
    assert "outbox" not in await status(h)  # dropped by removal-only writes: nothing else is written
    await rollback_told_once(h, hooks)
    writes = len(h.api.writes())
    await h.tick()
    assert [w for w in h.api.writes()[writes:] if w[1] != "deployments"] == []  # (the harness plays kubelet)


async def test_an_event_create_answering_500_then_201_is_recorded_once_in_the_same_tick() -> None:
    h = Harness()
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    h.reconciler.events.sleep = sleep
    await h.setup()
    await h.tick()
    h.api.fail_creates("events", 500, times=1)
    await h.tick()  # Initialized: its Event answered 500 once
    initialized = [m for t, r, m in await events(h) if r == "Initialized"]
    assert len(initialized) == 1
    assert waits and sum(waits) <= EVENT_MAX_RETRY_AFTER
    assert [e["event"]["reason"] for e in (await status(h))["outbox"]] == ["Initialized"]  # told, not yet removed
    await h.tick()
    assert "outbox" not in await status(h)
    assert len([m for t, r, m in await events(h) if r == "Initialized"]) == 1


async def test_an_event_stored_though_its_answer_was_lost_is_not_recorded_twice() -> None:
    h = Harness()
    h.reconciler.events.sleep = no_sleep
    await h.setup()
    await h.tick()
    h.api.fail_creates("events", 504, times=1, landed=True)
    await h.tick()
    await h.tick()
    assert [r for t, r, m in await events(h)].count("Initialized") == 1


async def test_an_event_the_api_keeps_refusing_stays_in_the_outbox_until_it_recovers() -> None:
    h = Harness()
    h.reconciler.events.sleep = no_sleep
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    h.api.fail_creates("events", 503, times=None)
    phases = [(await h.tick())["phase"] for _ in range(3)]
    assert phases[-1] == "Progressing"  # the rollout goes on
    outbox = (await status(h))["outbox"]
    pending = [e["event"]["reason"] for e in outbox]
    assert pending[0] == "Progressing" and len(pending) >= 3  # kept, in order
    assert not any(r == "Progressing" for _, r, _ in await events(h))
    h.api.heal("events")
    await h.tick()
    await h.tick()
    assert not {e["key"] for e in outbox} & {e["key"] for e in (await status(h)).get("outbox", [])}
    recorded = await h.api.list(EVENTS, NS)
    names = [e["metadata"]["name"] for e in recorded]
    assert len(set(names)) == len(names)
    late = [e for e in recorded if e["metadata"]["name"] in {f"podinfo.{e['key']}" for e in outbox}]
    # each recorded once, in the order decided, with the time it was decided
    assert [e["reason"] for e in late] == pending
    assert [e["firstTimestamp"] for e in late] == sorted(e["firstTimestamp"] for e in late)
    assert [e["firstTimestamp"] for e in late] == [e["queued"] for e in outbox]


async def test_an_event_refused_for_longer_than_its_bound_is_given_up() -> None:
    h = Harness()
    h.reconciler.events.sleep = no_sleep
    await h.setup()
    await h.tick()
    h.api.fail_creates("events", 503, times=None)
    await h.tick()  # Initialized: its Event is refused
    assert [e["event"]["reason"] for e in (await status(h))["outbox"]] == ["Initialized"]
    h.clock.now += EVENT_TTL
    await h.tick()  # tried once more, and given up
    await h.tick()
    assert "outbox" not in await status(h)
    assert [e["reason"] for e in await h.api.list(EVENTS, NS)] == ["Initializing"]  # (before the fault)


class Chat:
    """A chat service behind ``httpx.MockTransport``: answers each post with the status set, records it."""

    def __init__(self) -> None:
        self.status = 503
        self.posts: list[JsonDict] = []
        self.hold: asyncio.Event | None = None

    def told(self, title: str) -> int:
        """How many posts were about ``title`` ("new revision")."""
        return sum(f"* {title}:" in post["text"] for post in self.posts)

    async def handle(self, request: httpx.Request) -> httpx.Response:
        if self.hold is not None:
            await self.hold.wait()
        self.posts.append(json.loads(request.content))
        return httpx.Response(self.status, text="chat is down" if self.status >= 300 else "ok")


async def with_chat(chat: Chat) -> Harness:
    """A Canary with one chat alert, posting to ``chat``, set up and Initialized."""
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "slack"}}]))
    h.reconciler.alerter.client = httpx.AsyncClient(transport=httpx.MockTransport(chat.handle))
    h.reconciler.alerter.sleep = no_sleep
    await provider(h, "slack", "slack", "https://hooks.slack.test/services/T0/B0/secret")
    await h.setup()
    await h.tick()
    await h.tick()
    return h


async def new_revision_told(chat: Chat) -> Harness:
    """As :func:`with_chat`, then a new revision detected: its info message posted (or not) to ``chat``."""
    h = await with_chat(chat)
    await h.new_revision("podinfo:2")
    await h.tick()
    await h.reconciler.drain()
    return h


def alert_failed(recorded: list[JsonDict]) -> list[str]:
    return [e["message"] for e in recorded if e["reason"] == "AlertFailed"]


async def test_a_failing_chat_message_is_retried_reported_once_and_given_up_after_its_bound() -> None:
    chat = Chat()
    h = await new_revision_told(chat)  # refused
    first = chat.told("new revision")
    assert first == 3  # the notifier's own attempts
    for _ in range(3):
        await h.tick(seconds=60)
        await h.reconciler.drain()
    assert chat.told("new revision") == first * 4  # tried again at each tick
    assert len(alert_failed(await h.api.list(EVENTS, NS))) == 1
    assert any(e["kind"] == "alert" for e in (await status(h))["outbox"])
    h.clock.now += SIDE_CHANNEL_TTL
    await h.tick()  # the last attempt
    await h.reconciler.drain()
    tried = chat.told("new revision")
    assert tried == first * 5
    for _ in range(3):
        await h.tick()
        await h.reconciler.drain()
    assert chat.told("new revision") == tried  # given up, and gone from status
    assert not any(e["alert"]["title"] == "new revision" for e in (await status(h)).get("outbox", []) if "alert" in e)
    failures = alert_failed(await h.api.list(EVENTS, NS))
    assert len(failures) == 1 + sum(chat.told(t) > 0 for t in ("promoted", "rolled back"))  # one per message
    assert "HTTP 503" in failures[0] and "hooks.slack.test" not in failures[0]


async def test_a_chat_message_that_fails_once_is_delivered_on_a_later_tick_once() -> None:
    chat = Chat()
    h = await new_revision_told(chat)  # refused
    chat.status = 200
    chat.posts.clear()
    for _ in range(3):
        await h.tick()
        await h.reconciler.drain()
    assert chat.told("new revision") == 1
    assert len(alert_failed(await h.api.list(EVENTS, NS))) == 1


async def test_chat_never_holds_a_tick() -> None:
    chat = Chat()
    chat.status, chat.hold = 200, asyncio.Event()
    h = await with_chat(chat)
    await h.new_revision("podinfo:2")
    phases = [(await h.tick())["phase"] for _ in range(3)]  # the chat endpoint answers nothing meanwhile
    assert phases == ["Progressing"] * 3
    assert chat.posts == []
    chat.hold.set()
    await h.reconciler.drain()
    assert len(chat.posts) == 1  # under way across the ticks, so posted once


async def test_a_restart_after_telling_and_before_the_next_write_repeats_chat_and_hooks_once_not_events(
    hooks: HookServer,
) -> None:
    h = Harness(told(hooks))
    await rollout(h, hooks, abort=True)  # ends with the outbox empty
    # the same, but the controller restarts between telling the rollback and the write that drops it
    hooks.calls.clear()
    again = Harness(told(hooks))
    original = Reconciler._tell

    async def tell_then_die(self: Reconciler, seen: Any, *args: Any) -> None:
        await original(self, seen, *args)
        if seen.state.phase != Phase.FAILED and (await status(again))["phase"] == "Failed":
            await self.drain()
            raise Killed

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Reconciler, "_tell", tell_then_die)
        await rollout(again, hooks, abort=True)
    assert await events(again) == await events(h)  # an Event is named after its key: recorded once
    assert [b["phase"] for p, b in hooks.calls if p == "post"] == ["Failed", "Failed"]  # the bound: once more


async def test_an_idle_canary_makes_no_write_and_no_extra_request(hooks: HookServer) -> None:
    h = Harness(told(hooks))
    await rollout(h, hooks, abort=False)
    hooks.calls.clear()
    requests = []
    for _ in range(50):
        h.clock.now += timedelta(seconds=60)
        body = await h.api.get(CANARIES, NS, "podinfo")
        assert body is not None
        before = len(h.api.calls)
        await h.reconciler.tick(body)
        await h.reconciler.drain()
        requests.append(h.api.calls[before:])
    assert [call for made in requests for call in made if call[0] not in ("get", "list")] == []
    assert all(made == requests[0] for made in requests)  # the same reads each tick
    assert ("get", "canaries", NS, "podinfo") not in requests[0]  # (the outbox is read from the body given)
    assert hooks.calls == []


async def test_a_hand_edited_outbox_entry_is_dropped_not_fatal() -> None:
    h = Harness()
    await h.setup()
    await h.tick()
    gone = {"name": "gone", "type": "event", "phase": "Failed"}  # (a time without a zone reads as UTC)
    junk = [
        {"key": "x", "kind": "event"},
        "junk",
        {"key": "y", "kind": "hook", "queued": "2026-01-01T00:00:00", "hook": gone},
    ]
    await h.api.patch(CANARIES, NS, "podinfo", {"status": {"outbox": junk}})
    body = await h.api.get(CANARIES, NS, "podinfo")
    assert body is not None
    assert [e.key for e in Canary.from_kube(body).status.outbox] == ["y"]
    assert (await h.tick())["phase"] == "Initialized"
    await h.reconciler.drain()
    await h.tick()
    assert "outbox" not in await status(h)  # the hook named is gone from the spec: nothing to call


async def test_a_lagging_body_does_not_tell_again_what_was_told_long_after_it_was_queued(
    hooks: HookServer,
) -> None:
    h = Harness(canary_body(webhooks=[hooks.hook("events", "event")]))
    await h.setup()
    await h.tick()
    await h.tick()
    await h.reconciler.drain()
    hooks.calls.clear()
    late = h.clock.now - timedelta(minutes=30)  # queued long ago (an API outage, a stopped controller)
    entry = {"key": "0123456789abcdef", "kind": "hook", "queued": late.strftime("%Y-%m-%dT%H:%M:%SZ"),
             "hook": {"name": "events", "type": "event", "phase": "Initialized"}}  # fmt: skip
    await h.api.patch(CANARIES, NS, "podinfo", {"status": {"outbox": [entry]}})
    lagging = await h.api.get(CANARIES, NS, "podinfo")
    assert lagging is not None
    await h.tick()
    await h.reconciler.drain()
    await h.tick()  # the write that drops it
    assert "outbox" not in await status(h)
    await h.tick()
    with pytest.raises(ApiError):  # (a body that old cannot be written back: 409)
        await h.reconciler.tick(lagging)
    await h.reconciler.drain()
    assert len(hooks.called("events")) == 1


async def test_what_the_outbox_remembers_of_a_canary_is_forgotten_once_status_is_clean() -> None:
    chat = Chat()
    h = await new_revision_told(chat)  # refused: reported, kept, retried
    chat.status = 200
    for _ in range(80):  # the rollout ends, its messages told, and the remembered keys age out
        await h.tick()
        await h.reconciler.drain()
    assert "outbox" not in await status(h)
    outbox = h.reconciler.outbox
    assert (outbox._settled, outbox._reported, outbox._flight) == ({}, {}, set())
    # a failing message on an idle Canary, then removed from status by someone else: forgotten too
    chat.status = 503
    alert = {
        "target": "chat",
        "title": "rolled back",
        "severity": "error",
        "reason": "x",
        "phase": "Failed",
        "weight": 0,
    }
    queued = h.clock.now.strftime("%Y-%m-%dT%H:%M:%SZ")
    entry = {"key": "0123456789abcdef", "kind": "alert", "queued": queued, "alert": alert}
    await h.api.patch(CANARIES, NS, "podinfo", {"status": {"outbox": [entry]}})
    await h.tick()
    await h.reconciler.drain()
    assert outbox._reported and len(alert_failed(await h.api.list(EVENTS, NS))) == 2
    await h.api.patch(CANARIES, NS, "podinfo", {"status": {"outbox": None}})
    await h.tick()
    assert (outbox._settled, outbox._reported, outbox._flight) == ({}, {}, set())


def test_a_queued_chat_message_keeps_every_check_line_field() -> None:
    """What the outbox keeps of a message is what chat shows later, a dry-run check included."""
    from canary.notifiers.base import CheckLine, Notification
    from canary.operator.outbox import notification_of, queued_alert

    lines = (
        CheckLine("request-success-rate", 97.5, "fail", min=99.0, unit="%", dry_run=True),
        CheckLine("request-duration", None, "error", max=500.0, unit="ms"),
    )
    message = Notification(
        name="podinfo", namespace=NS, phase="Progressing", weight=20, severity="warn", title="halted",
        reason="request-success-rate 97.5 % < 99 % (dry run)", checks=lines, revision="abc",
    )  # fmt: skip
    canary = Canary.model_validate(canary_body())
    queued = queued_alert("on-call", message)
    kept = Canary.model_validate({**canary_body(), "status": {"outbox": [
        {"key": "k", "kind": "alert", "queued": "2026-01-01T00:00:00Z", "alert": queued.model_dump(mode="json")}
    ]}}).status.outbox[0].alert  # fmt: skip
    assert kept is not None
    again = notification_of(canary, kept)
    assert again.checks == lines
    assert (again.title, again.reason, again.weight, again.revision) == (message.title, message.reason, 20, "abc")
