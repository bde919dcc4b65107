"""Notifiers by AlertProvider type, posting for real to a local HTTP receiver."""

from __future__ import annotations

from typing import Any

import pytest

from canary.models.alert_provider import AlertProvider
from canary.notifiers import (
    GENERIC_TYPE,
    Notification,
    Notifier,
    NotifierError,
    UnknownNotifierTypeError,
    known_notifier_types,
    notifier_for,
    notifier_for_type,
)
from canary.notifiers.examples import EXAMPLES_PATH, examples_markdown
from tests.unit.notifiers.conftest import Receiver
from tests.unit.notifiers.test_payloads import SERVICES


def provider(type_: str, **spec: Any) -> AlertProvider:
    """An AlertProvider of ``type_``, validated as the controller would read it."""
    return AlertProvider.model_validate(
        {"metadata": {"name": "hook", "namespace": "test"}, "spec": {"type": type_, "address": "http://x/y", **spec}}
    )


def test_every_service_has_a_notifier() -> None:
    assert set(known_notifier_types()) == {"slack", "msteams", "discord", "gchat", "rocket", "generic"}


@pytest.mark.parametrize("type_", ["slack", "msteams", "discord", "gchat", "rocket", "generic"])
async def test_posts_the_services_payload_to_a_real_receiver(
    type_: str, receiver: Receiver, rolled_back: Notification
) -> None:
    receiver.default = (200, {}, "ok" if type_ == "slack" else "")
    notifier = notifier_for(
        provider(type_, channel="#deploys", username="canary"), f"{receiver.url}/hooks/{type_}/T0K3N"
    )
    assert isinstance(notifier, Notifier) and notifier.service == type_
    await notifier.post(rolled_back)
    [request] = receiver.requests
    assert request.method == "POST" and request.path == f"/hooks/{type_}/T0K3N"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    body = request.json()
    render, problems = SERVICES[type_]
    assert body == render(rolled_back, "#deploys", "canary")
    assert problems(body) == []


async def test_a_failing_endpoint_raises_a_notifier_error_naming_the_service(
    receiver: Receiver, rolled_back: Notification
) -> None:
    receiver.default = (404, {}, "no_team")
    notifier = notifier_for(provider("slack"), f"{receiver.url}/services/T/B/secret0123")
    with pytest.raises(NotifierError) as caught:
        await notifier.post(rolled_back)
    assert caught.value.service == "slack" and caught.value.status == 404
    assert "secret0123" not in str(caught.value)


async def test_teams_connector_failure_reported_in_a_200_is_a_failure(
    receiver: Receiver, rolled_back: Notification
) -> None:
    receiver.default = (
        200,
        {},
        "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 413",
    )
    with pytest.raises(NotifierError, match="delivery failed"):
        await notifier_for(provider("msteams"), f"{receiver.url}/webhookb2/abc").post(rolled_back)


async def test_generic_sends_the_token_as_bearer_and_chat_services_do_not(
    receiver: Receiver, rolled_back: Notification
) -> None:
    await notifier_for(provider(GENERIC_TYPE), f"{receiver.url}/generic", token="t0k3n-value").post(rolled_back)
    await notifier_for(provider("rocket"), f"{receiver.url}/rocket", token="t0k3n-value").post(rolled_back)
    generic_request, rocket_request = receiver.requests
    assert generic_request.headers["authorization"] == "Bearer t0k3n-value"
    assert "authorization" not in rocket_request.headers


async def test_proxy_from_the_secret_wins_over_the_spec(receiver: Receiver, rolled_back: Notification) -> None:
    address = "http://chat.example.invalid/hooks/xyz-secret"
    notifier = notifier_for(provider("rocket", proxy="http://127.0.0.1:9/unused"), address, proxy=receiver.url)
    await notifier.post(rolled_back)
    [request] = receiver.requests
    assert request.path == address


def test_unknown_type_is_refused_by_name() -> None:
    with pytest.raises(UnknownNotifierTypeError, match=r"'pagerduty'.*known: slack"):
        notifier_for_type("pagerduty", "https://example.invalid/x")


def test_notifier_repr_shows_no_address() -> None:
    notifier = notifier_for_type("discord", "https://discord.example.invalid/api/webhooks/1/secret-token")
    assert "secret-token" not in repr(notifier)


def test_examples_file_is_current() -> None:
    """EXAMPLES.md shows what the renderers produce today (regenerate: python -m canary.notifiers.examples)."""
    assert EXAMPLES_PATH.read_text(encoding="utf-8") == examples_markdown()
