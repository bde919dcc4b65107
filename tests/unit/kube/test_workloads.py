"""Deployment readiness with Flagger's ready thresholds (``primaryReadyThreshold`` / ``canaryReadyThreshold``)."""

from __future__ import annotations

from typing import Any

import pytest

from canary.kube.workloads import deployment_ready
from canary.models import Canary
from tests.unit.models.conftest import minimal_canary


def _deployment(wanted: int | None, ready: int, updated: int | None = None, **status: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {} if wanted is None else {"replicas": wanted}
    updated = wanted if updated is None else updated
    return {
        "metadata": {"name": "app", "generation": 2},
        "spec": spec,
        "status": {
            "observedGeneration": 2,
            "replicas": updated,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            **status,
        },
    }


def test_all_ready_is_ready_at_the_default_threshold() -> None:
    assert deployment_ready(_deployment(4, ready=4))


def test_three_of_four_ready_is_not_ready_at_the_default_threshold() -> None:
    assert not deployment_ready(_deployment(4, ready=3))
    assert not deployment_ready(_deployment(4, ready=3), 100)


@pytest.mark.parametrize(("threshold", "ready"), [(75, True), (99, True), (100, False), (50, True), (0, True)])
def test_three_of_four_ready_against_a_threshold(threshold: int, ready: bool) -> None:
    assert deployment_ready(_deployment(4, ready=3), threshold) is ready


def test_the_count_wanted_is_rounded_down_as_flagger_does() -> None:
    # 3 updated * 50 % = 1.5 -> 1 pod must be ready (Flagger: int32(float32(updated) * ratio));
    # with 4 pods any threshold below 100 asks for 3 (4 * 99 % = 3.96 -> 3).
    assert deployment_ready(_deployment(3, ready=1), 50)
    assert not deployment_ready(_deployment(3, ready=0), 50)


def test_the_threshold_never_excuses_replicas_not_yet_updated() -> None:
    assert not deployment_ready(_deployment(4, ready=4, updated=3), 50)


def test_old_replicas_still_terminating_keep_the_rollout_unfinished() -> None:
    assert not deployment_ready(_deployment(4, ready=4, replicas=5), 50)


def test_an_unobserved_generation_or_zero_replicas_is_never_ready() -> None:
    assert not deployment_ready(_deployment(4, ready=4, observedGeneration=1), 0)
    assert not deployment_ready(_deployment(0, ready=0), 0)
    assert not deployment_ready(None, 0)


def test_unset_replicas_means_one() -> None:
    assert deployment_ready(_deployment(None, ready=1, updated=1))


def _canary(**analysis: Any) -> Canary:
    return Canary.model_validate(minimal_canary(**analysis))


def test_the_thresholds_default_to_flaggers_100() -> None:
    canary = _canary()
    assert (canary.primary_ready_threshold(), canary.canary_ready_threshold()) == (100, 100)
    canary = _canary(primaryReadyThreshold=50, canaryReadyThreshold=0)
    assert (canary.primary_ready_threshold(), canary.canary_ready_threshold()) == (50, 0)
