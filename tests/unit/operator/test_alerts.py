"""Chat alerts from the reconcile loop: who gets what, and a broken endpoint changes nothing."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from canary.kube.api import ALERT_PROVIDERS, CANARIES, EVENTS, SECRETS
from canary.operator.alerts import DefaultAlerts
from canary.operator.gates import ABORT, PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY
from canary.operator.reconcile import Reconciler, ReconcilerSettings
from tests.unit.operator.conftest import HookServer
from tests.unit.operator.harness import NS, Harness, canary_body


async def provider(h: Harness, name: str, type_: str, address: str, secret: bool = False) -> None:
    spec: dict[str, Any] = {"type": type_, "channel": "#deploys"}
    if secret:
        data = {"address": base64.b64encode(address.encode()).decode()}
        await h.api.create(SECRETS, NS, {"metadata": {"name": f"{name}-url"}, "data": data})
        spec["secretRef"] = {"name": f"{name}-url"}
    else:
        spec["address"] = address
    await h.api.create(ALERT_PROVIDERS, NS, {"apiVersion": "canary.dev/v1beta1", "kind": "AlertProvider",
                                              "metadata": {"name": name}, "spec": spec})  # fmt: skip


async def start_revision(h: Harness) -> None:
    """Set the Canary up and detect a new revision (an info message)."""
    await h.setup()
    await h.tick()
    await h.tick()
    await h.new_revision("podinfo:2")
    await h.tick()  # new revision: info


async def rollout_then_abort(h: Harness) -> None:
    await start_revision(h)
    await h.tick()
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {ABORT: "true"}}})
    assert (await h.tick())["phase"] == "Failed"  # rolled back: error
    await h.reconciler.drain()


async def test_each_alert_gets_what_its_severity_admits(hooks: HookServer) -> None:
    alerts = [
        {"name": "everything", "severity": "info", "providerRef": {"name": "slack"}},
        {"name": "on-call", "severity": "error", "providerRef": {"name": "teams"}},
    ]
    h = Harness(canary_body(alerts=alerts))
    await provider(h, "slack", "slack", f"{hooks.url}/slack", secret=True)
    await provider(h, "teams", "msteams", f"{hooks.url}/teams")
    await rollout_then_abort(h)
    slack, teams = hooks.called("slack"), hooks.called("teams")
    assert len(slack) == 2 and len(teams) == 1
    assert "new revision" in str(slack[0]).lower()
    assert "rolled back" in str(teams[0]).lower() and "podinfo" in str(teams[0])
    assert slack[0]["channel"] == "#deploys"
    assert teams[0]["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"


async def test_a_forced_promotion_is_a_warning_in_chat_naming_who_asked(hooks: HookServer) -> None:
    alerts = [{"name": "on-call", "severity": "warn", "providerRef": {"name": "slack"}}]
    h = Harness(canary_body(alerts=alerts))
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await start_revision(h)
    status = await h.tick()  # the analysis starts
    forced = {PROMOTE: status["lastAppliedSpec"], PROMOTE_FORCE: "true", PROMOTE_REQUESTED_BY: "alice"}
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": forced}})
    assert (await h.tick())["phase"] == "Promoting"
    await h.reconciler.drain()
    (message,) = hooks.called("slack")
    assert "promotion forced" in str(message) and "alice" in str(message)


async def test_a_failing_chat_endpoint_becomes_an_event_and_the_rollout_goes_on(hooks: HookServer) -> None:
    hooks.answers["slack"] = (500, "slack is down")
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "slack"}}]))
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await rollout_then_abort(h)
    failures = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "AlertFailed"]
    assert failures and all(hooks.url not in m for m in failures)  # the webhook address is a secret
    canary = await h.api.get(CANARIES, NS, "podinfo")
    assert canary is not None and canary["status"]["phase"] == "Failed"


async def test_the_controller_default_provider_serves_canaries_without_alerts(hooks: HookServer) -> None:
    h = Harness()
    h.reconciler = Reconciler(
        h.api,
        ReconcilerSettings(min_interval=1.0, alerts=DefaultAlerts("discord", f"{hooks.url}/discord")),
        clock=h.clock,
        router_factory=lambda p, a: h.router,  # type: ignore[arg-type, return-value]
    )
    await rollout_then_abort(h)
    posted = hooks.called("discord")
    assert len(posted) == 2
    assert posted[1]["embeds"][0]["description"].startswith("rolling back")


async def test_a_failed_test_hook_is_sent_to_chat_unless_muted(hooks: HookServer) -> None:
    hooks.answers["smoke"] = (500, "smoke test failed")
    hooks.answers["quiet"] = (500, "flaky, known")
    alerts = [{"name": "chat", "providerRef": {"name": "slack"}}]
    webhooks = [hooks.hook("smoke", "pre-rollout"), hooks.hook("quiet", "rollout", muteAlert=True)]
    h = Harness(canary_body(alerts=alerts, webhooks=webhooks, threshold=5))
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await start_revision(h)
    await h.tick()  # pre-rollout fails
    hooks.answers["smoke"] = (200, "ok")
    await h.tick()  # starts
    await h.tick()  # the muted rollout hook fails
    await h.reconciler.drain()
    texts = [str(body) for body in hooks.called("slack")]
    assert any("pre-rollout webhook failed" in t and "smoke test failed" in t for t in texts), texts
    assert not any("flaky, known" in t for t in texts)
    assert len(hooks.called("quiet")) >= 1  # it was called, and failed, but chat heard nothing of it


@pytest.mark.parametrize(
    ("spec", "secret", "why"),
    [
        (
            {"type": "slack", "address": "http://chat.invalid/x", "bogus": 1},
            None,
            "is invalid: spec.bogus: Extra inputs",
        ),
        ({"type": "slack", "secretRef": {"name": "chat-url"}}, None, "Secret test/chat-url not found"),
        ({"type": "slack", "secretRef": {"name": "chat-url"}}, {"address": "!!!not base64"}, "not base64 text"),
    ],
)
async def test_a_broken_alert_provider_is_reported_as_an_event_naming_it(
    spec: dict[str, Any], secret: dict[str, str] | None, why: str
) -> None:
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "chat"}}]))
    if secret is not None:
        await h.api.create(SECRETS, NS, {"metadata": {"name": "chat-url"}, "data": secret})
    await h.api.create(ALERT_PROVIDERS, NS, {"apiVersion": "canary.dev/v1beta1", "kind": "AlertProvider",
                                              "metadata": {"name": "chat"}, "spec": spec})  # fmt: skip
    await rollout_then_abort(h)
    failures = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "AlertFailed"]
    assert failures, "no AlertFailed Event"
    assert all("alert chat: AlertProvider test/chat" in m and why in m for m in failures), failures
    assert not any("chat.invalid" in m for m in failures)  # never the address


@pytest.mark.parametrize("saved", ["pass", {"outcome": 3, "reason": ["x"]}, {"metrics": "junk"}])
async def test_a_hand_edited_verdict_in_status_does_not_break_chat_messages(hooks: HookServer, saved: Any) -> None:
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "slack"}}]))
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await start_revision(h)
    await h.api.patch(CANARIES, NS, "podinfo", {"status": {"judge": {"verdict": saved}}})
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {ABORT: "true"}}})
    assert (await h.tick())["phase"] == "Failed"
    await h.reconciler.drain()
    assert any("rolled back" in str(m).lower() for m in hooks.called("slack"))


async def test_a_broken_alert_does_not_silence_the_others(hooks: HookServer) -> None:
    alerts = [{"name": "gone", "providerRef": {"name": "nowhere"}}, {"name": "chat", "providerRef": {"name": "slack"}}]
    h = Harness(canary_body(alerts=alerts))
    await provider(h, "slack", "slack", f"{hooks.url}/slack")
    await rollout_then_abort(h)
    assert len(hooks.called("slack")) == 2  # the new revision and the rollback
    failures = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "AlertFailed"]
    assert failures and all(m.endswith("alert gone: AlertProvider test/nowhere not found") for m in failures)


async def test_a_secret_address_with_a_trailing_newline_is_used(hooks: HookServer) -> None:
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "slack"}}]))
    await provider(h, "slack", "slack", f"{hooks.url}/slack\n", secret=True)  # `echo ... | base64`
    await rollout_then_abort(h)
    assert len(hooks.called("slack")) == 2


@pytest.mark.parametrize(
    ("spec", "why"),
    [
        ({"type": "slack", "address": "http://xn--zz.example/hook"}, "the address cannot be called"),
        (
            {"type": "slack", "address": "http://127.0.0.1:9/hook", "proxy": "proxy.corp:3128"},
            "the proxy cannot be used",
        ),
    ],
)
async def test_an_address_or_proxy_that_cannot_be_used_is_an_alert_failed_event(spec: dict[str, Any], why: str) -> None:
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "chat"}}]))
    await h.api.create(ALERT_PROVIDERS, NS, {"apiVersion": "canary.dev/v1beta1", "kind": "AlertProvider",
                                              "metadata": {"name": "chat"}, "spec": spec})  # fmt: skip
    await rollout_then_abort(h)
    failures = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "AlertFailed"]
    assert failures and all(why in m for m in failures), failures
    assert not any("xn--zz" in m or "proxy.corp" in m for m in failures)  # never the address


async def test_a_secret_token_with_a_trailing_newline_is_sent_without_it(hooks: HookServer) -> None:
    h = Harness(canary_body(alerts=[{"name": "chat", "providerRef": {"name": "generic"}}]))
    data = {
        k: base64.b64encode(v.encode()).decode()
        for k, v in {"address": f"{hooks.url}/generic", "token": "s3cr3t\n"}.items()
    }
    await h.api.create(SECRETS, NS, {"metadata": {"name": "generic-secret"}, "data": data})
    await h.api.create(ALERT_PROVIDERS, NS, {"apiVersion": "canary.dev/v1beta1", "kind": "AlertProvider",
                                              "metadata": {"name": "generic"},
                                              "spec": {"type": "generic", "secretRef": {"name": "generic-secret"}}})  # fmt: skip
    await rollout_then_abort(h)
    assert len(hooks.called("generic")) == 2
    failures = [e["message"] for e in await h.api.list(EVENTS, NS) if e["reason"] == "AlertFailed"]
    assert failures == []
