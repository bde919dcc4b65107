"""Text helpers shared by the payload renderers: safe truncation to a service's length limits.

Services count lengths differently (Slack and Discord in characters, JavaScript
back ends in UTF-16 code units); :func:`text_length` counts UTF-16 code units,
which is never less than either, so a text that fits here fits everywhere.
Truncation cuts between characters, never inside an escape (``&lt;``), and
marks the cut with "…".
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BUDGETS", "ELLIPSIS", "Budget", "fit", "json_size", "text_length", "truncate"]

ELLIPSIS = "…"
"""Marks a truncated text."""


def text_length(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits ``limit``, else its longest prefix that fits with "…" appended."""
    return fit(text, limit, lambda s: s)


def fit(raw: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(raw)`` cut to fit ``limit``: the escape of the longest raw prefix that fits, then "…".

    Cutting the raw text (not the escaped one) means no escape sequence is ever
    split. ``escape`` must not shrink when its input grows (true of HTML, Slack
    and markdown escaping).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    escaped = escape(raw)
    if text_length(escaped) <= limit:
        return escaped
    budget = limit - text_length(ELLIPSIS)
    low, high = 0, len(raw)  # invariant: raw[:low] fits, raw[:high + 1] does not (or high == len)
    while low < high:
        mid = (low + high + 1) // 2
        if text_length(escape(raw[:mid]).rstrip()) <= budget:
            low = mid
        else:
            high = mid - 1
    return escape(raw[:low]).rstrip() + ELLIPSIS


@dataclass(frozen=True)
class Budget:
    """Length limits a renderer applies to one message, for services with a total size limit."""

    text: int
    """Longest free text (reason, verdict)."""
    value: int
    """Longest label or value."""
    items: int
    """Most list entries (facts, checks) shown."""


BUDGETS = (Budget(2000, 500, 40), Budget(1000, 200, 20), Budget(400, 100, 10), Budget(200, 60, 6))
"""Ever tighter budgets: a renderer uses the first whose payload fits the service's size limit."""


def json_size(payload: Any) -> int:
    """Bytes of ``payload`` as sent (UTF-8 JSON)."""
    return len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
