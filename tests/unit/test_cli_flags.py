"""Command-line flags that could never work are refused as usage errors, naming the flag."""

from __future__ import annotations

import pytest

from canary import cli


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["controller", "--burst", "0"], "argument --burst: must be a whole number >= 1, got '0'"),
        (["controller", "--qps", "-1"], "argument --qps: must be a number > 0, got '-1'"),
        (["controller", "--qps", "0"], "argument --qps: must be a number > 0, got '0'"),
        (["controller", "--tick", "nan"], "argument --tick: must be a number > 0, got 'nan'"),
        (["controller", "--min-interval", "0"], "argument --min-interval: must be a number > 0, got '0'"),
        (["demo", "--seed", "-1"], "argument --seed: must be a whole number >= 0, got '-1'"),
    ],
)
def test_a_flag_that_could_never_work_is_a_usage_error(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as refused:
        cli.main(argv)
    assert refused.value.code == 2
    assert message in capsys.readouterr().err
