"""Weight steps: stepWeight/maxWeight arithmetic and explicit stepWeights."""

from __future__ import annotations

import pytest

from canary.core import WeightPlan


@pytest.mark.parametrize(
    ("step", "top", "expected"),
    [
        (10, 50, (10, 20, 30, 40, 50)),
        (30, 50, (30, 50)),  # the last step is capped at maxWeight
        (5, None, tuple(range(5, 101, 5))),  # maxWeight defaults to 100
        (50, 50, (50,)),
    ],
)
def test_arithmetic_steps(step: int, top: int | None, expected: tuple[int, ...]) -> None:
    assert WeightPlan.from_spec(step, top, None).steps == expected


def test_explicit_step_weights_win_over_step_weight() -> None:
    plan = WeightPlan.from_spec(10, 50, [1, 2, 10, 80])
    assert plan.steps == (1, 2, 10, 80)
    assert plan.max_weight == 80


def test_next_weight_walks_the_steps_and_stops_at_the_top() -> None:
    plan = WeightPlan.from_spec(20, 60, None)
    walked = [0]
    while not plan.is_last(walked[-1]):
        walked.append(plan.next_weight(walked[-1]))
    assert walked == [0, 20, 40, 60]
    assert plan.next_weight(60) == 60


def test_next_weight_from_an_off_step_weight_goes_to_the_next_step() -> None:
    assert WeightPlan.from_spec(20, 60, None).next_weight(25) == 40


@pytest.mark.parametrize(
    ("step", "top", "weights"), [(0, 50, None), (10, 150, None), (None, None, [10, 5]), (None, None, [10, 120])]
)
def test_invalid_plans_are_refused(step: int | None, top: int | None, weights: list[int] | None) -> None:
    with pytest.raises(ValueError, match=r"within 1\.\.100"):
        WeightPlan.from_spec(step, top, weights)
