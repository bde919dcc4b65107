"""Day-2 commands: look at Canaries and steer them through annotations the controller honours.

``approve``, ``abort``, ``retry``, ``suspend``, ``resume`` and ``promote``
write the annotations of :mod:`canary.operator.gates`, so the same requests
work from kubectl and from Git. ``status`` and ``list`` render what the controller wrote
into each Canary's status, plus its recent Events.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from canary.cli.args import Subparsers
from canary.kube.api import CANARIES, EVENTS, JsonDict, KubeApi
from canary.kube.client import ClusterApi, kubeconfig_user, load_client_config
from canary.operator.gates import ABORT, APPROVE, PROMOTE, PROMOTE_FORCE, PROMOTE_REQUESTED_BY, RETRY, SUSPEND

__all__ = ["register", "render_list", "render_status"]


def _api(args: argparse.Namespace) -> ClusterApi:
    return ClusterApi(load_client_config(Path(args.kubeconfig) if args.kubeconfig else None))


def _fmt(value: Any, unit: str | None = None) -> str:
    if value is None:
        return "-"
    text = f"{float(value):.4g}"
    return f"{text} {unit}" if unit else text


def render_status(canary: JsonDict, events: list[JsonDict]) -> Group:
    """One Canary: phase, weight, each check against its threshold, the judge, recent events."""
    meta, status = canary.get("metadata", {}), canary.get("status") or {}
    head = Table.grid(padding=(0, 2))
    head.add_row("phase", str(status.get("phase") or "-"), "canary weight", f"{status.get('canaryWeight', 0)} %")
    head.add_row(
        "failed checks",
        str(status.get("failedChecks", 0)),
        "last transition",
        str(status.get("lastTransitionTime") or "-"),
    )
    head.add_row("message", str(status.get("message") or "-"), "", "")
    checks = Table(title="checks (last analysis tick)", expand=True)
    for column in ("check", "value", "threshold", "outcome", "reason"):
        checks.add_column(column)
    for check in status.get("checks") or []:
        bounds = " ".join(
            part
            for part in (
                f">= {_fmt(check.get('min'))}" if check.get("min") is not None else "",
                f"<= {_fmt(check.get('max'))}" if check.get("max") is not None else "",
            )
            if part
        )
        checks.add_row(
            check.get("name", ""),
            _fmt(check.get("value"), check.get("unit")),
            bounds,
            check.get("outcome", "") + (" (dry run)" if check.get("dryRun") else ""),
            check.get("reason", ""),
        )
    parts: list[Any] = [Panel(head, title=f"{meta.get('namespace')}/{meta.get('name')}"), checks]
    verdict = ((status.get("judge") or {}).get("verdict")) or {}
    if verdict:
        judge = Table(title=f"judge: {verdict.get('outcome')}: {verdict.get('reason')}", expand=True)
        for column in ("metric", "outcome", "evidence", "rollback at", "reason"):
            judge.add_column(column)
        for metric in verdict.get("metrics") or []:
            judge.add_row(
                str(metric.get("name")), str(metric.get("outcome")), _fmt(metric.get("evidence")),
                _fmt(metric.get("threshold")), str(metric.get("reason")),
            )  # fmt: skip
        parts.append(judge)
    mine = [e for e in events if e.get("involvedObject", {}).get("name") == meta.get("name")]
    mine.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("metadata", {}).get("creationTimestamp") or ""))
    lines = [f"{e.get('lastTimestamp', '')} {e.get('type')}: {e.get('message')}" for e in mine[-8:]]
    parts.append(Panel("\n".join(lines) or "(none)", title="recent events"))
    return Group(*parts)


def render_list(canaries: list[JsonDict]) -> Table:
    """Every Canary on one line each, like ``kubectl get canaries`` with the reason added."""
    table = Table(expand=True)
    for column in ("namespace", "name", "phase", "weight", "failed", "last transition", "message"):
        table.add_column(column)
    for canary in sorted(canaries, key=lambda c: (c["metadata"].get("namespace", ""), c["metadata"]["name"])):
        status = canary.get("status") or {}
        table.add_row(
            canary["metadata"].get("namespace", ""), canary["metadata"]["name"], str(status.get("phase") or "-"),
            f"{status.get('canaryWeight', 0)} %", str(status.get("failedChecks", 0)),
            str(status.get("lastTransitionTime") or "-"), str(status.get("message") or ""),
        )  # fmt: skip
    return table


async def _annotate(api: KubeApi, namespace: str, name: str, key: str, value: str | None) -> JsonDict:
    return await api.patch(CANARIES, namespace, name, {"metadata": {"annotations": {key: value}}})


#: The phases in which a revision is under analysis, so a promotion can be asked for.
_PROMOTABLE = ("Progressing", "WaitingPromotion", "Waiting")


async def _promote(api: KubeApi, args: argparse.Namespace, canary: JsonDict, console: Console) -> int:
    """Ask the controller to promote the revision under analysis now (with ``--force``, without checks)."""
    status = canary.get("status") or {}
    revision, phase = status.get("lastAppliedSpec"), status.get("phase")
    if not revision or phase not in _PROMOTABLE:
        console.print(f"[red]nothing to promote: no revision is under analysis (phase is {phase or '-'})[/]")
        return 1
    requester = args.requested_by or kubeconfig_user(Path(args.kubeconfig) if args.kubeconfig else None)
    annotations = {PROMOTE: revision, PROMOTE_FORCE: "true" if args.force else None, PROMOTE_REQUESTED_BY: requester}
    await api.patch(CANARIES, args.namespace, args.name, {"metadata": {"annotations": annotations}})
    how = "now, skipping its checks" if args.force else "once its checks pass"
    console.print(f"promotion of revision {revision} of {args.namespace}/{args.name} requested: {how}")
    return 0


def _steer(args: argparse.Namespace) -> int:
    console = Console()
    api = _api(args)

    async def run() -> int:
        canary = await api.get(CANARIES, args.namespace, args.name)
        if canary is None:
            console.print(f"[red]canary {args.namespace}/{args.name} not found[/]")
            return 1
        status = canary.get("status") or {}
        if args.action == "promote":
            return await _promote(api, args, canary, console)
        if args.action == "approve":
            revision = status.get("lastAppliedSpec")
            if not revision:
                console.print("[red]nothing to approve: the canary has no revision under analysis[/]")
                return 1
            await _annotate(api, args.namespace, args.name, APPROVE, revision)
            console.print(f"approved revision {revision} of {args.namespace}/{args.name} (phase {status.get('phase')})")
        elif args.action == "abort":
            await _annotate(api, args.namespace, args.name, ABORT, "true")
            console.print(f"abort requested for {args.namespace}/{args.name}")
        elif args.action == "retry":
            if status.get("phase") != "Failed":
                console.print(f"[red]only a Failed canary can be retried (phase is {status.get('phase')})[/]")
                return 1
            await _annotate(api, args.namespace, args.name, RETRY, "true")
            console.print(f"retry requested for {args.namespace}/{args.name}")
        elif args.action == "suspend":
            await _annotate(api, args.namespace, args.name, SUSPEND, "true")
            console.print(f"suspended {args.namespace}/{args.name}")
        else:
            await _annotate(api, args.namespace, args.name, SUSPEND, None)
            console.print(f"resumed {args.namespace}/{args.name}")
        return 0

    try:
        return asyncio.run(run())
    finally:
        api.close()


def _show(args: argparse.Namespace) -> int:
    console = Console()
    api = _api(args)

    async def snapshot() -> Any:
        if args.command == "list" or not getattr(args, "name", None):
            return render_list(await api.list(CANARIES, None if args.all_namespaces else args.namespace))
        canary = await api.get(CANARIES, args.namespace, args.name)
        if canary is None:
            raise LookupError(f"canary {args.namespace}/{args.name} not found")
        return render_status(canary, await api.list(EVENTS, args.namespace))

    try:
        if not args.watch:
            console.print(asyncio.run(snapshot()))
            return 0
        with Live(console=console, refresh_per_second=2) as live:
            while True:
                live.update(asyncio.run(snapshot()))
                time.sleep(args.interval)
    except LookupError as error:
        console.print(f"[red]{error}[/]")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        api.close()


def register(subparsers: Subparsers) -> None:
    """Add the day-2 subcommands to the ``canary`` command."""

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--namespace", "-n", default="default")
        parser.add_argument("--kubeconfig", help="kubeconfig file (default: KUBECONFIG, then ~/.kube/config)")

    helps = {
        "approve": "open the confirm-* gate the rollout waits at, for the current revision only",
        "abort": "roll the current revision back now",
        "retry": "run a failed revision's analysis again",
        "suspend": "pause the canary (like spec.suspend)",
        "resume": "undo suspend",
        "promote": "promote the revision under analysis without its remaining steps, once its checks pass",
    }
    for action, text in helps.items():
        parser = subparsers.add_parser(action, help=text)
        parser.add_argument("name")
        common(parser)
        parser.set_defaults(func=_steer, action=action)
        if action == "promote":
            parser.add_argument("--force", action="store_true", help="promote now, skipping the checks and gates")
            parser.add_argument("--requested-by", help="who asks (default: the kubeconfig's user)")
    for command in ("status", "list"):
        parser = subparsers.add_parser(command, help="show a canary" if command == "status" else "list canaries")
        if command == "status":
            parser.add_argument("name", nargs="?")
        common(parser)
        parser.add_argument("--all-namespaces", "-A", action="store_true")
        parser.add_argument("--watch", "-w", action="store_true", help="keep the view up to date")
        parser.add_argument("--interval", type=float, default=2.0)
        parser.set_defaults(func=_show)
