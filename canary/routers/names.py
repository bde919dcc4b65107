"""The names of the objects a Canary's routing is made of, in one place.

Flagger's naming, kept so a migrating user finds the same objects: the apex
name is ``spec.service.name`` when set, else ``spec.targetRef.name``; the
Services ``<apex>``, ``<apex>-primary`` and ``<apex>-canary`` and the mesh
objects (VirtualService, DestinationRules, TrafficSplit, HTTPRoute) are named
after it. The primary *Deployment* is named after the target instead
(``<target>-primary``); the two only differ when ``spec.service.name`` is set.

The controller, the routers and the testbed's mesh simulator all take names
from here, so they cannot disagree.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from canary.models import Canary

__all__ = [
    "ORIGINAL_SPEC_ANNOTATION",
    "apex_service_name",
    "canary_service_name",
    "primary_service_name",
]

ORIGINAL_SPEC_ANNOTATION = "canary.dev/original-spec"
"""Annotation holding the spec of an object the controller took over, restored on finalize."""


def apex_service_name(canary: Canary) -> str:
    """The apex Service (and mesh object) name: ``spec.service.name``, else the target's name."""
    service = canary.spec.service
    if service is not None and service.name:
        return service.name
    return canary.spec.targetRef.name


def primary_service_name(canary: Canary) -> str:
    """The Service (and DestinationRule / backend) that reaches the primary pods: ``<apex>-primary``."""
    return f"{apex_service_name(canary)}-primary"


def canary_service_name(canary: Canary) -> str:
    """The Service (and DestinationRule / backend) that reaches the canary pods: ``<apex>-canary``."""
    return f"{apex_service_name(canary)}-canary"
