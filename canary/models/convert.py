"""Convert a Flagger resource (``flagger.app``) into ours (``canary.dev/v1beta1``).

A Flagger user migrates by changing ``apiVersion``; :func:`convert_flagger`
does that, plus the few rewrites an old manifest needs (the pre-v1beta1
``spec.canaryAnalysis`` becomes ``spec.analysis``; server-set metadata and
Flagger's status are dropped), and returns notes on everything that does not
carry over: validation errors and the fields we refuse or do not support yet.
It backs ``canary convert``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from canary.models.alert_provider import AlertProvider
from canary.models.base import GROUP_VERSION
from canary.models.canary import Canary
from canary.models.errors import describe
from canary.models.metric_template import MetricTemplate
from canary.models.support import ProviderSupport, unsupported

__all__ = ["FLAGGER_GROUP", "KINDS", "convert_flagger"]

FLAGGER_GROUP = "flagger.app"
"""Flagger's API group."""

KINDS: dict[str, type[Canary] | type[MetricTemplate] | type[AlertProvider]] = {
    "Canary": Canary,
    "MetricTemplate": MetricTemplate,
    "AlertProvider": AlertProvider,
}
"""The kinds both projects share, with our model of each."""

# Metadata the API server sets; carrying it into a new object would make applying it fail.
_SERVER_METADATA = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields", "selfLink")


def convert_flagger(
    obj: dict[str, Any], providers: Mapping[str, ProviderSupport] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """Rewrite a Flagger object to ``canary.dev/v1beta1``; return it with notes on what does not carry over.

    Raises ``ValueError`` when the object is not a Flagger Canary,
    MetricTemplate or AlertProvider. The returned object is a new dict; the
    input is left untouched. An empty note list means the object converts
    completely and everything in it is acted on. ``providers`` are the routed
    providers' declarations (:data:`canary.routers.PROVIDER_SUPPORT`), which
    this package cannot import; without them what depends on the provider is
    not noted.
    """
    api_version = str(obj.get("apiVersion", ""))
    group, _, version = api_version.partition("/")
    kind = obj.get("kind")
    if group != FLAGGER_GROUP or kind not in KINDS:
        raise ValueError(
            f"not a Flagger resource: apiVersion {api_version or '(none)'}, kind {kind or '(none)'}; "
            f"expected {FLAGGER_GROUP}/v1beta1 Canary, MetricTemplate or AlertProvider"
        )
    notes: list[str] = []
    out = copy.deepcopy(obj)
    out["apiVersion"] = GROUP_VERSION
    if version != "v1beta1":
        notes.append(f"apiVersion: converted from {api_version}; fields were checked against v1beta1")

    metadata = out.get("metadata")
    if isinstance(metadata, dict):
        for key in _SERVER_METADATA:
            metadata.pop(key, None)

    if "status" in out:
        del out["status"]
        notes.append("status: Flagger's status is not carried over; the controller starts a new one")

    spec = out.get("spec")
    if kind == "Canary" and isinstance(spec, dict) and "canaryAnalysis" in spec:
        if "analysis" in spec:
            del spec["canaryAnalysis"]
            notes.append("spec.canaryAnalysis: dropped, spec.analysis is set and wins (as in Flagger)")
        else:
            spec["analysis"] = spec.pop("canaryAnalysis")
            notes.append("spec.canaryAnalysis: renamed to spec.analysis")

    model = KINDS[kind]
    try:
        parsed: BaseModel = model.model_validate(out)
    except ValidationError as error:
        notes.extend(f"invalid: {line}" for line in describe(error))
        return out, notes
    assert isinstance(parsed, Canary | MetricTemplate | AlertProvider)
    for problem in unsupported(parsed, providers=providers):
        prefix = "refused" if problem.severity == "refuse" else "not yet"
        notes.append(f"{prefix}: {problem.message}")
    return out, notes
