"""The ``canary`` command's layout: every group registered, and nothing heavy loaded to parse a command line."""

from __future__ import annotations

import json
import subprocess
import sys

from canary.cli import build_parser

COMMANDS = [
    "controller", "crds", "demo", "approve", "abort", "retry", "suspend", "resume", "promote", "status", "list",
    "validate", "convert", "report",
]  # fmt: skip


def test_every_group_registers_its_subcommands_in_the_order_help_lists_them() -> None:
    assert "{" + ",".join(COMMANDS) + "}" in build_parser().format_usage()


def test_parsing_a_command_line_loads_neither_the_operator_nor_matplotlib_nor_the_testbed() -> None:
    probe = (
        "import json, sys; from canary.cli import build_parser; build_parser().parse_args(['controller']); "
        "print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    loaded = json.loads(done.stdout)
    heavy = ("matplotlib", "kopf", "kmock", "kubeemu", "canary_testbed", "canary.operator.handlers", "canary.report.draw")
    assert [name for name in loaded if name.startswith(heavy)] == []
