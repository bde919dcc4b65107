"""Text helpers shared by the payload renderers: safe truncation to a service's length limits.

Services count lengths differently (Slack and Discord in characters, JavaScript
back ends in UTF-16 code units); :func:`text_length` counts UTF-16 code units,
which is never less than either, so a text that fits here fits everywhere.
Truncation cuts between characters, never inside an escape (``&lt;``) or a
surrogate pair, and marks the cut with "…".
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ELLIPSIS", "fit", "text_length", "truncate"]

ELLIPSIS = "…"
"""Marks a truncated text."""


def text_length(text: str) -> int:
    """Length in UTF-16 code units (an emoji outside the BMP counts 2)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def truncate(text: str, limit: int) -> str:
    """``text`` if it fits ``limit``, else its longest prefix that fits with "…" appended."""
    return fit(text, limit, lambda s: s)


def fit(raw: str, limit: int, escape: Callable[[str], str]) -> str:
    """``escape(raw)`` cut so that it fits ``limit``, cutting the raw text so no escape is split.

    ``escape`` must work character by character (``escape(a + b) == escape(a) + escape(b)``),
    as HTML and Slack escaping do.
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    escaped = escape(raw)
    if text_length(escaped) <= limit:
        return escaped
    budget = limit - text_length(ELLIPSIS)
    pieces: list[str] = []
    used = 0
    for ch in raw:
        piece = escape(ch)
        size = text_length(piece)
        if used + size > budget:
            break
        pieces.append(piece)
        used += size
    return "".join(pieces).rstrip() + ELLIPSIS
