"""The generic JSON webhook: every field of a notification, for receivers we do not know.

Use it to feed an on-call tool, a bot, or a small relay. The receiver gets a
POST with ``Content-Type: application/json; charset=utf-8`` (and
``Authorization: Bearer <token>`` when the AlertProvider's Secret has a
``token`` key) and this body, described exactly by :data:`SCHEMA`::

    {
      "apiVersion": "canary.dev/v1beta1",     # version of this payload's shape
      "kind": "CanaryNotification",
      "name": "podinfo", "namespace": "test", "cluster": "prod" | null,
      "phase": "Failed", "weight": 0,
      "severity": "info" | "warn" | "error",
      "title": "rolled back",
      "reason": "request-success-rate 97.2 % < 99 %",
      "checks": [{"name": ..., "value": 97.2 | null, "min": 99 | null, "max": null,
                  "unit": "%", "outcome": "fail", "text": "request-success-rate: 97.2 % (want ≥ 99 %): fail"}],
                                              # + "dryRun": true on a check that is reported only
      "verdict": {"outcome": "fail", "reason": "..."} | null,
      "revision": "5d8f7c" | null,
      "timestamp": "2026-11-23T11:02:03+00:00" | null,
      "extra": {"Target": "podinfo"},
      "text": "the whole message as plain text",
      "channel": "..." | null, "username": "..." | null
    }

Values that are not numbers (NaN, infinities) are sent as ``null``, since JSON
has no spelling for them.
"""

from __future__ import annotations

import math
from typing import Any

from canary.models.base import GROUP_VERSION
from canary.notifiers.base import SEVERITIES, Notification

__all__ = ["KIND", "SCHEMA", "render"]

KIND = "CanaryNotification"
"""``kind`` of the generic payload."""

_NULLABLE_STRING: dict[str, Any] = {"type": ["string", "null"]}
_NULLABLE_NUMBER: dict[str, Any] = {"type": ["number", "null"]}

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Canary notification (generic webhook payload)",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "apiVersion",
        "kind",
        "name",
        "namespace",
        "cluster",
        "phase",
        "weight",
        "severity",
        "title",
        "reason",
        "checks",
        "verdict",
        "revision",
        "timestamp",
        "extra",
        "text",
        "channel",
        "username",
    ],
    "properties": {
        "apiVersion": {"const": GROUP_VERSION},
        "kind": {"const": KIND},
        "name": {"type": "string", "minLength": 1},
        "namespace": {"type": "string", "minLength": 1},
        "cluster": _NULLABLE_STRING,
        "phase": {"type": "string"},
        "weight": {"type": "integer", "minimum": 0, "maximum": 100},
        "severity": {"enum": list(SEVERITIES)},
        "title": {"type": "string"},
        "reason": {"type": "string"},
        "checks": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name", "value", "min", "max", "unit", "outcome", "text"],
                "properties": {
                    "name": {"type": "string"},
                    "value": _NULLABLE_NUMBER,
                    "min": _NULLABLE_NUMBER,
                    "max": _NULLABLE_NUMBER,
                    "unit": {"type": "string"},
                    "outcome": {"type": "string"},
                    "text": {"type": "string"},
                    "dryRun": {"const": True},
                },
            },
        },
        "verdict": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["outcome", "reason"],
                    "properties": {"outcome": {"type": "string"}, "reason": _NULLABLE_STRING},
                },
            ]
        },
        "revision": _NULLABLE_STRING,
        "timestamp": {"type": ["string", "null"], "format": "date-time"},
        "extra": {"type": "object", "additionalProperties": {"type": "string"}},
        "text": {"type": "string"},
        "channel": _NULLABLE_STRING,
        "username": _NULLABLE_STRING,
    },
}
"""JSON Schema (2020-12) of the generic payload."""


def _number(value: float | None) -> float | None:
    return None if value is None or math.isnan(value) or math.isinf(value) else value


def render(notification: Notification, channel: str | None = None, username: str | None = None) -> dict[str, Any]:
    """The generic JSON body for ``notification``."""
    n = notification
    return {
        "apiVersion": GROUP_VERSION,
        "kind": KIND,
        "name": n.name,
        "namespace": n.namespace,
        "cluster": n.cluster,
        "phase": n.phase,
        "weight": n.weight,
        "severity": n.severity,
        "title": n.title,
        "reason": n.reason,
        "checks": [
            {
                "name": c.name,
                "value": _number(c.value),
                "min": _number(c.min),
                "max": _number(c.max),
                "unit": c.unit,
                "outcome": c.outcome,
                "text": c.text(),
                **({"dryRun": True} if c.dry_run else {}),
            }
            for c in n.checks
        ],
        "verdict": {"outcome": n.verdict, "reason": n.verdict_reason} if n.verdict else None,
        "revision": n.revision,
        "timestamp": n.timestamp.isoformat() if n.timestamp else None,
        "extra": dict(n.extra),
        "text": n.plain_text(),
        "channel": channel or None,
        "username": username or None,
    }
