"""``canary status``: how a Canary's checks are rendered."""

from __future__ import annotations

import copy

from rich.console import Console

from canary.cli.manual import render_status
from tests.unit.operator.harness import canary_body


def test_status_marks_a_dry_run_check() -> None:
    canary = copy.deepcopy(canary_body())
    canary["status"] = {
        "phase": "Progressing",
        "checks": [
            {"name": "latency", "value": 700, "max": 500, "outcome": "fail", "reason": "r", "dryRun": True},
            {"name": "errors", "value": 0.1, "max": 1, "outcome": "pass", "reason": "r"},
        ],
    }
    console = Console(width=200, record=True)
    console.print(render_status(canary, []))
    rows = [line for line in console.export_text().splitlines() if "latency" in line or "errors" in line]
    assert len(rows) == 2
    assert "fail (dry run)" in rows[0] and "(dry run)" not in rows[1]
