"""Google Chat incoming-webhook payloads: a one-line ``text`` and a ``cardsV2`` card.

Shape (Google Chat's ``Message`` resource, which a space's incoming webhook
takes as its JSON body): ``text`` holds the headline and reason in Chat's own
formatting (``*bold*``; Chat shows it and uses it for notifications), and
``cardsV2`` one card: a ``header`` (title, subtitle), a section of
``decoratedText`` widgets (label above, value below) for the facts, a section
with one widget per check, and the verdict in a ``textParagraph``. Card texts
take Chat's small HTML subset, so values are HTML-escaped. A webhook posts to
its own space under its own name, so ``channel`` and ``username`` are not sent.

Limits kept: message text ≤ 4096 characters, ≤ 100 widgets per card (Chat
drops the rest), the whole message well under Chat's 32 000 bytes.
"""

from __future__ import annotations

import html
import re
from typing import Any

from canary.notifiers.base import Notification
from canary.notifiers.text import fit, truncate

__all__ = ["MAX_WIDGETS", "TEXT_LIMIT", "escape_card", "escape_text", "render"]

TEXT_LIMIT = 4096
"""Longest message ``text``."""
MAX_WIDGETS = 100
"""Most widgets in one card."""
_CARD_TEXT_LIMIT = 2000
_MAX_CHECKS = 60
_NON_ID = re.compile(r"[^A-Za-z0-9_-]")


def escape_card(text: str) -> str:
    """HTML escaping for card texts (``&``, ``<``, ``>``)."""
    return html.escape(text, quote=False)


def escape_text(text: str) -> str:
    """Keep message text literal: ``<`` and ``>`` would start a Chat link or mention, so use look-alikes."""
    return text.replace("<", "‹").replace(">", "›")


def _decorated(label: str, value: str) -> dict[str, Any]:
    return {
        "decoratedText": {
            "topLabel": fit(label, 200, escape_card),
            "text": fit(value or "-", _CARD_TEXT_LIMIT, escape_card),
            "wrapText": True,
        }
    }


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The webhook JSON for ``notification`` (a Chat webhook owns its space and sender name)."""
    del channel, username
    n = notification
    head = f"{n.icon} *{escape_text(n.canary)}* {escape_text(n.title)}"
    text = head + (": " + fit(n.reason, TEXT_LIMIT - len(head) - 2, escape_text) if n.reason else "")
    sections: list[dict[str, Any]] = []
    summary: list[dict[str, Any]] = []
    summary += [_decorated(label, value) for label, value in n.facts()]
    sections.append({"widgets": summary})
    if n.checks:
        widgets = [
            _decorated(
                c.name,
                f"{c.value_text()}"
                + (f" (want {c.threshold_text()})" if c.threshold_text() else "")
                + f": {c.outcome}",
            )
            for c in n.checks[:_MAX_CHECKS]
        ]
        if len(n.checks) > _MAX_CHECKS:
            widgets.append({"textParagraph": {"text": f"… and {len(n.checks) - _MAX_CHECKS} more"}})
        section: dict[str, Any] = {"header": "Checks", "widgets": widgets}
        if len(widgets) > 5:  # long lists fold after the first five
            section |= {"collapsible": True, "uncollapsibleWidgetsCount": 5}
        sections.append(section)
    verdict = n.verdict_text()
    if verdict:
        sections.append(
            {"header": "Judge", "widgets": [{"textParagraph": {"text": fit(verdict, _CARD_TEXT_LIMIT, escape_card)}}]}
        )
    card = {
        "header": {
            "title": truncate(n.headline(), 200),
            "subtitle": truncate(f"{n.severity} · phase {n.phase or '-'} · canary weight {n.weight} %", 200),
        },
        "sections": sections,
    }
    card_id = _NON_ID.sub("-", f"canary-{n.namespace}-{n.name}")[:64]
    return {"text": text, "cardsV2": [{"cardId": card_id, "card": card}]}
