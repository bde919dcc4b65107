"""Discord webhook payloads (Discord's "Execute Webhook" JSON body).

Shape: ``content`` (the one-line headline, what notifications show), one
``embeds`` entry coloured by severity (``color`` is an integer RGB) with the
reason as its ``description``, the facts and the checks as ``fields`` and the
judge's verdict in the ``footer``; ``allowed_mentions`` with no parse types so
a reason that happens to contain ``@everyone`` pings nobody; ``username`` when
set. Discord webhooks are bound to a channel, so ``channel`` is not sent.

Limits kept (Discord's message and embed reference): content ≤ 2000
characters, embed title ≤ 256, description ≤ 4096, ≤ 25 fields with name ≤ 256
and value ≤ 1024, footer ≤ 2048, all embed texts together ≤ 6000; webhook user
names are 1–80 characters and may not contain "discord" or "clyde" (such a name
is left out, and the webhook's own name is shown). Markdown characters in
texts we did not write are escaped with a backslash.
"""

from __future__ import annotations

import re
from typing import Any

from canary.notifiers.base import Notification
from canary.notifiers.text import fit, text_length, truncate

__all__ = [
    "COLORS",
    "CONTENT_LIMIT",
    "DESCRIPTION_LIMIT",
    "EMBED_TOTAL_LIMIT",
    "FIELD_NAME_LIMIT",
    "FIELD_VALUE_LIMIT",
    "FOOTER_LIMIT",
    "MAX_FACT_FIELDS",
    "MAX_FIELDS",
    "TITLE_LIMIT",
    "embed_length",
    "escape",
    "render",
    "valid_username",
]

CONTENT_LIMIT = 2000
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FOOTER_LIMIT = 2048
MAX_FIELDS = 25
EMBED_TOTAL_LIMIT = 6000
MAX_FACT_FIELDS = 12
"""Most fields given to the facts (canary, namespace, ...); the rest of the 25 go to checks."""
_SHORT = 100
COLORS = {"info": 0x439FE0, "warn": 0xDAA038, "error": 0xD40E0D}
"""Embed colour per severity."""

_INLINE = re.compile(r"([\\*_~`|\[])")
_LINE_START = re.compile(r"(?m)^(\s*)([>#-])")


def escape(text: str) -> str:
    """Backslash-escape Discord markdown (emphasis, code, spoilers, links; quotes, headings, lists at line start)."""
    return _LINE_START.sub(r"\1\\\2", _INLINE.sub(r"\\\1", text))


def valid_username(username: str) -> bool:
    """Whether Discord accepts ``username`` as a webhook user name."""
    lowered = username.lower()
    return 1 <= text_length(username.strip()) <= 80 and "discord" not in lowered and "clyde" not in lowered


def embed_length(embed: dict[str, Any]) -> int:
    """The characters Discord counts against the 6000 limit: title, description, field names and values, footer, author."""
    total = text_length(embed.get("title", "")) + text_length(embed.get("description", ""))
    total += sum(text_length(f["name"]) + text_length(f["value"]) for f in embed.get("fields", []))
    total += text_length(embed.get("footer", {}).get("text", ""))
    total += text_length(embed.get("author", {}).get("name", ""))
    return total


def _shrink(embed: dict[str, Any]) -> None:
    """Cut the longest texts (description, footer, then field values, then whole fields) to the 6000 total."""
    while (excess := embed_length(embed) - EMBED_TOTAL_LIMIT) > 0:
        description = embed["description"]
        footer = embed.get("footer", {}).get("text", "")
        values = [f for f in embed["fields"] if text_length(f["value"]) > _SHORT]
        if text_length(description) > _SHORT:
            embed["description"] = truncate(description, max(_SHORT, text_length(description) - excess))
        elif text_length(footer) > _SHORT:
            embed["footer"]["text"] = truncate(footer, max(_SHORT, text_length(footer) - excess))
        elif values:
            longest = max(values, key=lambda f: text_length(f["value"]))
            longest["value"] = truncate(longest["value"], max(_SHORT, text_length(longest["value"]) - excess))
        else:
            embed["fields"].pop()


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The Execute Webhook JSON for ``notification`` (``channel`` does not apply: webhooks own their channel)."""
    del channel
    n = notification
    content = f"{n.icon} " + fit(f"{n.canary} {n.title}", CONTENT_LIMIT - 8, escape)  # 8: room for the icon
    facts = n.facts()
    if len(facts) > MAX_FACT_FIELDS:
        facts = [*facts[: MAX_FACT_FIELDS - 1], ("…", f"{len(facts) - MAX_FACT_FIELDS + 1} more")]
    fields: list[dict[str, Any]] = [
        {
            "name": truncate(label, FIELD_NAME_LIMIT),
            "value": fit(value or "-", FIELD_VALUE_LIMIT, escape),
            "inline": True,
        }
        for label, value in facts
    ]
    room = MAX_FIELDS - len(fields)
    checks, rest = list(n.checks), 0
    if len(checks) > room:
        checks, rest = checks[: room - 1], len(checks) - (room - 1)
    for c in checks:
        threshold = c.threshold_text()
        value = c.value_text() + (f" (want {threshold})" if threshold else "") + f"\n{c.outcome_text()}"
        fields.append(
            {
                "name": truncate(c.name, FIELD_NAME_LIMIT),
                "value": fit(value, FIELD_VALUE_LIMIT, escape),
                "inline": False,
            }
        )
    if rest:
        fields.append({"name": "…", "value": f"{rest} more checks", "inline": False})
    embed: dict[str, Any] = {
        "title": fit(n.headline(), TITLE_LIMIT, escape),
        "description": fit(n.reason or n.title, DESCRIPTION_LIMIT, escape),
        "color": COLORS[n.severity],
        "fields": fields,
    }
    verdict = n.verdict_text()
    if verdict:
        embed["footer"] = {"text": truncate(verdict, FOOTER_LIMIT)}  # footers show plain text: no markdown to escape
    if n.timestamp is not None:
        embed["timestamp"] = n.timestamp.isoformat()
    _shrink(embed)
    payload: dict[str, Any] = {"content": content, "embeds": [embed], "allowed_mentions": {"parse": []}}
    if username and valid_username(username):
        payload["username"] = username
    return payload
