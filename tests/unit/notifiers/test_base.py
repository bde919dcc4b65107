"""The service-neutral notification: severity filter, value and threshold wording, plain text."""

from __future__ import annotations

import pytest

from canary.models.canary import CanaryCheck
from canary.notifiers import CheckLine, Notification, check_lines, format_value, severity_allows
from canary.notifiers.text import fit, text_length, truncate


@pytest.mark.parametrize(
    ("alert", "event", "forwarded"),
    [
        ("info", "info", True),
        ("info", "warn", True),
        ("info", "error", True),
        ("warn", "info", False),
        ("warn", "warn", True),
        ("warn", "error", True),
        ("error", "info", False),
        ("error", "warn", False),
        ("error", "error", True),
        ("", "info", True),  # empty means info
        (None, "info", True),
        (None, "error", True),
    ],
)
def test_severity_filter_follows_the_alert_levels(alert: str | None, event: str, forwarded: bool) -> None:
    assert severity_allows(alert, event) is forwarded


def test_unknown_event_severity_is_refused() -> None:
    with pytest.raises(ValueError, match="critical"):
        severity_allows("info", "critical")


def test_notification_refuses_an_unknown_severity() -> None:
    with pytest.raises(ValueError, match="severity"):
        Notification("a", "b", "Failed", 0, "fatal", "rolled back", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "unit", "text"),
    [
        (97.2, "%", "97.2 %"),
        (99.0, "%", "99 %"),
        (412.0, "ms", "412 ms"),
        (0.0125, "", "0.0125"),
        (1234.5678, "req/s", "1235 req/s"),
        (123456.0, "ms", "123456 ms"),
        (None, "%", "no data"),
        (float("nan"), "%", "NaN"),
        (float("inf"), "ms", "+Inf"),
    ],
)
def test_values_read_as_people_write_them(value: float | None, unit: str, text: str) -> None:
    assert format_value(value, unit) == text


def test_check_lines_state_value_range_and_outcome() -> None:
    assert CheckLine("request-success-rate", 97.2, "fail", min=99, unit="%").text() == (
        "request-success-rate: 97.2 % (want ≥ 99 %): fail"
    )
    assert CheckLine("request-duration", 412, "pass", max=500, unit="ms").threshold_text() == "≤ 500 ms"
    assert CheckLine("error-ratio", 0.5, "pass", min=0, max=1, unit="%").threshold_text() == "0 – 1 %"
    assert CheckLine("custom", None, "error").text() == "custom: no data: error"
    assert CheckLine("latency", 700, "fail", max=500, unit="ms", dry_run=True).text() == (
        "latency: 700 ms (want ≤ 500 ms): fail (dry run)"
    )


def test_check_lines_come_from_the_canary_status() -> None:
    status_checks = [
        CanaryCheck(name="request-success-rate", value=97.2, min=99, unit="%", outcome="fail", reason="r"),
        CanaryCheck(name="latency", value=None, max=500, outcome="error", reason="no data"),
        CanaryCheck(name="p99", value=700, max=500, outcome="fail", reason="r", dryRun=True),
    ]
    lines = check_lines(status_checks)
    assert lines == (
        CheckLine("request-success-rate", 97.2, "fail", min=99, max=None, unit="%"),
        CheckLine("latency", None, "error", min=None, max=500, unit=""),
        CheckLine("p99", 700, "fail", max=500, dry_run=True),
    )


def test_plain_text_names_canary_phase_weight_reason_checks_and_verdict(rolled_back: Notification) -> None:
    text = rolled_back.plain_text()
    for expected in (
        "podinfo.test rolled back",
        "Namespace: test",
        "Cluster: prod-eu-1",
        "Phase: Failed",
        "Canary weight: 0 %",
        "request-success-rate 97.2 % < 99 %",
        "request-success-rate: 97.2 % (want ≥ 99 %): fail",
        "Judge: fail: canary error rate 2.8 %",
    ):
        assert expected in text


def test_truncate_marks_the_cut_and_fits() -> None:
    assert truncate("short", 10) == "short"
    cut = truncate("x" * 100, 10)
    assert cut == "x" * 9 + "…"
    assert text_length(truncate("🚨" * 100, 11)) <= 11  # emoji count two UTF-16 units


def test_fit_never_splits_an_escape() -> None:
    def escape(s: str) -> str:
        return s.replace("&", "&amp;").replace("<", "&lt;")

    raw = "a<b&c<" * 50
    for limit in range(2, 120):
        out = fit(raw, limit, escape)
        assert text_length(out) <= limit
        assert out.endswith("…")
        body = out[:-1]
        # Every '&' starts a whole entity: the text is the escape of a prefix of the raw text.
        assert any(escape(raw[:k]).rstrip() == body for k in range(len(raw) + 1))
