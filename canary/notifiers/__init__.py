"""Chat notifications of rollout events (AlertProvider): Slack, Teams, Discord, Google Chat, Rocket.Chat, generic JSON.

- ``base``: the service-neutral :class:`Notification`, the :class:`Notifier`
  protocol, :class:`NotifierError`, and :func:`severity_allows` (the alert filter).
- ``slack``, ``msteams``, ``discord``, ``gchat``, ``rocket``, ``generic``: one pure
  ``render(notification, channel, username) -> dict`` per service.
- ``http``: the one HTTP path (timeout, proxy, bounded retries, secrets redacted).
- ``registry``: :func:`notifier_for` an AlertProvider, by ``spec.type``.
- ``examples``: a realistic notification and the EXAMPLES.md it renders to.
"""

from canary.notifiers.base import (
    DEADLINE_EXCEEDED,
    FAILED_CHECKS,
    NEW_REVISION,
    PROMOTED,
    PROMOTION_FORCED,
    ROLLED_BACK,
    SEVERITIES,
    WAITING_FOR_GATE,
    CheckLine,
    Notification,
    Notifier,
    NotifierError,
    Severity,
    UnknownNotifierTypeError,
    check_lines,
    format_value,
    severity_allows,
)
from canary.notifiers.http import WebhookPoster, redact
from canary.notifiers.registry import (
    GENERIC_TYPE,
    NOTIFIER_TYPES,
    WebhookNotifier,
    known_notifier_types,
    notifier_for,
    notifier_for_type,
)

__all__ = [
    "DEADLINE_EXCEEDED",
    "FAILED_CHECKS",
    "GENERIC_TYPE",
    "NEW_REVISION",
    "NOTIFIER_TYPES",
    "PROMOTED",
    "PROMOTION_FORCED",
    "ROLLED_BACK",
    "SEVERITIES",
    "WAITING_FOR_GATE",
    "CheckLine",
    "Notification",
    "Notifier",
    "NotifierError",
    "Severity",
    "UnknownNotifierTypeError",
    "WebhookNotifier",
    "WebhookPoster",
    "check_lines",
    "format_value",
    "known_notifier_types",
    "notifier_for",
    "notifier_for_type",
    "redact",
    "severity_allows",
]
