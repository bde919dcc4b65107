"""Server-side printing (``meta.k8s.io/v1`` Tables), which ``kubectl get`` asks for.

Columns are the name, the CRD's ``additionalPrinterColumns`` (or Deployment's
READY / UP-TO-DATE / AVAILABLE), and the age. JSONPath covers what printer
columns use: ``.a.b``, ``.a[0]``, and ``.a[?(@.type=="Ready")].status``.
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


def render_table(
    rt: ResourceType, objects: list[JsonDict], resource_version: str, include_object: str = "Metadata"
) -> JsonDict:
    """The Table for these objects, with a PartialObjectMetadata (or the full object) per row."""
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
        row_object = (
            obj
            if include_object == "Object"
            else None
            if include_object == "None"
            else {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]}
        )
        rows.append({"cells": cells, "object": row_object})
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": definitions,
        "rows": rows,
    }
