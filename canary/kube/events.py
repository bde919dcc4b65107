"""Kubernetes Events on a Canary: the record of every decision and its reason.

An Event given a ``key`` (a stable identity of the decision it records) is
named after that key, so recording it again, after a crash or a lost answer,
finds it already there (409 AlreadyExists) instead of recording it twice.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from canary.kube.api import EVENTS, Conflict, JsonDict, KubeApi

__all__ = ["COMPONENT", "event_body", "event_name", "record_event"]

COMPONENT = "canary-controller"


def event_name(obj: JsonDict, key: str | None) -> str:
    """``<object>.<suffix>``: from ``key`` (the same for every attempt at one Event), else random."""
    name = obj.get("metadata", {}).get("name", "unknown")
    uid = obj.get("metadata", {}).get("uid") or ""
    suffix = hashlib.sha256(f"{uid}/{key}".encode()).hexdigest()[:16] if key is not None else uuid.uuid4().hex[:12]
    return f"{name}.{suffix}"


def event_body(obj: JsonDict, type_: str, reason: str, message: str, now: datetime, key: str | None = None) -> JsonDict:
    """A core/v1 Event about ``obj`` (pure: the caller passes the time); named after ``key`` when given."""
    meta = obj.get("metadata", {})
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    name = meta.get("name", "unknown")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": event_name(obj, key), "namespace": meta.get("namespace")},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": name,
            "namespace": meta.get("namespace"),
            "uid": meta.get("uid"),
            "resourceVersion": meta.get("resourceVersion"),
        },
        "type": type_,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


async def record_event(
    api: KubeApi, obj: JsonDict, type_: str, reason: str, message: str, now: datetime, key: str | None = None
) -> None:
    """Post an Event; failures propagate to the caller, which logs them (events are a side channel).

    With a ``key``, an Event already recorded under it counts as recorded: at most one per key.
    """
    body = event_body(obj, type_, reason, message, now, key)
    try:
        await api.create(EVENTS, obj.get("metadata", {}).get("namespace"), body)
    except Conflict:
        if key is None:
            raise
