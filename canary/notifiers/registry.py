"""Notifiers by AlertProvider ``spec.type``: one renderer per service, one shared HTTP path.

The controller reads the hook URL (and optionally ``proxy`` and ``token``)
from the AlertProvider's Secret, then asks :func:`notifier_for` for a
:class:`Notifier` and awaits ``post(notification)``. An unknown type is an
:class:`UnknownNotifierTypeError` (there is no fallback service).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from canary.models.alert_provider import AlertProvider
from canary.notifiers import discord, gchat, generic, msteams, rocket, slack
from canary.notifiers.base import Notification, UnknownNotifierTypeError
from canary.notifiers.http import DEFAULT_ATTEMPTS, DEFAULT_TIMEOUT, ResponseCheck, WebhookPoster, register_secret

__all__ = [
    "GENERIC_TYPE",
    "NOTIFIER_TYPES",
    "Renderer",
    "Service",
    "WebhookNotifier",
    "known_notifier_types",
    "notifier_for",
    "notifier_for_type",
]

Renderer = Callable[[Notification, str | None, str | None], dict[str, Any]]
"""A pure payload builder: ``render(notification, channel, username) -> JSON object``."""

GENERIC_TYPE = "generic"
"""Our AlertProvider type for the generic JSON webhook (not one of Flagger's types)."""


@dataclass(frozen=True)
class Service:
    """How to talk to one chat service: its renderer and its check of an accepted answer."""

    type: str
    """The AlertProvider ``spec.type``."""
    render: Renderer
    """Builds the JSON body."""
    check_response: ResponseCheck | None = None
    """Finds failures a service reports inside a 2xx answer."""


NOTIFIER_TYPES: dict[str, Service] = {
    "slack": Service("slack", slack.render, slack.check_response),
    "msteams": Service("msteams", msteams.render, msteams.check_response),
    "discord": Service("discord", discord.render),
    "gchat": Service("gchat", gchat.render),
    "rocket": Service("rocket", rocket.render),
    GENERIC_TYPE: Service(GENERIC_TYPE, generic.render),
}
"""Every service we post to, by AlertProvider type."""


def known_notifier_types() -> tuple[str, ...]:
    """The AlertProvider types :func:`notifier_for` accepts."""
    return tuple(NOTIFIER_TYPES)


class WebhookNotifier:
    """A :class:`~canary.notifiers.base.Notifier` that renders for one service and posts to one address."""

    def __init__(
        self,
        service: Service,
        poster: WebhookPoster,
        *,
        channel: str | None = None,
        username: str | None = None,
    ) -> None:
        self._service = service
        self._poster = poster
        self.channel = channel
        self.username = username

    @property
    def service(self) -> str:
        """The AlertProvider type posted to."""
        return self._service.type

    def __repr__(self) -> str:  # never the address
        return f"WebhookNotifier(service={self.service!r}, channel={self.channel!r})"

    def render(self, notification: Notification) -> dict[str, Any]:
        """The JSON body :meth:`post` sends for ``notification``."""
        return self._service.render(notification, self.channel, self.username)

    async def post(self, notification: Notification) -> None:
        """Render and deliver ``notification``; :class:`NotifierError` (address-free) when it fails."""
        await self._poster.post_json(self.render(notification))


def notifier_for_type(
    type_: str,
    address: str,
    *,
    channel: str | None = None,
    username: str | None = None,
    proxy: str | None = None,
    token: str | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> WebhookNotifier:
    """A notifier for service ``type_`` posting to ``address`` (for a default provider set by flags).

    ``token`` is sent as ``Authorization: Bearer`` to the generic webhook only
    (chat services authenticate by the secret URL itself).
    """
    service = NOTIFIER_TYPES.get(type_)
    if service is None:
        raise UnknownNotifierTypeError(
            f"unknown alert provider type {type_!r} (known: {', '.join(NOTIFIER_TYPES)})", service=type_
        )
    headers = {"Authorization": f"Bearer {token}"} if token and type_ == GENERIC_TYPE else None
    extra: dict[str, Any] = {} if sleep is None else {"sleep": sleep}
    poster = WebhookPoster(
        address,
        service=type_,
        proxy=proxy,
        timeout=timeout,
        attempts=attempts,
        client=client,
        headers=headers,
        check_response=service.check_response,
        **extra,
    )
    if token:
        register_secret(token)
    return WebhookNotifier(service, poster, channel=channel, username=username)


def notifier_for(
    provider: AlertProvider,
    address: str,
    *,
    proxy: str | None = None,
    token: str | None = None,
    client: httpx.AsyncClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    attempts: int = DEFAULT_ATTEMPTS,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> WebhookNotifier:
    """A notifier for ``provider`` posting to ``address`` (resolved by the caller from ``secretRef`` or ``spec.address``).

    ``proxy`` (from the Secret) wins over ``spec.proxy``. The provider's
    ``channel`` and ``username`` are passed to the renderer.
    """
    spec = provider.spec
    return notifier_for_type(
        str(spec.type),
        address,
        channel=spec.channel,
        username=spec.username,
        proxy=proxy or spec.proxy,
        token=token,
        client=client,
        timeout=timeout,
        attempts=attempts,
        sleep=sleep,
    )
