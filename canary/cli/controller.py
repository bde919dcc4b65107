"""``canary controller``: run the controller until it is stopped."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path
from typing import Any

from canary.cli.args import Subparsers, positive, whole

__all__ = ["register"]


def _controller(args: argparse.Namespace) -> int:
    from canary.operator.handlers import ControllerSettings, run_controller
    from canary.operator.reconcile import ReconcilerSettings

    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = ControllerSettings(
        kubeconfig=Path(args.kubeconfig) if args.kubeconfig else None,
        namespaces=tuple(args.namespace or ()),
        tick=args.tick,
        resync=args.resync,
        scheduling=args.scheduling,
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


def register(subparsers: Subparsers) -> None:
    """Add ``controller`` to the ``canary`` command."""
    ctl = subparsers.add_parser("controller", help="run the controller")
    ctl.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube/config)")
    ctl.add_argument("--namespace", "-n", action="append", help="watch only this namespace (repeatable)")
    ctl.add_argument("--prometheus", help="default Prometheus address, e.g. http://prometheus:9090")
    ctl.add_argument("--provider", default="istio", help="default mesh provider when a Canary names none")
    ctl.add_argument(
        "--tick",
        type=positive,
        default=5.0,
        help="seconds between two reconciles of a Canary in a short-lived phase (initializing, promoting, waiting "
        "on a gate webhook); analyses run at their interval, and a change wakes a Canary at once",
    )
    ctl.add_argument(
        "--resync",
        type=positive,
        default=300.0,
        help="seconds after which a Canary is reconciled even if nothing changed (in case a watch event was missed)",
    )
    ctl.add_argument(
        "--scheduling",
        choices=["timer", "events"],
        default="timer",
        help="timer: a reconcile of every Canary each --tick (default); events: when due or changed, over watch "
        "caches, so idle Canaries cost nothing (see benchmarks/README.md)",
    )
    ctl.add_argument(
        "--min-interval", type=positive, default=10.0, help="floor of analysis.interval in seconds (Flagger's is 10)"
    )
    ctl.add_argument(
        "--qps", type=positive, default=100.0, help="API requests per second budget (idle Canaries use none)"
    )
    ctl.add_argument("--burst", type=whole(1), default=500, help="API request burst")
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
