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
from canary.models import API_GROUP, Canary
from canary.routers.objects import controller_of

__all__ = ["PrimaryClaim", "describe_owner", "object_of", "owner_reference", "primary_claim", "primary_taken"]

PrimaryClaim = Literal["this", "free", "foreign"]


def primary_claim(primary: JsonDict, canary: Canary) -> PrimaryClaim:
    """Whose the existing primary Deployment is: "this" Canary's, "free" to adopt, or "foreign".

    Free: controlled by a ``canary.dev`` Canary of this name with another uid
    (only one exists at a time in a namespace: an earlier incarnation of this
    Canary, deleted and created again), or by nothing at all (orphaned by an
    earlier Canary, ours or Flagger's: ``kubectl delete --cascade=orphan``
    hands a primary over). Foreign: controlled by anything else, such as
    Flagger's Canary while Flagger still runs it; two controllers must not
    drive one Deployment.
    """
    meta = canary.metadata
    controller = controller_of(primary)
    if controller is None:
        return "free"
    ours = str(controller.get("apiVersion", "")).startswith(f"{API_GROUP}/") and controller.get("kind") == "Canary"
    if ours and controller.get("name") == meta.name:
        return "this" if not meta.uid or controller.get("uid") == meta.uid else "free"
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


def owner_reference(canary: Canary) -> JsonDict:
    """An ownerReference that makes the Canary the controller of an object.

    Unlike the routers' (:func:`canary.routers.objects.owner_reference`), a
    Canary without a uid (never stored by an API server: tests) is no error.
    """
    return {
        "apiVersion": canary.apiVersion,
        "kind": canary.kind,
        "name": canary.metadata.name,
        "uid": canary.metadata.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def object_of(canary: Canary) -> JsonDict:
    """The Canary's identity (apiVersion, kind, metadata) where a helper takes an object: an Event's subject."""
    return {"apiVersion": canary.apiVersion, "kind": canary.kind, "metadata": canary.metadata.model_dump(mode="json")}
