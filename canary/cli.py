"""The ``canary`` command: run the controller, rehearse a rollout, generate CRDs, check manifests."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["main"]


def _controller(args: argparse.Namespace) -> int:
    from canary.operator.handlers import ControllerSettings, run_controller
    from canary.operator.reconcile import ReconcilerSettings

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ControllerSettings(
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        namespaces=tuple(args.namespace or ()),
        tick=args.tick,
        qps=args.qps,
        burst=args.burst,
        metrics_port=args.metrics_port or None,
        reconciler=ReconcilerSettings(
            default_provider=args.provider,
            prometheus_url=args.prometheus,
            min_interval=args.min_interval,
            alerts=_default_alerts(args),
        ),
    )
    asyncio.run(run_controller(settings))
    return 0


def _default_alerts(args: argparse.Namespace) -> Any:
    """The controller-wide alert provider: the type from a flag, the webhook address from the environment."""
    from canary.operator.alerts import DefaultAlerts

    address = os.environ.get("CANARY_ALERT_ADDRESS", "")
    if not args.alert_type:
        return None
    if not address:
        raise SystemExit("--alert-type needs the webhook address in the CANARY_ALERT_ADDRESS environment variable")
    return DefaultAlerts(args.alert_type, address, channel=args.alert_channel, username=args.alert_username)


def _crds(args: argparse.Namespace) -> int:
    from canary.models.crdgen import write

    for path in write(Path(args.out)):
        print(path)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from canary.extras import MissingExtra, import_extra

    try:
        run_demo = import_extra("canary_testbed.demo", "testbed", "canary demo").run_demo
    except MissingExtra as error:
        print(f"canary demo: {error}", file=sys.stderr)
        return 1
    try:
        return int(run_demo(mesh=args.mesh, scenario=args.scenario, as_json=args.json, seed=args.seed, metrics=args.metrics))
    except (RuntimeError, TimeoutError) as error:  # the testbed could not start (Prometheus), or a step timed out
        print(f"canary demo: {error}", file=sys.stderr)
        return 1


def _whole(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = low - 1
        if value < low:
            raise argparse.ArgumentTypeError(f"must be a whole number >= {low}, got {text!r}")
        return value

    return parse


def _positive(text: str) -> float:
    """An argparse type: a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``canary`` command."""
    parser = argparse.ArgumentParser(prog="canary", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    ctl = sub.add_parser("controller", help="run the controller")
    ctl.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube/config)")
    ctl.add_argument("--namespace", "-n", action="append", help="watch only this namespace (repeatable)")
    ctl.add_argument("--prometheus", help="default Prometheus address, e.g. http://prometheus:9090")
    ctl.add_argument("--provider", default="istio", help="default mesh provider when a Canary names none")
    ctl.add_argument("--tick", type=_positive, default=5.0, help="seconds between two reconciles of a Canary")
    ctl.add_argument(
        "--min-interval", type=_positive, default=10.0, help="floor of analysis.interval in seconds (Flagger's is 10)"
    )
    ctl.add_argument("--qps", type=_positive, default=50.0, help="API requests per second budget")
    ctl.add_argument("--burst", type=_whole(1), default=100, help="API request burst")
    ctl.add_argument(
        "--alert-type",
        help="default chat provider for Canaries that list no alerts (slack, msteams, discord, gchat, rocket, generic); "
        "the webhook address is read from CANARY_ALERT_ADDRESS so it never shows in the process list",
    )
    ctl.add_argument("--alert-channel")
    ctl.add_argument("--alert-username", default="canary")
    ctl.add_argument("--metrics-port", type=int, default=8080, help="port of /metrics and /healthz (0: off)")
    ctl.add_argument("--log-level", default="INFO")
    ctl.set_defaults(func=_controller)

    crds = sub.add_parser("crds", help="write the CRDs generated from the models")
    crds.add_argument("--out", default="crds", help="output directory (default: crds)")
    crds.set_defaults(func=_crds)

    demo = sub.add_parser("demo", help="run a full rollout in the local testbed")
    demo.add_argument("--mesh", choices=["istio", "linkerd"], default="istio")
    demo.add_argument(
        "--scenario",
        choices=["healthy", "error-regression", "latency-regression", "never-ready"],
        default="healthy",
    )
    demo.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    demo.add_argument("--seed", type=_whole(0), default=1)
    demo.add_argument(
        "--metrics",
        choices=["auto", "prometheus", "simulator"],
        default="auto",
        help="metrics backend: the real Prometheus, the simulator itself, or Prometheus when installed",
    )
    demo.set_defaults(func=_demo)

    from canary.ctl import register as register_day2
    from canary.gitops.cli import register as register_gitops
    from canary.report.cli import register as register_report

    register_day2(sub)
    register_gitops(sub)
    register_report(sub)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``canary`` command."""
    args = build_parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
