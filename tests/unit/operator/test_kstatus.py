"""Flux waits on a Canary through kstatus: in progress during an analysis, current once served, failed after a rollback.

kstatus' documented rules for a custom resource (sigs.k8s.io/cli-utils,
pkg/kstatus: "standard conditions"): an observedGeneration behind
metadata.generation is InProgress; a ``Reconciling`` condition with status
True is InProgress; a ``Stalled`` condition with status True is Failed;
otherwise the resource is Current. ``kstatus`` below applies exactly those
rules to the status the controller writes, tick by tick.
"""

from __future__ import annotations

from typing import Any

from canary.kube.api import CANARIES
from tests.unit.operator.harness import NS, Harness, canary_body


def kstatus(obj: dict[str, Any]) -> str:
    """kstatus' verdict for a custom resource, from its documented rules."""
    status = obj.get("status") or {}
    generation = obj["metadata"].get("generation")
    observed = status.get("observedGeneration")
    if generation is not None and (observed is None or observed < generation):
        return "InProgress"
    for condition in status.get("conditions") or []:
        if condition["type"] == "Reconciling" and condition["status"] == "True":
            return "InProgress"
        if condition["type"] == "Stalled" and condition["status"] == "True":
            return "Failed"
    return "Current"


async def verdict(h: Harness, seconds: float = 10) -> tuple[str, str]:
    await h.tick(seconds)
    obj = await h.api.get(CANARIES, NS, "podinfo")
    assert obj is not None
    ready = next(c for c in obj["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"] == "True") == (kstatus(obj) == "Current")  # Flux's Ready agrees with kstatus
    return str(obj["status"].get("phase")), kstatus(obj)


def with_generation(**analysis: Any) -> dict[str, Any]:
    body = canary_body(**analysis)
    body["metadata"]["generation"] = 1
    return body


async def test_in_progress_during_a_rollout_and_current_once_promoted() -> None:
    h = Harness(with_generation())
    await h.setup()
    assert await verdict(h) == ("Initializing", "InProgress")
    assert await verdict(h) == ("Initialized", "Current")
    await h.new_revision("podinfo:2")
    seen = [await verdict(h) for _ in range(8)]
    assert seen[-1] == ("Succeeded", "Current"), seen
    during = [k for phase, k in seen if phase in ("Progressing", "Promoting", "Finalising")]
    assert during and set(during) == {"InProgress"}, seen


async def test_failed_after_a_rollback_until_a_new_revision_starts() -> None:
    h = Harness(with_generation())
    await h.setup()
    await verdict(h)
    await verdict(h)
    await h.new_revision("podinfo:2")
    await verdict(h)  # the analysis starts
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"annotations": {"canary.dev/abort": "true"}}})
    assert await verdict(h) == ("Failed", "Failed")
    await h.new_revision("podinfo:3")
    assert await verdict(h) == ("Progressing", "InProgress")


async def test_a_refused_spec_is_failed_and_an_unobserved_edit_in_progress() -> None:
    h = Harness(with_generation(webhooks=[{"name": "load", "url": "nowhere"}]))
    await h.setup()
    assert (await verdict(h))[1] == "Failed"  # Valid=False: the spec must change
    await h.api.patch(CANARIES, NS, "podinfo", {"metadata": {"generation": 2}, "spec": {"analysis": {"webhooks": []}}})
    obj = await h.api.get(CANARIES, NS, "podinfo")
    assert obj is not None and kstatus(obj) == "InProgress"  # not observed yet
    assert await verdict(h) == ("Initializing", "InProgress")
