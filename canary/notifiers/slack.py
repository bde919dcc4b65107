"""Slack incoming-webhook payloads.

Shape (Slack's documented incoming-webhook message): a top-level ``text`` in
Slack ``mrkdwn`` that Slack shows as the message and uses for notifications,
and one legacy ``attachments`` entry whose ``color`` paints the bar by
severity and whose ``blocks`` (Block Kit) hold the details: a ``section`` with
``fields`` (canary, namespace, cluster, phase, weight), a ``section`` listing
the checks, and a ``context`` block with the judge's verdict. ``channel`` and
``username`` are sent when the AlertProvider sets them (legacy webhooks honour
them; webhooks of Slack apps are bound to their channel and ignore them).

Limits kept (Slack's Block Kit reference): section text ≤ 3000 characters,
≤ 10 section fields of ≤ 2000 each, ≤ 10 context elements, ≤ 50 blocks; the
message ``text`` is kept under 3000 though Slack would take 40 000. Text is
escaped the way Slack asks (only ``&``, ``<``, ``>``), so "97.2 % < 99 %"
shows as written instead of starting a link.
"""

from __future__ import annotations

from typing import Any

import httpx

from canary.notifiers.base import Notification
from canary.notifiers.text import fit, truncate

__all__ = [
    "COLORS",
    "FIELD_LIMIT",
    "MAX_FIELDS",
    "SECTION_LIMIT",
    "TEXT_LIMIT",
    "check_response",
    "escape",
    "render",
]

SECTION_LIMIT = 3000
"""Longest text of a section block (and of a context element)."""
FIELD_LIMIT = 2000
"""Longest text of one section field."""
MAX_FIELDS = 10
"""Most fields in one section."""
TEXT_LIMIT = 3000
"""Longest top-level ``text`` we send."""
COLORS = {"info": "#439FE0", "warn": "#DAA038", "error": "#D40E0D"}
"""Attachment bar colour per severity (Slack's blue, amber, red)."""
_MAX_CHECK_LINES = 40


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: ``&`` → ``&amp;``, ``<`` → ``&lt;``, ``>`` → ``&gt;`` (nothing else)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str, limit: int) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": fit(text, limit, escape)}


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The incoming-webhook JSON for ``notification``."""
    n = notification
    head = f"{n.icon} *{escape(n.canary)}* {escape(n.title)}"
    text = head + (": " + fit(n.reason, TEXT_LIMIT - len(head) - 2, escape) if n.reason else "")
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "fields": [
                {
                    "type": "mrkdwn",
                    "text": f"*{escape(label)}*\n" + fit(value or "-", FIELD_LIMIT - len(label) - 4, escape),
                }
                for label, value in n.facts()[:MAX_FIELDS]
            ],
        }
    ]
    if n.checks:
        lines = [c.text() for c in n.checks[:_MAX_CHECK_LINES]]
        if len(n.checks) > _MAX_CHECK_LINES:
            lines.append(f"… and {len(n.checks) - _MAX_CHECK_LINES} more")
        # The heading's asterisks survive escaping: only & < > are escaped.
        checks = "*Checks*\n" + "\n".join(f"• {line}" for line in lines)
        blocks.append({"type": "section", "text": _mrkdwn(checks, SECTION_LIMIT)})
    verdict = n.verdict_text()
    if verdict:
        blocks.append({"type": "context", "elements": [_mrkdwn(verdict, SECTION_LIMIT)]})
    payload: dict[str, Any] = {
        "text": text,
        "attachments": [
            {"color": COLORS[n.severity], "fallback": truncate(n.plain_text(), TEXT_LIMIT), "blocks": blocks}
        ],
    }
    if channel:
        payload["channel"] = channel
    if username:
        payload["username"] = username
    return payload


def check_response(response: httpx.Response) -> str | None:
    """Slack answers a delivered message with 200 and the body ``ok``; anything else is a failure."""
    body = response.text.strip()
    if body and body != "ok":
        return f"Slack answered {body[:100]!r}"
    return None
