"""Whose a Canary's primary Deployment is: ours, free to adopt, or someone else's; and our owner reference.

The reconcile tick asks before it touches an existing ``<target>-primary``:
a Deployment another controller drives (Flagger's Canary, say) is refused,
one without a controller or from an earlier Canary of this name is adopted.
"""

from __future__ import annotations

import json
from typing import Literal

from canary.kube.api import JsonDict
from canary.kube.workloads import render_primary
from canary.models import API_GROUP
from canary.routers.objects import controller_of

__all__ = ["PrimaryClaim", "describe_owner", "owner_reference", "primary_claim", "primary_taken"]

PrimaryClaim = Literal["this", "free", "foreign"]


def primary_claim(primary: JsonDict, body: JsonDict) -> PrimaryClaim:
    """Whose the existing primary Deployment is: "this" Canary's, "free" to adopt, or "foreign".

    Free: controlled by a ``canary.dev`` Canary of this name with another uid
    (only one exists at a time in a namespace: an earlier incarnation of this
    Canary, deleted and created again), or by nothing at all (orphaned by an
    earlier Canary, ours or Flagger's: ``kubectl delete --cascade=orphan``
    hands a primary over). Foreign: controlled by anything else, such as
    Flagger's Canary while Flagger still runs it; two controllers must not
    drive one Deployment.
    """
    meta = body.get("metadata", {})
    controller = controller_of(primary)
    if controller is None:
        return "free"
    ours = str(controller.get("apiVersion", "")).startswith(f"{API_GROUP}/") and controller.get("kind") == "Canary"
    if ours and controller.get("name") == meta.get("name"):
        return "this" if not meta.get("uid") or controller.get("uid") == meta.get("uid") else "free"
    return "foreign"


def primary_taken(primary: JsonDict, claim: PrimaryClaim, target: JsonDict | None) -> str | None:
    """Why an existing primary Deployment cannot be this Canary's (see :func:`primary_claim`), or None if it can."""
    if claim == "foreign":
        return (
            f"{describe_owner(primary)}; remove it, or delete its owner with --cascade=orphan to hand it over"
            " (a promotion replaces its pods)"
        )
    if claim == "free" and target is not None:
        wanted = render_primary(target, None)["spec"]["selector"]
        found = (primary.get("spec") or {}).get("selector")
        if found != wanted:  # a selector cannot be changed: this cannot become the target's primary
            return f"its selector {json.dumps(found)} is not the primary's {json.dumps(wanted)}; remove it"
    return None


def describe_owner(obj: JsonDict) -> str:
    """Who controls ``obj``, in words: its controlling owner reference, or that it has none."""
    ref = controller_of(obj)
    if ref is None:
        return "controlled by nothing"
    return f"controlled by {ref.get('kind')} {ref.get('name')} ({ref.get('apiVersion')}, uid {ref.get('uid')})"


def owner_reference(body: JsonDict) -> JsonDict:
    """An ownerReference that makes the Canary the controller of an object."""
    meta = body.get("metadata", {})
    return {
        "apiVersion": body.get("apiVersion", "canary.dev/v1beta1"),
        "kind": "Canary",
        "name": meta.get("name"),
        "uid": meta.get("uid"),
        "controller": True,
        "blockOwnerDeletion": True,
    }
