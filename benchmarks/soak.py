"""Fault soak: many seeded fault drills per mesh, and what they broke.

Each run is one :func:`canary_testbed.drills.run_drill` (a healthy and an
erroring revision rolled out through API faults, controller kills, the
persist -> converge gap and a Prometheus outage) on a testbed that lives for
the whole mesh. The report counts runs, kills, outages, injected faults by
kind, steps routed again, and every violation with its seed, so a failing
seed can be replayed alone with ``--seed``::

    .venv/bin/python benchmarks/soak.py                  # 16 runs per mesh (32), results/soak.md
    .venv/bin/python benchmarks/soak.py --runs 2 --seed 7 --mesh istio --out -
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

from canary_testbed.drills import Drill, DrillReport, drill_testbed, run_drill

DEFAULT_SEED = 20261208
RESULTS = Path(__file__).parent / "results" / "soak.md"


async def _soak_mesh(mesh: str, runs: int, seed: int, rate: float) -> list[DrillReport]:
    reports: list[DrillReport] = []
    async with drill_testbed(mesh, namespace="soak") as bed:
        for run in range(runs):
            drill = Drill(seed=seed + run, api_fault_rate=rate, kills=1 + run % 2)
            report = await run_drill(bed, drill, revision=run + 1)
            reports.append(report)
            verdict = "ok" if not report.violations else f"{len(report.violations)} violations"
            print(f"{mesh} seed {drill.seed}: {report.seconds:.0f} s, {verdict}", file=sys.stderr, flush=True)
            for violation in report.violations:
                print(f"  {violation}", file=sys.stderr, flush=True)
    return reports


def _table(reports: list[DrillReport]) -> list[str]:
    lines = [
        "| mesh | runs | kills | Prometheus outages | API requests examined | faults injected | steps routed again | violations |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for mesh in sorted({r.mesh for r in reports}):
        mine = [r for r in reports if r.mesh == mesh]
        faults: Counter[str] = Counter()
        for r in mine:
            faults.update(r.faults_injected)
        injected = ", ".join(f"{kind} {n}" for kind, n in sorted(faults.items())) or "none"
        lines.append(
            f"| {mesh} | {len(mine)} | {sum(r.kills for r in mine)} | {sum(r.outages for r in mine)} | "
            f"{sum(r.requests_examined for r in mine)} | {injected} | {sum(r.repaired_steps for r in mine)} | "
            f"{sum(len(r.violations) for r in mine)} |"
        )
    return lines


def render(reports: list[DrillReport], command: str, seconds: float) -> str:
    """The soak's report as Markdown: the table, then each violation with its seed."""
    out = [
        "# Fault soak",
        "",
        f"Reproduce: `{command}` ({seconds:.0f} s on this machine).",
        "",
        *_table(reports),
        "",
    ]
    broken = [r for r in reports if r.violations]
    if broken:
        out.append("## Violations")
        out.append("")
        for r in broken:
            out += [f"- {r.mesh} seed {r.seed}: {v}" for v in r.violations]
    else:
        out.append("No violation in any run.")
    out.append("")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=16, help="drills per mesh (default 16)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the first drill; run i uses seed+i")
    parser.add_argument("--mesh", action="append", choices=["istio", "linkerd"], help="default: both")
    parser.add_argument("--rate", type=float, default=0.2, help="share of the controller's API requests faulted")
    parser.add_argument("--out", default=str(RESULTS), help="report file ('-': stdout)")
    parser.add_argument("--json", action="store_true", help="print the reports as JSON on stdout as well")
    args = parser.parse_args(argv)
    meshes = args.mesh or ["istio", "linkerd"]
    started = time.monotonic()
    reports: list[DrillReport] = []
    for mesh in meshes:
        reports += asyncio.run(_soak_mesh(mesh, args.runs, args.seed, args.rate))
    command = "python benchmarks/soak.py" + "".join(
        [f" --runs {args.runs}", f" --seed {args.seed}", f" --rate {args.rate:g}"]
        + [f" --mesh {m}" for m in (args.mesh or [])]
    )
    text = render(reports, command, time.monotonic() - started)
    if args.out == "-":
        print(text)
    else:
        Path(args.out).write_text(text)
    if args.json:
        print(json.dumps([r.__dict__ for r in reports], indent=1))
    return 0 if not any(r.violations for r in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
