"""Go-style durations, as Flagger parses them."""

from __future__ import annotations

import pytest

from canary.models import DurationError, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),
        ("1m", 60.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("500ms", 0.5),
        ("1.5h", 5400.0),
        ("2h45m10s", 9910.0),
        ("0", 0.0),
        ("10us", 1e-5),
    ],
)
def test_parses_go_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "1", "abc", "1x", "m1", "1m 30s", "-1m", "1d", "30s!"])
def test_refuses_what_go_refuses(text: str) -> None:
    with pytest.raises(DurationError, match="invalid duration") as caught:
        parse_duration(text)
    assert repr(text) in str(caught.value)


def test_error_says_what_is_expected() -> None:
    with pytest.raises(ValueError, match=r"such as '30s', '1m' or '1h30m'"):
        parse_duration("soon")
