"""The detection benchmark runs end to end, and its report reproduces itself from the command it prints."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[3]
OPTIONS = ["--seed", "7", "--healthy-runs", "12", "--regression-runs", "8", "--stress-runs", "6"]


def _benchmark() -> ModuleType:
    """``benchmarks/detection.py`` as a module (it is a script, not part of the package)."""
    spec = importlib.util.spec_from_file_location("detection_benchmark", ROOT / "benchmarks" / "detection.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # (dataclasses look their module up while the class is built)
    spec.loader.exec_module(module)
    return module


def _without_timing(report: str) -> str:
    return "\n".join(line for line in report.splitlines() if not line.startswith("This run took"))


def test_the_report_is_complete_and_the_printed_command_reproduces_it(tmp_path: Path) -> None:
    detection = _benchmark()
    first, second = tmp_path / "one.md", tmp_path / "two.md"
    assert detection.main([*OPTIONS, "--workers", "1", "--output", str(first)]) == 0
    report = first.read_text()

    # the report names the command that reproduces it, options included ...
    command = re.search(r"Reproduce with `([^`]+)`", report)
    assert command is not None
    assert command.group(1) == ".venv/bin/python benchmarks/detection.py " + " ".join(OPTIONS)
    # ... and that command, run as printed (in a process of its own), gives the same tables, whatever
    # the number of worker processes
    script, *args = command.group(1).split()[1:]
    run = subprocess.run(
        [sys.executable, script, *args, "--workers", "2", "--output", str(second)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert _without_timing(second.read_text()) == _without_timing(report)

    timing = re.search(r"`SequentialJudge.update` took (\d+) µs per tick", report)
    assert timing is not None and int(timing.group(1)) > 0
    # every scenario has its row, with a figure for each traffic cell
    for scenario in (*detection.SCENARIOS, *detection.STRESS):
        row = re.search(rf"^\| {re.escape(scenario.name)} \| ([^|]+) \|", report, re.MULTILINE)
        assert row is not None, scenario.name
        assert re.fullmatch(r"\d+\.\d+ / \d+\.\d+ / \d+\.\d+", row.group(1).strip()), row.group(0)
    # our judge catches a 50-fold error rate in every cell, even in this short run
    errors5 = re.search(r"^\| errors 0\.1 % -> 5 % \| ([^|]+) \|", report, re.MULTILINE)
    assert errors5 is not None and errors5.group(1).strip() == "100.0 / 100.0 / 100.0"
    # every target of the issue is listed with its verdict
    targets = report[report.index("## Targets (our judge)") :]
    verdicts = re.findall(r"\| (met[^|]*|NOT met: [^|]+) \|$", targets, re.MULTILINE)
    assert len(verdicts) == len(re.findall(r"^\| (?!target |---)", targets, re.MULTILINE)) >= 15
