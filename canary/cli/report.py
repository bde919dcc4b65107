"""``canary report NAME -o rollout.png``: draw a Canary's recent rollout from Prometheus, no Grafana needed.

Which mesh's metrics to read, and the canary's workload, come from the Canary
itself (read through the Kubernetes API: ``spec.provider``,
``spec.targetRef``), unless ``--mesh`` is given; then the workload comes from
the controller's ``canary_info`` series in Prometheus. The Canary's status
message is written under the figure.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from canary.cli.args import Subparsers
from canary.errors import CanaryError
from canary.kube.api import CANARIES, ApiError, KubeApi
from canary.kube.client import ClusterApi, load_client_config
from canary.models import DurationError, parse_duration, primary_deployment_name
from canary.providers.base import ProviderError
from canary.providers.builtin import MESHES, metrics_mesh
from canary.providers.templates import check_dns_label, check_dns_subdomain
from canary.report.data import DECISIONS, ReportData
from canary.report.fetch import PrometheusError, fetch_report

__all__ = ["CanaryTarget", "ReportError", "read_canary", "register", "run_report"]

DEFAULT_PROMETHEUS = "http://localhost:9090"


class ReportError(CanaryError):
    """The report cannot be made; the message tells the user what to change."""


@dataclass(frozen=True)
class CanaryTarget:
    """What the report needs to know about the Canary besides its name."""

    mesh: str
    target: str
    primary: str
    message: str | None = None


async def read_canary(api: KubeApi, namespace: str, name: str, default_mesh: str = "istio") -> CanaryTarget:
    """The mesh, workloads and status message of Canary ``namespace/name`` from the Kubernetes API."""
    try:
        canary = await api.get(CANARIES, namespace, name)
    except ApiError as error:
        raise ReportError(f"cannot read Canary {namespace}/{name}: {error}") from error
    if canary is None:
        raise ReportError(f"Canary {namespace}/{name} not found")
    spec = canary.get("spec") or {}
    target = str((spec.get("targetRef") or {}).get("name") or name)
    try:
        mesh = metrics_mesh(spec.get("provider"), default=default_mesh)
    except ProviderError as error:
        raise ReportError(f"{error}; pass --mesh istio|linkerd") from error
    message = (canary.get("status") or {}).get("message")
    return CanaryTarget(mesh, target, primary_deployment_name(target), str(message) if message else None)


def _from_prometheus(client: httpx.Client, namespace: str, name: str, mesh: str) -> CanaryTarget:
    """Workload names from ``canary_info`` (the Canary's own name when the controller never exported it)."""
    try:
        response = client.get(
            "/api/v1/query",
            params={"query": f'last_over_time(canary_info{{namespace="{namespace}",name="{name}"}}[1w])'},
        )
        result = response.json()["data"]["result"] if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        result = []
    labels = result[0]["metric"] if result else {}
    target = str(labels.get("canary") or name)
    return CanaryTarget(mesh, target, str(labels.get("primary") or primary_deployment_name(target)))


def _kube_target(args: argparse.Namespace) -> CanaryTarget:
    try:
        api = ClusterApi(load_client_config(Path(args.kubeconfig) if args.kubeconfig else None))
    except Exception as error:  # the kubernetes client raises several kinds for a missing or bad config
        raise ReportError(
            f"no Kubernetes access ({error}); pass --kubeconfig, or --mesh to skip reading the Canary"
        ) from error
    try:
        return asyncio.run(read_canary(api, args.namespace, args.name))
    except ReportError:
        raise
    except Exception as error:  # urllib3 reports a refused connection in its own exception types
        raise ReportError(
            f"cannot reach the Kubernetes API ({error}); pass --mesh to skip reading the Canary"
        ) from error
    finally:
        api.close()


def run_report(args: argparse.Namespace, transport: httpx.BaseTransport | None = None) -> int:
    """Fetch, draw, and say what was decided; errors become one line on stderr and exit code 1.

    ``transport`` replaces the HTTP transport to Prometheus (tests answer with ``httpx.MockTransport``).
    """
    from canary.extras import MissingExtra, import_extra

    try:
        draw = import_extra("canary.report.draw", "report", "canary report").draw  # matplotlib: only to draw
    except MissingExtra as error:
        print(f"canary report: {error}", file=sys.stderr)
        return 1
    try:
        check_dns_label("namespace", args.namespace)  # both go into PromQL
        check_dns_subdomain("name", args.name)
        since = parse_duration(args.since)
        end = time.time() if args.until is None else float(args.until)
        if not math.isfinite(end):
            raise ReportError(f"--until {args.until} is not a time (Unix seconds)")
        if not (math.isfinite(args.timeout) and args.timeout > 0):
            raise ReportError(f"--timeout {args.timeout} must be a positive number of seconds")
        start = end - since
        parse_duration(args.rate_window)
        try:
            client = httpx.Client(base_url=args.prometheus.rstrip("/"), timeout=args.timeout, transport=transport)
        except httpx.InvalidURL as error:
            raise ReportError(f"--prometheus {args.prometheus!r} is not a URL: {error}") from None
        with client:
            canary = _from_prometheus(client, args.namespace, args.name, args.mesh) if args.mesh else _kube_target(args)
            data: ReportData = fetch_report(
                client,
                name=args.name,
                namespace=args.namespace,
                mesh=canary.mesh,
                target=canary.target,
                primary=canary.primary,
                start=start,
                end=end,
                rate_window=args.rate_window,
                reason=canary.message,
            )
        if data.is_empty():
            raise ReportError(
                f"Prometheus at {args.prometheus} has no data for Canary {args.namespace}/{args.name} "
                f"in the last {args.since}"
            )
        path = draw(data, args.output)
    except (ReportError, PrometheusError, ProviderError, DurationError, OSError) as error:
        print(f"canary report: {error}", file=sys.stderr)
        return 1
    decision = data.decision
    outcome = (
        f"{DECISIONS[decision.phase]} at {time.strftime('%H:%M:%S', time.gmtime(decision.at))} UTC"
        if decision
        else "no decision in this range"
    )
    print(f"{path}: {args.namespace}/{args.name} ({data.mesh}), {outcome}")
    return 0


def register(subparsers: Subparsers) -> None:
    """Add ``report`` to the ``canary`` command."""
    parser = subparsers.add_parser(
        "report",
        help="draw a Canary's rollout (weight, success rate, p99 latency, decision) from Prometheus as a PNG",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("name", help="the Canary")
    parser.add_argument("-o", "--output", default="rollout.png", help="PNG file to write (default: rollout.png)")
    parser.add_argument("-n", "--namespace", default="default")
    parser.add_argument(
        "--prometheus",
        default=os.environ.get("PROMETHEUS_URL", DEFAULT_PROMETHEUS),
        help=f"Prometheus address (default: $PROMETHEUS_URL, else {DEFAULT_PROMETHEUS})",
    )
    parser.add_argument("--since", default="30m", help="how far back to draw (default: 30m)")
    parser.add_argument("--until", type=float, default=None, help="end of the range, Unix seconds (default: now)")
    parser.add_argument(
        "--mesh", choices=list(MESHES), help="read this mesh's metrics instead of the Canary's provider (no kube API)"
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then ~/.kube/config)")
    parser.add_argument(
        "--rate-window", default="1m", help="range of rate() for success rate and latency: >= 4 scrape intervals"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for each Prometheus query")
    parser.set_defaults(func=run_report)
