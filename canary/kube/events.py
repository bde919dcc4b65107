"""Kubernetes Events on a Canary: the record of every decision and its reason."""

from __future__ import annotations

import uuid
from datetime import datetime

from canary.kube.api import EVENTS, JsonDict, KubeApi

__all__ = ["COMPONENT", "event_body", "record_event"]

COMPONENT = "canary-controller"


def event_body(
    obj: JsonDict, type_: str, reason: str, message: str, now: datetime, suffix: str | None = None
) -> JsonDict:
    """A core/v1 Event about ``obj`` (pure: the caller passes the time).

    The Event is named ``<object>.<suffix>``: a caller that may send the same
    Event twice passes a suffix of its own, so the second create is refused
    as AlreadyExists instead of recording it again (random otherwise).
    """
    meta = obj.get("metadata", {})
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    name = meta.get("name", "unknown")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{suffix or uuid.uuid4().hex[:12]}", "namespace": meta.get("namespace")},
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
    api: KubeApi, obj: JsonDict, type_: str, reason: str, message: str, now: datetime, suffix: str | None = None
) -> None:
    """Post an Event; failures propagate to the caller, which logs them (events are a side channel)."""
    body = event_body(obj, type_, reason, message, now, suffix)
    await api.create(EVENTS, obj.get("metadata", {}).get("namespace"), body)
