"""Each service's payload, checked the way that service parses it (see ``validators``)."""

from __future__ import annotations

import html
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
import pytest

from canary.notifiers import (
    NEW_REVISION,
    WAITING_FOR_GATE,
    CheckLine,
    Notification,
    discord,
    gchat,
    generic,
    msteams,
    rocket,
    slack,
)
from tests.unit.notifiers.validators import (
    discord_problems,
    gchat_problems,
    msteams_problems,
    rocket_problems,
    slack_problems,
)

Render = Callable[[Notification, str | None, str | None], dict[str, Any]]


def generic_problems(payload: dict[str, Any]) -> list[str]:
    """The generic payload against its published JSON Schema."""
    validator = jsonschema.Draft202012Validator(generic.SCHEMA, format_checker=jsonschema.FormatChecker())
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(payload)]


SERVICES: dict[str, tuple[Render, Callable[[dict[str, Any]], list[str]]]] = {
    "slack": (slack.render, slack_problems),
    "msteams": (msteams.render, msteams_problems),
    "discord": (discord.render, discord_problems),
    "gchat": (gchat.render, gchat_problems),
    "rocket": (rocket.render, rocket_problems),
    "generic": (generic.render, generic_problems),
}


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for v in obj.values() for s in _strings(v)]
    if isinstance(obj, list):
        return [s for v in obj for s in _strings(v)]
    return []


def shown_text(service: str, payload: dict[str, Any]) -> str:
    """All texts of the payload as the service shows them (Slack and Chat cards decode their escapes)."""
    texts = _strings(payload)
    if service in ("slack", "gchat"):
        texts = [html.unescape(t) for t in texts]
    if service == "discord":
        texts = [t.replace("\\", "") for t in texts]
    return "\n".join(texts)


def huge_notification() -> Notification:
    """Everything far over every service's limits, with markup characters in the texts."""
    return Notification(
        name="n" * 253,
        namespace="ns-" + "x" * 60,
        phase="Progressing",
        weight=35,
        severity="warn",
        title="failed checks threshold reached " * 20,
        reason=("latency <500 ms> & *rising* _fast_ @everyone " * 2000),
        checks=tuple(
            CheckLine(f"metric-{i}-" + "m" * 300, 1e6 + i, "fail", min=0, max=10, unit="ms") for i in range(120)
        ),
        verdict="fail",
        verdict_reason="evidence <huge> & growing " * 500,
        cluster="c" * 500,
        timestamp=datetime(2026, 11, 23, 11, 0, tzinfo=UTC),
        revision="r" * 300,
        extra=tuple((f"label {i}", "v" * 3000) for i in range(30)),
    )


@pytest.mark.parametrize("service", list(SERVICES))
def test_rolled_back_payload_is_accepted_and_says_what_happened(service: str, rolled_back: Notification) -> None:
    render, problems = SERVICES[service]
    payload = render(rolled_back, "#deploys", "canary")
    assert problems(payload) == []
    json.dumps(payload, allow_nan=False)  # what goes on the wire
    shown = shown_text(service, payload)
    for fact in ("podinfo", "test", "prod-eu-1", "Failed", "0 %", "rolled back", "97.2 % < 99 %", "want ≥ 99 %"):
        assert fact in shown, f"{service}: {fact!r} not shown"
    assert "canary error rate 2.8 % vs primary 0.4 %" in shown


@pytest.mark.parametrize("service", list(SERVICES))
def test_oversized_notification_is_cut_to_the_service_limits(service: str) -> None:
    render, problems = SERVICES[service]
    payload = render(huge_notification(), "#deploys", "canary")
    assert problems(payload) == []
    json.dumps(payload, allow_nan=False)


@pytest.mark.parametrize("service", list(SERVICES))
def test_every_event_kind_renders(service: str) -> None:
    render, problems = SERVICES[service]
    for title, severity, phase in ((NEW_REVISION, "info", "Progressing"), (WAITING_FOR_GATE, "warn", "Waiting")):
        n = Notification("podinfo", "test", phase, 10, severity, title, "")  # type: ignore[arg-type]
        payload = render(n, None, None)
        assert problems(payload) == []
        assert title in shown_text(service, payload)


def test_slack_escapes_only_what_mrkdwn_reads_as_markup(rolled_back: Notification) -> None:
    payload = slack.render(rolled_back, None, None)
    assert payload["text"].endswith("request-success-rate 97.2 % &lt; 99 %")
    assert "channel" not in payload and "username" not in payload
    n = Notification("a", "b", "Failed", 0, "error", "rolled back", "p99 > 500 ms & errors < 1 %")
    assert slack.render(n, None, None)["text"].endswith("p99 &gt; 500 ms &amp; errors &lt; 1 %")


def test_slack_sends_channel_and_username_when_set(rolled_back: Notification) -> None:
    payload = slack.render(rolled_back, "#deploys", "canary")
    assert (payload["channel"], payload["username"]) == ("#deploys", "canary")


@pytest.mark.parametrize(
    ("service", "colour"),
    [
        ("slack", lambda p: p["attachments"][0]["color"]),
        ("msteams", lambda p: p["attachments"][0]["content"]["body"][0]["style"]),
        ("discord", lambda p: p["embeds"][0]["color"]),
        ("rocket", lambda p: p["attachments"][0]["color"]),
    ],
)
def test_colour_follows_severity(service: str, colour: Callable[[dict[str, Any]], Any]) -> None:
    render, _ = SERVICES[service]
    colours = {
        severity: colour(render(Notification("a", "b", "Failed", 0, severity, "t", "r"), None, None))
        for severity in ("info", "warn", "error")
    }
    assert len(set(colours.values())) == 3
    if service == "msteams":
        assert colours["error"] == "attention" and colours["warn"] == "warning"
    else:
        error = colours["error"]
        rgb = error if isinstance(error, int) else int(error.lstrip("#"), 16)
        red, green, blue = rgb >> 16, (rgb >> 8) & 0xFF, rgb & 0xFF
        assert red > green and red > blue, f"{service}: error colour {error!r} is not red"


def test_teams_envelope_is_an_adaptive_card_message(rolled_back: Notification) -> None:
    payload = msteams.render(rolled_back, "#ignored", "ignored")
    assert payload["type"] == "message"
    [attachment] = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["version"] == "1.4"
    assert "ignored" not in json.dumps(payload)  # Teams webhooks have no channel or sender name


def test_discord_disables_mentions_and_escapes_markdown() -> None:
    n = Notification("a", "b", "Failed", 0, "error", "rolled back", "@everyone *rate* _low_ `x`")
    payload = discord.render(n, None, "canary")
    assert payload["allowed_mentions"] == {"parse": []}
    assert payload["embeds"][0]["description"] == r"@everyone \*rate\* \_low\_ \`x\`"
    assert payload["username"] == "canary"


@pytest.mark.parametrize("name", ["Discord alerts", "clyde", "x" * 81, "  "])
def test_discord_leaves_out_user_names_it_would_refuse(name: str) -> None:
    payload = discord.render(Notification("a", "b", "Failed", 0, "error", "t", "r"), None, name)
    assert "username" not in payload


def test_discord_keeps_all_checks_within_25_fields() -> None:
    n = Notification(
        "a", "b", "Failed", 0, "error", "t", "r", checks=tuple(CheckLine(f"m{i}", i, "pass") for i in range(40))
    )
    fields = discord.render(n, None, None)["embeds"][0]["fields"]
    assert len(fields) == 25
    assert fields[-1]["value"] == f"{40 - (25 - len(n.facts()) - 1)} more checks"


def test_gchat_card_escapes_html_and_folds_long_check_lists() -> None:
    n = Notification(
        "a<b>", "b", "Failed", 0, "error", "t", "p99 <b>600</b> ms > 500 ms",
        checks=tuple(CheckLine(f"m{i}", i, "pass") for i in range(8)),
    )  # fmt: skip
    payload = gchat.render(n, None, None)
    assert gchat_problems(payload) == []
    assert "‹b›" in payload["text"] and "<" not in payload["text"]  # no Chat link or mention can start
    reason = payload["cardsV2"][0]["card"]["sections"][0]["widgets"][0]["textParagraph"]["text"]
    assert reason == "p99 &lt;b&gt;600&lt;/b&gt; ms &gt; 500 ms"
    checks = payload["cardsV2"][0]["card"]["sections"][1]
    assert checks["header"] == "Checks" and checks["collapsible"] is True and len(checks["widgets"]) == 8


def test_rocket_sends_channel_and_username() -> None:
    payload = rocket.render(Notification("a", "b", "Failed", 0, "error", "t", "r"), "@oncall", "canary")
    assert (payload["channel"], payload["username"]) == ("@oncall", "canary")
    assert rocket_problems(payload) == []


@pytest.mark.parametrize("service", list(SERVICES))
def test_a_dry_run_check_is_marked_in_every_message(service: str) -> None:
    dry = CheckLine("latency", 700, "fail", max=500, unit="ms", dry_run=True)
    render, problems = SERVICES[service]
    payload = render(Notification("a", "b", "Progressing", 20, "info", "t", "r", checks=(dry,)), None, None)
    assert problems(payload) == []
    assert "fail (dry run)" in shown_text(service, payload)
    if service == "generic":
        assert payload["checks"][0]["dryRun"] is True


def test_generic_payload_sends_null_for_values_json_cannot_spell() -> None:
    n = Notification("a", "b", "Progressing", 20, "warn", "t", "r", checks=(CheckLine("m", float("nan"), "error"),))
    payload = generic.render(n, None, None)
    assert payload["checks"][0]["value"] is None
    assert generic_problems(payload) == []
    json.dumps(payload, allow_nan=False)
