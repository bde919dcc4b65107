"""status.judge as a typed model: read leniently, written back exactly."""

from __future__ import annotations

from datetime import UTC, datetime

from canary.models import CanaryStatus, JudgeStatus


def test_what_the_controller_writes_reads_back_and_dumps_to_the_same_json() -> None:
    written = {
        "revision": "abc",
        "settings": "0123456789abcdef",
        "state": {"v": 2, "ticks": 3.0, "logPass": ["inf", None, 1.5]},
        "verdict": {
            "outcome": "inconclusive",
            "reason": "more evidence needed",
            "evidence": 3.5,
            "threshold": 100.0,
            "ticks": 3,
            "metrics": [{"name": "latency", "outcome": "pass", "reason": "r", "evidence": 0.5, "threshold": "inf",
                         "effect": None, "boundMs": 250.0}],
        },
        "windowEnd": "2026-01-01T12:00:00.000+00:00",
        "windowTicks": 3.0,
    }  # fmt: skip
    judge = JudgeStatus.model_validate(written)
    assert judge.model_dump(mode="json") == written
    assert judge.verdict is not None and judge.verdict.metrics[0].threshold == float("inf")
    assert judge.evidence_for("abc") and not judge.evidence_for("other")
    assert judge.settings_match("0123456789abcdef") and not judge.settings_match("fedcba9876543210")
    assert judge.window_end() == datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert judge.state_ticks == 3.0 == judge.windowTicks


def test_a_hand_edited_judge_reads_what_makes_sense_and_keeps_the_rest() -> None:
    judge = JudgeStatus.model_validate(
        {"revision": 7, "settings": None, "verdict": "pass", "windowEnd": "yesterday", "windowTicks": "x", "mine": 1}
    )
    assert (judge.revision, judge.verdict, judge.windowTicks, judge.window_end()) == (None, None, None, None)
    assert not judge.settings_match("0123456789abcdef")  # present but not ours: other settings
    assert JudgeStatus.model_validate({}).settings_match("0123456789abcdef")  # written before settings were kept
    assert judge.model_extra == {"mine": 1} and judge.recorded and not JudgeStatus().recorded
    assert JudgeStatus.model_validate({"windowEnd": "2026-01-01T12:00:00"}).window_end() is None  # no time zone
    verdict = JudgeStatus.model_validate({"verdict": {"metrics": ["junk", {"name": 5, "evidence": True}]}}).verdict
    assert verdict is not None and [(m.name, m.evidence) for m in verdict.metrics] == [("5", None)]
    status = CanaryStatus.model_validate({"judge": {"state": "not an object"}})
    assert status.judge is not None and status.judge.state == "not an object"  # the analysis package says why
