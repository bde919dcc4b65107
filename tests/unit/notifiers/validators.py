"""Structure checks of each service's webhook payload, written from that service's documented format.

Each ``*_problems(payload)`` returns what the service would refuse or mangle
(an empty list when the payload is acceptable). They are independent of the
renderers: limits are restated here from the services' references, lengths are
counted here, and markup is checked the way the service reads it.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any


def _len(text: str) -> int:
    """Length in UTF-16 code units, the strictest count any of the services uses."""
    return len(text.encode("utf-16-le")) // 2


def _str(problems: list[str], where: str, value: Any, limit: int, *, required: bool = True) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        problems.append(f"{where}: not a string ({value!r})")
    elif required and not value.strip():
        problems.append(f"{where}: empty")
    elif _len(value) > limit:
        problems.append(f"{where}: {_len(value)} > {limit} characters")


def _keys(problems: list[str], where: str, obj: dict[str, Any], allowed: set[str]) -> None:
    unknown = set(obj) - allowed
    if unknown:
        problems.append(f"{where}: unknown keys {sorted(unknown)}")


# --------------------------------------------------------------------------- Slack

_SLACK_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def _slack_mrkdwn_problems(where: str, text: str) -> list[str]:
    """Slack reads ``<`` as the start of a link or mention and ``&`` as an entity: raw ones must be escaped."""
    problems = []
    if "<" in text or ">" in text:
        problems.append(f"{where}: unescaped < or > in mrkdwn ({text[:60]!r})")
    if _SLACK_ENTITY.search(text):
        problems.append(f"{where}: unescaped & in mrkdwn")
    return problems


def _slack_text_object(problems: list[str], where: str, obj: Any, limit: int) -> None:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        problems.append(f"{where}: not a text object ({obj!r})")
        return
    _str(problems, f"{where}.text", obj.get("text"), limit)
    if obj["type"] == "mrkdwn" and isinstance(obj.get("text"), str):
        problems += _slack_mrkdwn_problems(where, obj["text"])


def _slack_blocks(problems: list[str], where: str, blocks: Any) -> None:
    if not isinstance(blocks, list) or not 1 <= len(blocks) <= 50:
        problems.append(f"{where}: blocks must be a list of 1..50")
        return
    for i, block in enumerate(blocks):
        at = f"{where}[{i}]"
        kind = block.get("type")
        if kind == "section":
            if "text" not in block and "fields" not in block:
                problems.append(f"{at}: section without text or fields")
            if "text" in block:
                _slack_text_object(problems, f"{at}.text", block["text"], 3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    problems.append(f"{at}.fields: must be 1..10 items")
                else:
                    for j, f in enumerate(fields):
                        _slack_text_object(problems, f"{at}.fields[{j}]", f, 2000)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{at}.elements: must be 1..10 items")
            else:
                for j, e in enumerate(elements):
                    _slack_text_object(problems, f"{at}.elements[{j}]", e, 3000)
        elif kind == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text":
                problems.append(f"{at}: header text must be plain_text")
            _str(problems, f"{at}.text.text", text.get("text"), 150)
        elif kind != "divider":
            problems.append(f"{at}: block type {kind!r} not used in messages here")


def slack_problems(payload: dict[str, Any]) -> list[str]:
    """Slack incoming webhook: ``text`` and/or ``blocks``/``attachments``; Block Kit limits."""
    problems: list[str] = []
    _keys(
        problems, "payload", payload, {"text", "blocks", "attachments", "channel", "username", "icon_emoji", "icon_url"}
    )
    if not any(payload.get(k) for k in ("text", "blocks", "attachments")):
        problems.append("payload: needs text, blocks or attachments")
    if "text" in payload:
        _str(problems, "text", payload["text"], 40000)
        problems += _slack_mrkdwn_problems("text", payload["text"])
    if "blocks" in payload:
        _slack_blocks(problems, "blocks", payload["blocks"])
    for i, att in enumerate(payload.get("attachments", [])):
        at = f"attachments[{i}]"
        _keys(problems, at, att, {"color", "fallback", "blocks", "text", "title", "fields", "pretext", "footer", "ts"})
        if "color" in att and not re.fullmatch(r"#[0-9A-Fa-f]{6}|good|warning|danger", att["color"]):
            problems.append(f"{at}.color: {att['color']!r} is not a colour")
        if "blocks" in att:
            _slack_blocks(problems, f"{at}.blocks", att["blocks"])
    for key in ("channel", "username"):
        if key in payload:
            _str(problems, key, payload[key], 80)
    return problems


# --------------------------------------------------------------------------- Microsoft Teams

_AC_CONTAINER_STYLES = {"default", "emphasis", "good", "attention", "warning", "accent"}


def _adaptive_elements(problems: list[str], where: str, elements: Any) -> None:
    if not isinstance(elements, list):
        problems.append(f"{where}: not a list")
        return
    for i, el in enumerate(elements):
        at = f"{where}[{i}]"
        kind = el.get("type")
        if kind == "TextBlock":
            _str(problems, f"{at}.text", el.get("text"), 5000)
            if el.get("size", "Default") not in {"Default", "Small", "Medium", "Large", "ExtraLarge"}:
                problems.append(f"{at}.size: {el.get('size')!r}")
            if el.get("weight", "Default") not in {"Default", "Lighter", "Bolder"}:
                problems.append(f"{at}.weight: {el.get('weight')!r}")
        elif kind == "FactSet":
            facts = el.get("facts")
            if not isinstance(facts, list) or not facts:
                problems.append(f"{at}.facts: must be a non-empty list")
            else:
                for j, fact in enumerate(facts):
                    _keys(problems, f"{at}.facts[{j}]", fact, {"title", "value"})
                    _str(problems, f"{at}.facts[{j}].title", fact.get("title"), 5000)
                    _str(problems, f"{at}.facts[{j}].value", fact.get("value"), 5000)
        elif kind == "Container":
            if el.get("style", "default") not in _AC_CONTAINER_STYLES:
                problems.append(f"{at}.style: {el.get('style')!r}")
            _adaptive_elements(problems, f"{at}.items", el.get("items"))
        else:
            problems.append(f"{at}: element type {kind!r} not expected")


def msteams_problems(payload: dict[str, Any]) -> list[str]:
    """Teams webhook (Workflows or connector): message envelope with Adaptive Card attachments, ≤ 28 KB."""
    problems: list[str] = []
    if payload.get("type") != "message":
        problems.append("type: must be 'message'")
    attachments = payload.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return [*problems, "attachments: must be a non-empty list"]
    for i, att in enumerate(attachments):
        at = f"attachments[{i}]"
        if att.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append(f"{at}.contentType: {att.get('contentType')!r}")
        card = att.get("content", {})
        if card.get("type") != "AdaptiveCard":
            problems.append(f"{at}.content.type: must be AdaptiveCard")
        if card.get("version") not in {"1.0", "1.1", "1.2", "1.3", "1.4", "1.5"}:
            problems.append(f"{at}.content.version: {card.get('version')!r} not rendered by Teams")
        _adaptive_elements(problems, f"{at}.content.body", card.get("body"))
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if size > 28 * 1024:
        problems.append(f"payload: {size} bytes > 28 KB")
    return problems


# --------------------------------------------------------------------------- Discord


def discord_problems(payload: dict[str, Any]) -> list[str]:
    """Discord Execute Webhook: content ≤ 2000, ≤ 10 embeds within the embed limits, a valid user name."""
    problems: list[str] = []
    _keys(problems, "payload", payload, {"content", "username", "avatar_url", "tts", "embeds", "allowed_mentions"})
    if not payload.get("content") and not payload.get("embeds"):
        problems.append("payload: needs content or embeds")
    if "content" in payload:
        _str(problems, "content", payload["content"], 2000)
    if "username" in payload:
        name = payload["username"]
        _str(problems, "username", name, 80)
        if "discord" in name.lower() or "clyde" in name.lower():
            problems.append("username: may not contain 'discord' or 'clyde'")
    parse = payload.get("allowed_mentions", {}).get("parse", [])
    if set(parse) - {"roles", "users", "everyone"}:
        problems.append(f"allowed_mentions.parse: {parse!r}")
    embeds = payload.get("embeds", [])
    if len(embeds) > 10:
        problems.append("embeds: more than 10")
    total = 0
    for i, embed in enumerate(embeds):
        at = f"embeds[{i}]"
        _keys(problems, at, embed, {"title", "description", "url", "timestamp", "color", "footer", "fields", "author"})
        _str(problems, f"{at}.title", embed.get("title"), 256, required=False)
        _str(problems, f"{at}.description", embed.get("description"), 4096, required=False)
        if not isinstance(embed.get("color", 0), int) or not 0 <= embed.get("color", 0) <= 0xFFFFFF:
            problems.append(f"{at}.color: {embed.get('color')!r}")
        if "timestamp" in embed:
            try:
                datetime.fromisoformat(embed["timestamp"])
            except ValueError:
                problems.append(f"{at}.timestamp: not ISO 8601")
        fields = embed.get("fields", [])
        if len(fields) > 25:
            problems.append(f"{at}.fields: {len(fields)} > 25")
        for j, f in enumerate(fields):
            _keys(problems, f"{at}.fields[{j}]", f, {"name", "value", "inline"})
            _str(problems, f"{at}.fields[{j}].name", f.get("name"), 256)
            _str(problems, f"{at}.fields[{j}].value", f.get("value"), 1024)
            total += _len(f.get("name", "")) + _len(f.get("value", ""))
        footer = embed.get("footer", {}).get("text", "")
        _str(problems, f"{at}.footer.text", footer, 2048, required=False)
        total += _len(embed.get("title", "")) + _len(embed.get("description", "")) + _len(footer)
    if total > 6000:
        problems.append(f"embeds: {total} characters in all > 6000")
    return problems


# --------------------------------------------------------------------------- Google Chat

_GCHAT_WIDGETS = {"textParagraph", "decoratedText", "image", "buttonList", "divider", "columns", "grid"}
_GCHAT_TAG = re.compile(r"</?(b|i|u|s|strike|font|a|br)\b[^<>]*>")


def _gchat_html(problems: list[str], where: str, text: Any) -> None:
    """Card texts are Chat's HTML subset: a ``<`` must open one of its tags, a ``&`` an entity."""
    if not isinstance(text, str) or not text:
        problems.append(f"{where}: empty or not a string")
        return
    stripped = _GCHAT_TAG.sub("", text)
    if "<" in stripped or ">" in stripped:
        problems.append(f"{where}: < or > outside Chat's HTML tags ({text[:60]!r})")
    if re.search(r"&(?!amp;|lt;|gt;|quot;|#\d+;)", stripped):
        problems.append(f"{where}: unescaped &")


def gchat_problems(payload: dict[str, Any]) -> list[str]:
    """Google Chat Message via webhook: ``text`` ≤ 4096 and/or ``cardsV2`` (header, sections, ≤ 100 widgets)."""
    problems: list[str] = []
    _keys(problems, "payload", payload, {"text", "cardsV2", "fallbackText", "thread"})
    if not payload.get("text") and not payload.get("cardsV2"):
        problems.append("payload: needs text or cardsV2")
    if "text" in payload:
        _str(problems, "text", payload["text"], 4096)
    for i, item in enumerate(payload.get("cardsV2", [])):
        at = f"cardsV2[{i}]"
        _keys(problems, at, item, {"cardId", "card"})
        if not isinstance(item.get("cardId"), str) or not item["cardId"]:
            problems.append(f"{at}.cardId: required")
        card = item.get("card", {})
        header = card.get("header")
        if header is not None:
            _str(problems, f"{at}.card.header.title", header.get("title"), 4096)
        sections = card.get("sections")
        if not isinstance(sections, list) or not sections:
            problems.append(f"{at}.card.sections: must be a non-empty list")
            continue
        count = 0
        for j, section in enumerate(sections):
            sat = f"{at}.card.sections[{j}]"
            _keys(problems, sat, section, {"header", "widgets", "collapsible", "uncollapsibleWidgetsCount"})
            if "uncollapsibleWidgetsCount" in section and not section.get("collapsible"):
                problems.append(f"{sat}: uncollapsibleWidgetsCount without collapsible")
            for k, widget in enumerate(section.get("widgets", [])):
                count += 1
                wat = f"{sat}.widgets[{k}]"
                kinds = set(widget) & _GCHAT_WIDGETS
                if len(kinds) != 1 or set(widget) - _GCHAT_WIDGETS:
                    problems.append(f"{wat}: must hold exactly one known widget ({sorted(widget)})")
                    continue
                if "textParagraph" in widget:
                    _gchat_html(problems, f"{wat}.textParagraph.text", widget["textParagraph"].get("text"))
                if "decoratedText" in widget:
                    _gchat_html(problems, f"{wat}.decoratedText.text", widget["decoratedText"].get("text"))
                    if "topLabel" in widget["decoratedText"]:
                        _gchat_html(problems, f"{wat}.decoratedText.topLabel", widget["decoratedText"]["topLabel"])
        if count > 100:
            problems.append(f"{at}: {count} widgets > 100")
    size = len(json.dumps(payload, ensure_ascii=False).encode("utf-8"))
    if size > 32000:
        problems.append(f"payload: {size} bytes > 32000")
    return problems


# --------------------------------------------------------------------------- Rocket.Chat

_ROCKET_ATTACHMENT_KEYS = {
    "color", "text", "ts", "thumb_url", "message_link", "collapsed", "author_name", "author_link",
    "author_icon", "title", "title_link", "title_link_download", "image_url", "audio_url", "video_url", "fields",
}  # fmt: skip


def rocket_problems(payload: dict[str, Any]) -> list[str]:
    """Rocket.Chat incoming webhook: ``text`` within the default 5000-character message limit, attachments."""
    problems: list[str] = []
    _keys(
        problems,
        "payload",
        payload,
        {"text", "alias", "username", "emoji", "icon_emoji", "avatar", "icon_url", "channel", "attachments"},
    )
    if not payload.get("text") and not payload.get("attachments"):
        problems.append("payload: needs text or attachments")
    if "text" in payload:
        _str(problems, "text", payload["text"], 5000)
    if "channel" in payload and not re.fullmatch(r"[#@]?[\w.\-]+", payload["channel"]):
        problems.append(f"channel: {payload['channel']!r} is not #room, @user or a room id")
    attachments = payload.get("attachments", [])
    if not isinstance(attachments, list):
        return [*problems, "attachments: must be an array (Rocket.Chat ignores anything else)"]
    for i, att in enumerate(attachments):
        at = f"attachments[{i}]"
        _keys(problems, at, att, _ROCKET_ATTACHMENT_KEYS)
        _str(problems, f"{at}.text", att.get("text"), 5000, required=False)
        for j, f in enumerate(att.get("fields", [])):
            _keys(problems, f"{at}.fields[{j}]", f, {"short", "title", "value"})
            if not isinstance(f.get("short", False), bool):
                problems.append(f"{at}.fields[{j}].short: not a boolean")
            _str(problems, f"{at}.fields[{j}].title", f.get("title"), 5000)
            _str(problems, f"{at}.fields[{j}].value", f.get("value"), 5000)
    return problems
