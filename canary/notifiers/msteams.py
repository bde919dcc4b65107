"""Microsoft Teams payloads: an Adaptive Card (version 1.4) in the Bot Framework message envelope.

Why this format and not the legacy ``MessageCard``: Microsoft is retiring the
Office 365 connectors ("Incoming Webhook" app), and their replacement, a Teams
*Workflow* started by "When a Teams webhook request is received" (the "Post to
a channel when a webhook request is received" template), accepts Adaptive
Cards only: Microsoft's connector documentation lists "Workflows support
Adaptive Cards only ... don't support the message card format" as a known
issue. The envelope below is also what the old connector webhooks take, so
one payload reaches both::

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"type": "AdaptiveCard", "version": "1.4", "body": [...]}}]}

The card uses only elements from Adaptive Cards 1.0–1.2 (``Container`` with a
style, ``TextBlock``, ``FactSet``) and declares 1.4, the version Teams renders
on desktop, web and mobile. A coloured ``Container`` (``accent`` / ``warning`` /
``attention``) carries the severity. Teams webhooks have no channel or sender
name fields (a Workflow posts where and as whom it was set up), so ``channel``
and ``username`` are not sent. Teams refuses messages over about 28 KB; the
reason and the check list are cut well below that.
"""

from __future__ import annotations

from typing import Any

import httpx

from canary.notifiers.base import Notification
from canary.notifiers.text import BUDGETS, Budget, json_size, truncate

__all__ = ["ADAPTIVE_CARD_VERSION", "CONTENT_TYPE", "MAX_BYTES", "STYLES", "check_response", "render"]

CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
"""Attachment content type of an Adaptive Card."""
ADAPTIVE_CARD_VERSION = "1.4"
"""Adaptive Card schema version declared."""
STYLES = {"info": "accent", "warn": "warning", "error": "attention"}
"""Container style per severity (blue, amber, red in Teams' themes)."""
MAX_BYTES = 26 * 1024
"""Largest payload sent (Teams refuses messages over about 28 KB)."""


def _text(text: str, limit: int, **extra: Any) -> dict[str, Any]:
    return {"type": "TextBlock", "text": truncate(text, limit), "wrap": True, **extra}


def _facts(pairs: list[tuple[str, str]], budget: Budget) -> dict[str, Any]:
    if len(pairs) > budget.items:
        pairs = [*pairs[: budget.items - 1], ("…", f"{len(pairs) - budget.items + 1} more")]
    return {
        "type": "FactSet",
        "facts": [
            {"title": truncate(title, budget.value), "value": truncate(value or "-", budget.value)}
            for title, value in pairs
        ],
    }


def _card(n: Notification, budget: Budget) -> dict[str, Any]:
    body: list[dict[str, Any]] = [
        {
            "type": "Container",
            "style": STYLES[n.severity],
            "bleed": True,
            "items": [_text(f"{n.icon} {n.headline()}", budget.value, size="Medium", weight="Bolder")],
        }
    ]
    if n.reason:
        body.append(_text(n.reason, budget.text))
    body.append(_facts(n.facts(), budget))
    if n.checks:
        body.append(_text("Checks", 20, weight="Bolder", spacing="Medium"))
        body.append(_facts([(c.name, c.text().removeprefix(f"{c.name}: ")) for c in n.checks], budget))
    verdict = n.verdict_text()
    if verdict:
        body.append(_text(verdict, budget.text, isSubtle=True, spacing="Medium"))
    return {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": ADAPTIVE_CARD_VERSION,
        "msteams": {"width": "Full"},
        "body": body,
    }


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The webhook JSON for ``notification`` (``channel`` and ``username`` do not apply to Teams)."""
    del channel, username  # Teams webhooks post where and as whom they were created.
    payload: dict[str, Any] = {}
    for budget in BUDGETS:  # the first budget whose card fits
        payload = {
            "type": "message",
            "summary": truncate(notification.headline(), 200),
            "attachments": [{"contentType": CONTENT_TYPE, "contentUrl": None, "content": _card(notification, budget)}],
        }
        if json_size(payload) <= MAX_BYTES:
            break
    return payload


def check_response(response: httpx.Response) -> str | None:
    """Old connector webhooks report some failures as HTTP 200 with an error sentence in the body."""
    body = response.text.strip()
    if "delivery failed" in body.lower() or body.lower().startswith("microsoft teams endpoint returned"):
        return f"Teams answered {body[:150]!r}"
    return None
