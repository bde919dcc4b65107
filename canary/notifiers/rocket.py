"""Rocket.Chat incoming-webhook payloads.

Shape (Rocket.Chat's incoming WebHook integration without a script): ``text``
(the message: headline and reason, in Rocket.Chat markdown), ``attachments``
(one, with ``color`` by severity, ``title``, ``text`` and short ``fields`` of
``title``/``value`` pairs for the facts and the checks), and ``channel``
(``#room`` or ``@user``) and ``username`` when set; Rocket.Chat shows
``username`` as the message's alias.

Limits kept: Rocket.Chat refuses messages longer than its
``Message_MaxAllowedSize`` setting (5000 characters by default), so the text is
cut to that; attachment texts are cut to the same bound.
"""

from __future__ import annotations

from typing import Any

from canary.notifiers.base import Notification
from canary.notifiers.text import text_length, truncate

__all__ = ["COLORS", "TEXT_LIMIT", "render"]

TEXT_LIMIT = 5000
"""Rocket.Chat's default ``Message_MaxAllowedSize``."""
COLORS = {"info": "#439FE0", "warn": "#DAA038", "error": "#D40E0D"}
"""Attachment bar colour per severity."""
_MAX_CHECKS = 40


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The incoming-webhook JSON for ``notification``."""
    n = notification
    head = f"{n.icon} *{n.canary}* {n.title}"
    text = head + (": " + truncate(n.reason, TEXT_LIMIT - text_length(head) - 2) if n.reason else "")
    fields = [{"short": True, "title": label, "value": truncate(value or "-", 500)} for label, value in n.facts()]
    for c in n.checks[:_MAX_CHECKS]:
        threshold = c.threshold_text()
        value = c.value_text() + (f" (want {threshold})" if threshold else "") + f": {c.outcome_text()}"
        fields.append({"short": False, "title": truncate(c.name, 200), "value": truncate(value, 500)})
    if len(n.checks) > _MAX_CHECKS:
        fields.append({"short": False, "title": "…", "value": f"{len(n.checks) - _MAX_CHECKS} more checks"})
    attachment: dict[str, Any] = {
        "color": COLORS[n.severity],
        "title": truncate(n.headline(), 200),
        "text": truncate(n.verdict_text() or n.reason or n.title, TEXT_LIMIT),
        "fields": fields,
    }
    if n.timestamp is not None:
        attachment["ts"] = n.timestamp.isoformat()
    payload: dict[str, Any] = {"text": text, "attachments": [attachment]}
    if channel:
        payload["channel"] = channel
    if username:
        payload["username"] = username
    return payload
