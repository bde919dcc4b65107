"""``canary demo``: a full rollout rehearsed in the local testbed, shown live.

It starts the testbed (emulated API server, simulated kubelet and mesh, the
real Prometheus when installed), the controller in its own process, creates a
``podinfo`` Deployment and its Canary, waits for initialization, rolls out a
new revision that behaves as the scenario says, and follows the rollout until
it ends: phase, canary weight, each check's value against its threshold, the
judge's verdict, and the events.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from canary.cli.manual import render_status
from canary.kube.api import EVENTS, JsonDict
from canary_testbed.mesh import SimulatorProvider
from canary_testbed.prom import prometheus_available
from canary_testbed.testbed import Testbed

__all__ = ["SCENARIOS", "demo_canary", "run_demo"]

APP = "podinfo"
TERMINAL = {"Succeeded", "Failed"}

# scenario -> (behaviour of the new revision, readiness of its pods)
SCENARIOS: dict[str, tuple[str, str | None]] = {
    "healthy": ("healthy", None),
    "error-regression": ("errors", None),
    "latency-regression": ("slow", None),
    "never-ready": ("healthy", "never"),
}


def demo_canary(provider: str, name: str = APP, interval: str = "3s", deadline: int = 20) -> JsonDict:
    """The demo's Canary: Flagger's podinfo example with short intervals and the judge in dry run."""
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name},
        "spec": {
            "provider": provider,
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": deadline,
            "service": {"port": 9898, "targetPort": 9898},
            "analysis": {
                "interval": interval,
                "threshold": 3,
                "maxWeight": 50,
                "stepWeight": 10,
                "metrics": [
                    {"name": "request-success-rate", "interval": "15s", "thresholdRange": {"min": 99}},
                    {"name": "request-duration", "interval": "15s", "thresholdRange": {"max": 500}},
                ],
                "judge": {"alpha": 0.01, "dryRun": True},
            },
        },
    }


@dataclass
class _Record:
    weights: list[int] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    objects: list[JsonDict] = field(default_factory=list)
    last_analysis: str | None = None


async def _converged_weight(bed: Testbed, decided: int, within: float = 3.0) -> int:
    """The canary weight in the routing object once the controller has applied the decision.

    Status is written before the routing object (so a restart resumes right),
    so wait briefly for the two to agree; answer what the routing object says.
    """
    deadline = time.monotonic() + within
    while True:
        seen = (await bed.routes(APP)).canary
        if seen == decided or time.monotonic() > deadline:
            return seen
        await asyncio.sleep(0.1)


def _view(canary: JsonDict, events: list[JsonDict], mesh: str, prometheus: bool, started: float) -> Group:
    """The live view: where the demo runs, then the same status view as ``canary status``."""
    head = Table.grid(padding=(0, 2))
    head.add_row(
        "mesh", mesh, "metrics", "real Prometheus" if prometheus else "the simulator (no Prometheus)",
        "elapsed", f"{time.monotonic() - started:.0f} s",
    )  # fmt: skip
    return Group(Panel(head, title="canary demo"), render_status(canary, events))


async def _demo(mesh: str, scenario: str, as_json: bool, seed: int, metrics: str) -> dict[str, Any]:
    behaviour, ready = SCENARIOS[scenario]
    console = Console(stderr=as_json)
    use_prometheus = metrics == "prometheus" or (metrics == "auto" and prometheus_available())
    if not use_prometheus:
        console.print(
            "[yellow]Running WITHOUT Prometheus: the mesh simulator answers the metric queries itself "
            "(install Debian's `prometheus` package to run against the real server).[/]"
        )
    started = time.monotonic()
    async with Testbed(provider=mesh, namespace="demo", seed=seed, use_prometheus=use_prometheus) as bed:
        assert bed.api is not None
        await bed.add_app(APP, behaviour="healthy")
        await bed.apply_canary(demo_canary(mesh))
        if use_prometheus:
            bed.start_controller()
        else:
            simulator = bed.simulator
            assert simulator is not None
            bed.start_controller(
                in_process=True, metric_providers={"prometheus": lambda address, **_: SimulatorProvider(simulator)}
            )
        record = _Record()
        seen_events: set[str] = set()

        async def refresh() -> JsonDict:
            canary = await bed.canary(APP)
            assert bed.api is not None
            for event in sorted(
                await bed.api.list(EVENTS, bed.namespace), key=lambda e: str(e.get("lastTimestamp", ""))
            ):
                uid = event["metadata"]["name"]
                if uid not in seen_events and event.get("involvedObject", {}).get("name") == APP:
                    seen_events.add(uid)
                    record.objects.append(event)
                    record.events.append(f"{event.get('type')}: {event.get('message')}")
            status = canary.get("status") or {}
            if status.get("lastAnalysisTime") != record.last_analysis and status.get("phase") in (
                "Progressing", "WaitingPromotion", "Promoting",
            ):  # fmt: skip
                record.last_analysis = status.get("lastAnalysisTime")
                record.weights.append(await _converged_weight(bed, int(status.get("canaryWeight", 0))))
            return canary

        with Live(console=console, refresh_per_second=4, transient=as_json) as live:
            canary = await refresh()
            while (canary.get("status") or {}).get("phase") != "Initialized":
                if time.monotonic() - started > 60:
                    raise TimeoutError("the canary did not initialize within 60 s")
                await asyncio.sleep(0.5)
                canary = await refresh()
                live.update(_view(canary, record.objects, mesh, use_prometheus, started))
            initial = (canary.get("status") or {}).get("lastAppliedSpec")
            await bed.new_revision(APP, image="podinfo:6.0.1", behaviour=behaviour, ready=ready)
            while True:
                await asyncio.sleep(0.5)
                canary = await refresh()
                live.update(_view(canary, record.objects, mesh, use_prometheus, started))
                status = canary.get("status") or {}
                if status.get("lastAppliedSpec") != initial and status.get("phase") in TERMINAL:
                    break
                if time.monotonic() - started > 170:
                    raise TimeoutError("the rollout did not end within 170 s")
            await asyncio.sleep(1.0)
            canary = await refresh()
            final_routes = await bed.routes(APP)
            live.update(_view(canary, record.objects, mesh, use_prometheus, started))
        status = canary.get("status") or {}
        return {
            "phase": status.get("phase"),
            "weights": record.weights,
            "finalRoutes": {"primary": final_routes.primary, "canary": final_routes.canary},
            "failedChecks": status.get("failedChecks", 0),
            "events": record.events,
            "checks": status.get("checks", []),
            "mesh": mesh,
            "scenario": scenario,
            "prometheus": use_prometheus,
            "seconds": round(time.monotonic() - started, 1),
        }


def run_demo(
    mesh: str = "istio", scenario: str = "healthy", as_json: bool = False, seed: int = 1, metrics: str = "auto"
) -> int:
    """Run the demo; with ``as_json`` the last line of stdout is a JSON summary. Exit code 0 when it ran.

    ``metrics``: ``prometheus`` (the real server; it must be installed), ``simulator``
    (the simulator answers the queries), or ``auto`` (Prometheus when installed).
    """
    summary = asyncio.run(_demo(mesh, scenario, as_json, seed, metrics))
    if as_json:
        print(json.dumps(summary))
    else:
        Console().print(
            f"[bold]{scenario}[/] on {mesh}: ended [bold]{summary['phase']}[/] after {summary['seconds']} s; "
            f"weights per analysis tick: {summary['weights']}"
        )
    return 0
