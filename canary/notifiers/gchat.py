"""Google Chat incoming-webhook payloads: a one-line ``text`` and a ``cardsV2`` card.

Shape (Google Chat's ``Message`` resource, which a space's incoming webhook
takes as its JSON body): ``text`` holds the one-line headline in Chat's own
formatting (``*bold*``; Chat shows it and uses it for notifications), and
``cardsV2`` one card: a ``header`` (title, subtitle), a section with the
reason (``textParagraph``) and the facts as ``decoratedText`` widgets (label
above, value below), a section with one widget per check (folded after five),
and the verdict. Card texts take Chat's small HTML subset, so they are
HTML-escaped and show "97.2 % < 99 %" exactly; in ``text``, where ``<`` starts
a link or mention, ``<`` and ``>`` become look-alikes (‹ ›). A webhook posts to
its own space under its own name, so ``channel`` and ``username`` are not sent.

Limits kept: message text ≤ 4096 characters, ≤ 100 widgets per card (Chat
drops the rest; we show at most 40 facts and 41 check widgets), and texts and
lists cut until the whole message is under 30 000 bytes (Chat's limit: 32 000).
"""

from __future__ import annotations

import html
import re
from typing import Any

from canary.notifiers.base import Notification
from canary.notifiers.text import BUDGETS, Budget, fit, json_size, truncate

__all__ = ["MAX_BYTES", "TEXT_LIMIT", "escape_card", "escape_text", "render"]

TEXT_LIMIT = 4096
"""Longest message ``text``."""
MAX_BYTES = 30000
"""Largest payload sent (Chat refuses messages over 32 000 bytes)."""
_NON_ID = re.compile(r"[^A-Za-z0-9_-]")


def escape_card(text: str) -> str:
    """HTML escaping for card texts (``&``, ``<``, ``>``)."""
    return html.escape(text, quote=False)


def escape_text(text: str) -> str:
    """Keep message text literal: ``<`` and ``>`` would start a Chat link or mention, so use look-alikes."""
    return text.replace("<", "‹").replace(">", "›")


def _decorated(label: str, value: str, budget: Budget) -> dict[str, Any]:
    return {
        "decoratedText": {
            "topLabel": fit(label, budget.value, escape_card),
            "text": fit(value or "-", budget.value, escape_card),
            "wrapText": True,
        }
    }


def _card(n: Notification, budget: Budget) -> dict[str, Any]:
    summary: list[dict[str, Any]] = []
    if n.reason:
        summary.append({"textParagraph": {"text": fit(n.reason, budget.text, escape_card)}})
    facts = n.facts()
    if len(facts) > budget.items:
        facts = [*facts[: budget.items - 1], ("…", f"{len(facts) - budget.items + 1} more")]
    summary += [_decorated(label, value, budget) for label, value in facts]
    sections: list[dict[str, Any]] = [{"widgets": summary}]
    if n.checks:
        widgets = [_decorated(c.name, c.text().removeprefix(f"{c.name}: "), budget) for c in n.checks[: budget.items]]
        if len(n.checks) > budget.items:
            widgets.append({"textParagraph": {"text": f"… and {len(n.checks) - budget.items} more"}})
        section: dict[str, Any] = {"header": "Checks", "widgets": widgets}
        if len(widgets) > 5:  # long lists fold after the first five
            section |= {"collapsible": True, "uncollapsibleWidgetsCount": 5}
        sections.append(section)
    verdict = n.verdict_text()
    if verdict:
        sections.append(
            {"header": "Judge", "widgets": [{"textParagraph": {"text": fit(verdict, budget.text, escape_card)}}]}
        )
    return {
        "header": {
            "title": truncate(n.headline(), 200),
            "subtitle": truncate(f"{n.severity} · phase {n.phase or '-'} · canary weight {n.weight} %", 200),
        },
        "sections": sections,
    }


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The webhook JSON for ``notification`` (a Chat webhook owns its space and sender name)."""
    del channel, username
    n = notification
    text = f"{n.icon} " + fit(f"*{n.canary}* {n.title}", TEXT_LIMIT - 8, escape_text)  # 8: room for the icon
    card_id = _NON_ID.sub("-", f"canary-{n.namespace}-{n.name}")[:64]
    payload: dict[str, Any] = {}
    for budget in BUDGETS:  # the first budget whose card fits
        payload = {"text": text, "cardsV2": [{"cardId": card_id, "card": _card(n, budget)}]}
        if json_size(payload) <= MAX_BYTES:
            break
    return payload
