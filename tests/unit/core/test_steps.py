"""Walking the weight steps (the list itself comes from the model: see tests/unit/models)."""

from __future__ import annotations

import pytest

from canary.core import WeightPlan


def test_next_weight_walks_the_steps_and_stops_at_the_top() -> None:
    plan = WeightPlan((20, 40, 60))
    walked = [0]
    while not plan.is_last(walked[-1]):
        walked.append(plan.next_weight(walked[-1]))
    assert walked == [0, 20, 40, 60]
    assert plan.next_weight(60) == 60
    assert plan.max_weight == 60


def test_uneven_steps_are_walked_as_given() -> None:
    plan = WeightPlan((1, 2, 10, 80))
    assert [plan.next_weight(w) for w in (0, 1, 2, 10)] == [1, 2, 10, 80]


def test_next_weight_from_an_off_step_weight_goes_to_the_next_step() -> None:
    assert WeightPlan((20, 40, 60)).next_weight(25) == 40


@pytest.mark.parametrize("steps", [(), (0, 50), (10, 150), (10, 5), (10, 10)])
def test_invalid_plans_are_refused(steps: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match=r"within 1\.\.100"):
        WeightPlan(steps)
