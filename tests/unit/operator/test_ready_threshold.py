"""The World a tick observes counts ready pods by the Canary's ready thresholds."""

from __future__ import annotations

from typing import Any

from canary.kube.workloads import TEMPLATE_HASH_ANNOTATION
from canary.models import Canary
from canary.operator.workloads import Workloads
from tests.unit.models.conftest import minimal_canary


def _deployment(name: str, ready: int) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "generation": 1, "annotations": {TEMPLATE_HASH_ANNOTATION: "h"}},
        "spec": {"replicas": 4, "template": {}},
        "status": {"observedGeneration": 1, "replicas": 4, "updatedReplicas": 4, "readyReplicas": ready},
    }


def _canary(**analysis: Any) -> Canary:
    return Canary.model_validate(minimal_canary(**analysis))


def test_three_of_four_ready_pods_are_not_ready_by_default() -> None:
    workloads = Workloads(_deployment("app", 3), _deployment("app-primary", 3), "this")
    world = workloads.world(_canary())
    assert (world.primary_ready, world.canary_ready) == (False, False)


def test_each_threshold_applies_to_its_own_deployment() -> None:
    workloads = Workloads(_deployment("app", 3), _deployment("app-primary", 3), "this")
    assert workloads.world(_canary(canaryReadyThreshold=75)).canary_ready
    assert not workloads.world(_canary(canaryReadyThreshold=75)).primary_ready
    world = workloads.world(_canary(primaryReadyThreshold=75))
    assert (world.primary_ready, world.canary_ready) == (True, False)
