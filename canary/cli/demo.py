"""``canary demo``: rehearse a whole rollout in the local testbed (imported only when it runs)."""

from __future__ import annotations

import argparse
import sys

from canary.cli.args import Subparsers, whole

__all__ = ["register"]


def _demo(args: argparse.Namespace) -> int:
    from canary.extras import MissingExtra, import_extra

    try:
        run_demo = import_extra("canary_testbed.demo", "testbed", "canary demo").run_demo
    except MissingExtra as error:
        print(f"canary demo: {error}", file=sys.stderr)
        return 1
    try:
        return int(
            run_demo(mesh=args.mesh, scenario=args.scenario, as_json=args.json, seed=args.seed, metrics=args.metrics)
        )
    except (RuntimeError, TimeoutError) as error:  # the testbed could not start (Prometheus), or a step timed out
        print(f"canary demo: {error}", file=sys.stderr)
        return 1


def register(subparsers: Subparsers) -> None:
    """Add ``demo`` to the ``canary`` command."""
    demo = subparsers.add_parser("demo", help="run a full rollout in the local testbed")
    demo.add_argument("--mesh", choices=["istio", "linkerd"], default="istio")
    demo.add_argument(
        "--scenario",
        choices=["healthy", "error-regression", "latency-regression", "never-ready"],
        default="healthy",
    )
    demo.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    demo.add_argument("--seed", type=whole(0), default=1)
    demo.add_argument(
        "--metrics",
        choices=["auto", "prometheus", "simulator"],
        default="auto",
        help="metrics backend: the real Prometheus, the simulator itself, or Prometheus when installed",
    )
    demo.set_defaults(func=_demo)
