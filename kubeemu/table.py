"""Server-side printing (``meta.k8s.io/v1`` Tables), which ``kubectl get`` asks for.

Columns are the name, the CRD's ``additionalPrinterColumns`` (or Deployment's
READY / UP-TO-DATE / AVAILABLE), and the age; Events (core and
``events.k8s.io``) get kube-apiserver's own columns instead: LAST SEEN, TYPE,
REASON, OBJECT, MESSAGE, and with ``-o wide`` SUBOBJECT, SOURCE, FIRST SEEN,
COUNT, NAME. JSONPath covers what printer columns use: ``.a.b``, ``.a[0]``,
and ``.a[?(@.type=="Ready")].status``.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any

from kubeemu.model import JsonDict, ResourceType

__all__ = ["human_age", "jsonpath", "render_table", "wants_table"]

_STEP_RE = re.compile(r"""\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\[\?\(@\.([A-Za-z0-9_.-]+)\s*==\s*["']([^"']*)["']\)\]""")


def wants_table(accept: str) -> bool:
    """Whether an Accept header asks for a Table (as kubectl get does)."""
    return "as=Table" in accept


def jsonpath(obj: Any, path: str) -> Any:
    """Evaluate the JSONPath subset used by printer columns; None if anything is missing."""
    current = obj
    position = 0
    path = path.strip().removeprefix("{").removesuffix("}").removeprefix("$")
    while position < len(path) and current is not None:
        match = _STEP_RE.match(path, position)
        if match is None:
            return None
        key, index, filter_key, filter_value = match.groups()
        if key is not None:
            current = current.get(key) if isinstance(current, Mapping) else None
        elif index is not None:
            current = current[int(index)] if isinstance(current, list) and int(index) < len(current) else None
        elif isinstance(current, list):
            current = next((item for item in current if str(jsonpath(item, "." + filter_key)) == filter_value), None)
        else:
            current = None
        position = match.end()
    return current


def human_age(timestamp: str | None, now: datetime.datetime | None = None) -> str:
    """``5s``, ``3m20s``, ``45m``, ``7h``, ``3d``: how kubectl shows ages."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return timestamp
    seconds = max(0, int(((now or datetime.datetime.now(tz=datetime.UTC)) - then).total_seconds()))
    if seconds < 120:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        return f"{minutes}m{seconds % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = minutes // 60
    return f"{hours}h" if hours < 48 else f"{hours // 24}d"


def _columns(rt: ResourceType) -> list[JsonDict]:
    if rt.printer_columns:
        return [dict(column) for column in rt.printer_columns]
    if rt.group_resource == ("apps", "deployments"):
        return [
            {"name": "Ready", "type": "string", "jsonPath": ""},
            {"name": "Up-to-date", "type": "integer", "jsonPath": ".status.updatedReplicas"},
            {"name": "Available", "type": "integer", "jsonPath": ".status.availableReplicas"},
        ]
    return []


def _cell(obj: JsonDict, column: JsonDict) -> Any:
    if column["name"] == "Ready" and not column.get("jsonPath"):
        return f"{(obj.get('status') or {}).get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 0)}"
    value = jsonpath(obj, column.get("jsonPath", ""))
    if column.get("type") == "date":
        return human_age(value) if value else "<unknown>"
    if column.get("type") == "integer" and value is None:
        return 0
    return value if value is not None else "<none>" if column.get("type") == "string" else None


_EVENT_COLUMNS = (  # kube-apiserver's printers.go: (name, priority); the server always prints them wide
    ("Last Seen", 0, "The time at which the most recent occurrence of this event was recorded."),
    ("Type", 0, "Type of this event (Normal, Warning), new types could be added in the future"),
    (
        "Reason",
        0,
        "This should be a short, machine understandable string that gives the reason for the transition "
        "into the object's current status.",
    ),
    ("Object", 0, "The object that this event is about."),
    ("Subobject", 1, "The sub-object (a container of a pod) the event is about, if any."),
    ("Source", 1, "The component reporting this event."),
    ("Message", 0, "A human-readable description of the status of this operation."),
    ("First Seen", 1, "The time at which the event was first recorded."),
    ("Count", 1, "The number of times this event has occurred."),
    ("Name", 1, "Name must be unique within a namespace."),
)


def _is_event(rt: ResourceType) -> bool:
    return rt.group_resource in (("", "events"), ("events.k8s.io", "events"))


def _first(*values: Any) -> Any:
    return next((value for value in values if value), None)


def _event_cells(obj: JsonDict) -> list[Any]:
    """One Event's row, as kube-apiserver's printEvent fills it (events.k8s.io fields read as their core twins)."""
    involved = obj.get("involvedObject") or obj.get("regarding") or {}
    source = obj.get("source") or obj.get("deprecatedSource") or {}
    first_time = _first(obj.get("firstTimestamp"), obj.get("deprecatedFirstTimestamp"))
    first_seen = human_age(first_time) if first_time else human_age(obj.get("eventTime"))
    last_time = _first(obj.get("lastTimestamp"), obj.get("deprecatedLastTimestamp"))
    last_seen = human_age(last_time) if last_time else first_seen
    count = obj.get("count") or obj.get("deprecatedCount") or 0
    series = obj.get("series")
    if isinstance(series, dict):
        last_seen = human_age(series.get("lastObservedTime"))
        count = series.get("count", count)
    elif not count:
        count = 1
    kind = str(involved.get("kind", "")).lower()
    target = f"{kind}/{involved['name']}" if involved.get("name") else kind
    component = _first(source.get("component"), obj.get("reportingController"), "")
    instance = _first(source.get("host"), obj.get("reportingInstance"), "")
    return [
        last_seen,
        obj.get("type", ""),
        obj.get("reason", ""),
        target,
        involved.get("fieldPath", ""),
        f"{component}, {instance}" if instance else component,
        str(obj.get("message") or obj.get("note") or "").strip(),
        first_seen,
        int(count or 0),
        obj["metadata"]["name"],
    ]


def _row_object(obj: JsonDict, include_object: str) -> JsonDict | None:
    if include_object == "Object":
        return obj
    if include_object == "None":
        return None
    return {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}


def _table(definitions: list[JsonDict], rows: list[JsonDict], resource_version: str) -> JsonDict:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }


def _event_table(objects: list[JsonDict], resource_version: str, include_object: str) -> JsonDict:
    definitions = [
        {
            "name": name,
            "type": "integer" if name == "Count" else "string",
            "format": "name" if name == "Name" else "",
            "description": description,
            "priority": priority,
        }
        for name, priority, description in _EVENT_COLUMNS
    ]
    rows = [{"cells": _event_cells(obj), "object": _row_object(obj, include_object)} for obj in objects]
    return _table(definitions, rows, resource_version)


def render_table(
    rt: ResourceType, objects: list[JsonDict], resource_version: str, include_object: str = "Metadata"
) -> JsonDict:
    """The Table for these objects, with a PartialObjectMetadata (or the full object) per row."""
    if _is_event(rt):
        return _event_table(objects, resource_version, include_object)
    extra = _columns(rt)
    has_age = any(column.get("jsonPath") == ".metadata.creationTimestamp" for column in extra)
    definitions = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    definitions += [
        {
            "name": column["name"],
            "type": column.get("type", "string"),
            "format": column.get("format", ""),
            "description": column.get("description", ""),
            "priority": column.get("priority", 0),
        }
        for column in extra
    ]
    if not has_age:
        definitions.append({"name": "Age", "type": "string", "format": "", "description": "Age", "priority": 0})
    rows = []
    for obj in objects:
        cells = [obj["metadata"]["name"], *(_cell(obj, column) for column in extra)]
        if not has_age:
            cells.append(human_age(obj["metadata"].get("creationTimestamp")))
        rows.append({"cells": cells, "object": _row_object(obj, include_object)})
    return _table(definitions, rows, resource_version)
