"""Scale benchmark: what N Canaries cost the controller, idle and all rolling out at once.

Starts the emulated API server (``python -m kubeemu.server``) and the
controller each in their own process, with a metric source that answers at
once (so only the controller's own work is measured), creates N apps and their
Canaries (60 s analysis interval, one 50 % step), waits for them to be
initialized, then measures an idle window and a rollout of every Canary at
once. Reports, per process, CPU (cores) and RSS; the controller's API requests
per minute by verb (the emulator's audit summary); per-Canary tick lag p50/p99
(interval between two successive ticks of one Canary minus the period it was
due at, and between two analysis ticks minus the analysis interval); and the
time until every rollout finished against the ideal.

Usage::

    .venv/bin/python benchmarks/scale.py --label baseline            # N = 300 and 1,000
    .venv/bin/python benchmarks/scale.py --label after --canaries 3000

Writes ``benchmarks/results/scale-<label>.md`` and ``.json`` (with the command
that reproduces them). Seeded: the apps' order of creation and of rollout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402

from canary.kube.api import CANARIES, DEPLOYMENTS, NAMESPACES, ApiError, JsonDict, Resource  # noqa: E402
from canary.kube.client import ClusterApi, load_client_config  # noqa: E402
from canary.models.crdgen import generate as generate_crds  # noqa: E402
from canary_testbed.kubelet import Kubelet  # noqa: E402
from canary_testbed.meshcrds import mesh_crds  # noqa: E402
from kubeemu.audit import fetch_audit  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
CRDS = Resource("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", namespaced=False)
NAMESPACE = "bench"
CONTROLLER_USER = "canary-controller"  # the controller's bearer token: its user in the emulator's audit
INTERVAL = 60.0  # the Canaries' analysis interval, seconds
CLK_TCK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------------- the controller process


class InstantProvider:
    """A metric provider that answers every query at once with 100 (passes success-rate >= 99 and duration <= 500)."""

    def __init__(self, address: str, **_: object) -> None:
        self.address = address

    async def query(self, promql: str, *, at: float | None = None) -> float:
        """Always 100."""
        return 100.0

    async def query_vector(self, promql: str, label: str = "le", *, at: float | None = None) -> dict[str, float]:
        """Always empty (the benchmark's Canaries use no judge)."""
        return {}

    async def check_online(self) -> None:
        """Always online."""


def _instrument(timings: list[tuple[str, float, str | None]], lags: list[tuple[float, float]]) -> None:
    """Record (Canary, monotonic start, status.lastAnalysisTime) of every reconcile tick the controller runs.

    And, where the controller has a due-time scheduler, (monotonic time, lag) of every tick: how long after
    it was due it started.
    """
    from canary.operator.reconcile import Reconciler

    original = Reconciler.tick

    async def tick(self: Reconciler, body: JsonDict) -> Any:
        meta = body.get("metadata") or {}
        timings.append((f"{meta.get('namespace')}/{meta.get('name')}", time.monotonic(), _last_analysis(body)))
        return await original(self, body)

    Reconciler.tick = tick  # type: ignore[method-assign]
    try:
        from canary.operator import scheduler
    except ImportError:  # (the fixed timer: no due times)
        return
    observe = scheduler.Scheduler._observe_lag

    def observe_lag(self: Any, lag: float) -> None:
        lags.append((time.monotonic(), lag))
        observe(self, lag)

    scheduler.Scheduler._observe_lag = observe_lag  # type: ignore[method-assign]


def _last_analysis(body: JsonDict) -> str | None:
    value = (body.get("status") or {}).get("lastAnalysisTime")
    return str(value) if value else None


def run_controller_process(args: argparse.Namespace) -> None:
    """The controller as ``canary controller`` runs it, with the instant metric source and tick timings."""
    from canary.operator.handlers import ControllerSettings, run_controller
    from canary.operator.reconcile import ReconcilerSettings

    timings: list[tuple[str, float, str | None]] = []
    lags: list[tuple[float, float]] = []
    _instrument(timings, lags)
    kwargs: dict[str, Any] = {
        "tick": args.tick,
        "qps": args.qps,
        "burst": args.burst,
        "scheduling": "timer" if args.periodic else "events",
    }
    settings = ControllerSettings(
        kubeconfig=args.kubeconfig,
        namespaces=(NAMESPACE,),
        metrics_port=None,
        reconciler=ReconcilerSettings(
            default_provider="istio",
            prometheus_url="http://instant.invalid",
            metric_providers={"prometheus": InstantProvider},
        ),
        **kwargs,
    )

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await run_controller(settings, stop)

    try:
        asyncio.run(main())
    finally:
        args.timings.write_text(json.dumps({"ticks": timings, "lags": lags}))


# ---------------------------------------------------------------------- measuring


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def _proc_rss(pid: int) -> float:
    """Resident memory of a process, MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


async def _audit(url: str) -> dict[str, int]:
    """The controller's requests so far, by RBAC verb (watch requests excluded: they are long-lived)."""
    counts: dict[str, int] = {}
    for entry in await fetch_audit(url, CONTROLLER_USER):
        if entry.key.resource is None:
            continue
        counts[entry.key.verb] = counts.get(entry.key.verb, 0) + entry.count
    return counts


class Window:
    """CPU, RSS and API requests of the processes over one measured stretch of time."""

    def __init__(self, pids: dict[str, int], url: str) -> None:
        self.pids = pids
        self.url = url
        self.start = 0.0
        self.cpu: dict[str, float] = {}
        self.requests: dict[str, int] = {}
        self.rss: dict[str, float] = {}

    async def open(self) -> None:
        """Start measuring."""
        self.start = time.monotonic()
        self.cpu = {name: _proc_cpu(pid) for name, pid in self.pids.items()}
        self.cpu["driver"] = sum(os.times()[:2])
        self.requests = await _audit(self.url)
        self.rss = {}

    def sample(self) -> None:
        """Keep the peak RSS of each process."""
        for name, pid in self.pids.items():
            self.rss[name] = max(self.rss.get(name, 0.0), _proc_rss(pid))

    async def close(self) -> JsonDict:
        """Stop measuring: the figures of the window."""
        self.sample()
        seconds = time.monotonic() - self.start
        cpu = {name: _proc_cpu(pid) for name, pid in self.pids.items()}
        cpu["driver"] = sum(os.times()[:2])
        requests = await _audit(self.url)
        per_minute = {
            verb: round((count - self.requests.get(verb, 0)) * 60 / seconds, 1) for verb, count in requests.items()
        }
        return {
            "seconds": round(seconds, 1),
            "cpu_cores": {name: round((cpu[name] - self.cpu[name]) / seconds, 3) for name in cpu},
            "rss_mb": {name: round(value, 1) for name, value in self.rss.items()},
            "requests_per_minute": {verb: value for verb, value in sorted(per_minute.items()) if value},
            "requests_per_minute_total": round(sum(per_minute.values()), 1),
            "loadavg": _loadavg(),
        }


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def tick_lags(
    timings: Iterable[tuple[str, float, str | None]], start: float, end: float, period: float | None
) -> JsonDict:
    """Tick lag within [start, end): analysis ticks (lastAnalysisTime transitions) and, with ``period``, all ticks.

    Analysis lag: time between two successive analyses of one Canary minus
    the analysis interval. Tick lag: time between two successive ticks of one
    Canary minus ``period`` (the fixed timer's period; None when ticks are not
    periodic).
    """
    by_canary: dict[str, list[tuple[float, str | None]]] = {}
    for key, at, last in timings:
        by_canary.setdefault(key, []).append((at, last))
    tick_gaps: list[float] = []
    analysis_gaps: list[float] = []
    ticks = 0
    for seen in by_canary.values():
        seen.sort()
        inside = [(at, last) for at, last in seen if start <= at < end]
        ticks += len(inside)
        if period is not None:
            tick_gaps += [b[0] - a[0] - period for a, b in itertools.pairwise(inside)]
        previous: str | None = None
        for at, last in seen:  # a new lastAnalysisTime, seen by the tick after the analysis, inside the window
            if last and previous and last != previous and start <= at < end:
                gap = datetime.fromisoformat(last).timestamp() - datetime.fromisoformat(previous).timestamp()
                analysis_gaps.append(gap - INTERVAL)
            previous = last
    return {
        "ticks": ticks,
        "tick_lag_p50": _percentile(tick_gaps, 0.5),
        "tick_lag_p99": _percentile(tick_gaps, 0.99),
        "analysis_lag_p50": _percentile(analysis_gaps, 0.5),
        "analysis_lag_p99": _percentile(analysis_gaps, 0.99),
        "analyses": len(analysis_gaps),
    }


# ---------------------------------------------------------------------- the objects


def _deployment(name: str) -> JsonDict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": name, "image": "podinfo:6.0.0", "ports": [{"containerPort": 9898}]}]},
            },
        },
    }


def _canary(name: str) -> JsonDict:
    return {
        "apiVersion": "canary.dev/v1beta1",
        "kind": "Canary",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "provider": "istio",
            "targetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "progressDeadlineSeconds": 600,
            "service": {"port": 9898, "targetPort": 9898},
            "analysis": {
                "interval": f"{INTERVAL:g}s",
                "threshold": 2,
                "maxWeight": 50,
                "stepWeight": 50,
                "metrics": [{"name": "request-success-rate", "interval": "1m", "thresholdRange": {"min": 99}}],
            },
        },
    }


async def _bounded(calls: Iterable[Awaitable[Any]], limit: int = 32) -> None:
    gate = asyncio.Semaphore(limit)

    async def one(call: Awaitable[Any]) -> None:
        async with gate:
            await call

    await asyncio.gather(*(one(call) for call in calls))


async def _phases(api: ClusterApi) -> dict[str, int]:
    counts: dict[str, int] = {}
    for canary in await api.list(CANARIES, NAMESPACE):
        phase = str((canary.get("status") or {}).get("phase") or "-")
        counts[phase] = counts.get(phase, 0) + 1
    return counts


async def _wait_phases(api: ClusterApi, window: Window | None, want: set[str], n: int, timeout: float) -> float:
    """Wait until all ``n`` Canaries are in ``want``; answers the seconds it took (raises on timeout)."""
    started = time.monotonic()
    while True:
        counts = await _phases(api)
        if window is not None:
            window.sample()
        if sum(counts.get(phase, 0) for phase in want) >= n:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise TimeoutError(f"after {timeout:g}s the Canaries are {counts}, not all {sorted(want)}")
        await asyncio.sleep(2.0)


# ---------------------------------------------------------------------- one run


async def run_one(args: argparse.Namespace, n: int, workdir: Path) -> JsonDict:
    """Measure N Canaries: initialize, an idle window, then every Canary rolling out at once."""
    rng = random.Random(args.seed)
    log = (workdir / f"apiserver-{n}.log").open("ab")
    apiserver = subprocess.Popen(  # noqa: ASYNC220 (the benchmark's driver: a blocking start is fine)
        [sys.executable, "-m", "kubeemu.server", "--port", "0", "--namespace", NAMESPACE],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        cwd=ROOT,
    )
    assert apiserver.stdout is not None
    url = apiserver.stdout.readline().strip()
    controller: subprocess.Popen[bytes] | None = None
    api: ClusterApi | None = None
    kubelet_task: asyncio.Task[None] | None = None
    try:
        kubeconfig = workdir / "kubeconfig"
        _write_kubeconfig(url, kubeconfig, token=None)
        controller_config = _write_kubeconfig(url, workdir / "controller-kubeconfig", token=CONTROLLER_USER)
        api = ClusterApi(load_client_config(kubeconfig), qps=2000, burst=4000)
        for crd in [*generate_crds(), *mesh_crds()]:
            with contextlib.suppress(ApiError):
                await api.create(CRDS, None, crd)
        if await api.get(NAMESPACES, None, NAMESPACE) is None:
            await api.create(NAMESPACES, None, {"metadata": {"name": NAMESPACE}})
        names = [f"app-{i:05d}" for i in range(n)]
        rng.shuffle(names)
        await _bounded(api.create(DEPLOYMENTS, NAMESPACE, _deployment(name)) for name in names)
        await _bounded(api.create(CANARIES, NAMESPACE, _canary(name)) for name in names)
        kubelet = Kubelet(api, NAMESPACE, delay=1.0, period=2.0)
        kubelet_task = asyncio.create_task(kubelet.run())

        timings = workdir / f"timings-{n}.json"
        controller_args = [
            sys.executable, str(Path(__file__).resolve()), "controller",  # noqa: ASYNC240
            "--kubeconfig", str(controller_config), "--timings", str(timings),
            "--tick", str(args.tick), "--qps", str(args.qps), "--burst", str(args.burst),
            *(["--periodic"] if args.periodic else []),
        ]  # fmt: skip
        with (workdir / f"controller-{n}.log").open("ab") as out:
            controller = subprocess.Popen(  # noqa: ASYNC220
                controller_args, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT
            )
        pids = {"controller": controller.pid, "apiserver": apiserver.pid}
        init = Window(pids, url)
        await init.open()
        init_seconds = await _wait_phases(api, init, {"Initialized", "Succeeded"}, n, args.timeout)
        initialize = await init.close()
        initialize["all_initialized_s"] = round(init_seconds, 1)

        await asyncio.sleep(args.settle)  # let the initializing burst's last ticks pass
        idle = Window(pids, url)
        idle_start = time.monotonic()
        await idle.open()
        while time.monotonic() - idle_start < args.idle:
            idle.sample()
            await asyncio.sleep(2.0)
        idle_result = await idle.close()
        idle_end = time.monotonic()

        rollout = Window(pids, url)
        await rollout.open()
        order = list(names)
        rng.shuffle(order)
        await _bounded(
            api.patch(
                DEPLOYMENTS,
                NAMESPACE,
                name,
                {"spec": {"template": {"spec": {"containers": [{"name": name, "image": "podinfo:6.0.1"}]}}}},
            )
            for name in order
        )
        rollout_start = time.monotonic()
        await asyncio.sleep(10.0)  # let the controller see the new revisions before waiting for Succeeded
        finish = await _wait_phases(api, rollout, {"Succeeded"}, n, args.timeout) + 10.0
        rollout_result = await rollout.close()
        rollout_result["all_succeeded_s"] = round(finish, 1)
        # Ideal: the new revision seen at once, one analysis interval at 50 %, then promotion, with the
        # simulated pods ready 1 s after each change (the kubelet passes every 2 s).
        rollout_result["ideal_s"] = INTERVAL
        rollout_end = time.monotonic()

        controller.send_signal(signal.SIGTERM)
        controller.wait(60)
        controller = None
        spans = json.loads(timings.read_text())
        raw = args.out / "raw"  # (not kept in git: the tick timings, to recompute the lags)
        raw.mkdir(parents=True, exist_ok=True)
        (raw / f"scale-{args.label}-timings-{n}.json").write_text(json.dumps(spans))
        if isinstance(spans, list):
            spans = {"ticks": spans, "lags": []}
        rows = [(key, at, last) for key, at, last in spans["ticks"]]
        periodic = args.tick if args.periodic else None
        for result, start, end in ((idle_result, idle_start, idle_end), (rollout_result, rollout_start, rollout_end)):
            result.update(tick_lags(rows, start, end, periodic))
            if not periodic:  # the scheduler's own lag: start minus due time
                late = [lag for at, lag in spans["lags"] if start <= at < end]
                result["tick_lag_p50"], result["tick_lag_p99"] = _percentile(late, 0.5), _percentile(late, 0.99)
        return {"canaries": n, "initialize": initialize, "idle": idle_result, "rollout": rollout_result}
    finally:
        if kubelet_task is not None:
            kubelet_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await kubelet_task
        if controller is not None:
            controller.kill()
            controller.wait(10)
        if api is not None:
            api.close()
        apiserver.terminate()
        apiserver.wait(10)
        log.close()


def _write_kubeconfig(url: str, path: Path, token: str | None) -> Path:
    user: JsonDict = {"token": token} if token else {}
    config: JsonDict = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "bench", "cluster": {"server": url}}],
        "users": [{"name": "bench", "user": user}],
        "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "bench", "namespace": NAMESPACE}}],
        "current-context": "bench",
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


# ---------------------------------------------------------------------- the report


def _fmt(value: object) -> str:
    return "-" if value is None else str(value)


def render(report: JsonDict) -> str:
    """The Markdown report of a run."""
    lines = [
        f"# Scale benchmark: {report['label']}",
        "",
        f"Command: `{report['command']}`",
        "",
        f"Commit {report['commit']}, {report['cpus']} CPUs, load average {report['loadavg_before']} before the run "
        f"(the box is shared: other work runs beside it). Controller: `--tick {report['tick']} --qps {report['qps']} "
        f"--burst {report['burst']}`; Canaries: {INTERVAL:g} s analysis interval, one 50 % step; "
        "the metric source answers at once.",
        "",
        "| Canaries | window | controller CPU (cores) | controller RSS (MB) | API server CPU | "
        "API req/min (by verb) | ticks | tick lag p50 / p99 (s) | analysis lag p50 / p99 (s) | all done (s) / ideal |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in report["runs"]:
        for window in ("idle", "rollout"):
            w = run[window]
            verbs = ", ".join(f"{verb} {count:g}" for verb, count in w["requests_per_minute"].items()) or "none"
            done = f"{w['all_succeeded_s']} / {w['ideal_s']:g}" if window == "rollout" else "-"
            lines.append(
                f"| {run['canaries']} | {window} ({w['seconds']:g} s) | {w['cpu_cores']['controller']} | "
                f"{w['rss_mb']['controller']} | {w['cpu_cores']['apiserver']} | "
                f"{w['requests_per_minute_total']:g} ({verbs}) | {w['ticks']} | "
                f"{_fmt(w['tick_lag_p50'])} / {_fmt(w['tick_lag_p99'])} | "
                f"{_fmt(w['analysis_lag_p50'])} / {_fmt(w['analysis_lag_p99'])} | {done} |"
            )
    lines += [
        "",
        "Tick lag: with the fixed timer, time between two successive ticks of one Canary minus the timer's "
        "period; with the due-time scheduler, how long after it was due each tick started. Analysis lag: time between two successive analyses of one "
        "Canary (status.lastAnalysisTime) minus the analysis interval. Initialization (all Canaries created "
        "at once): "
        + "; ".join(f"{run['canaries']}: {run['initialize']['all_initialized_s']} s" for run in report["runs"]),
        "",
    ]
    return "\n".join(lines)


def _commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        return out.stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options (the ``controller`` subcommand is the controller process it starts)."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "controller"])
    parser.add_argument("--canaries", type=int, nargs="+", default=[300, 1000])
    parser.add_argument("--label", default="run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tick", type=float, default=60.0)
    parser.add_argument("--qps", type=float, default=1000.0)
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--idle", type=float, default=90.0, help="seconds of the idle window")
    parser.add_argument("--settle", type=float, default=20.0, help="seconds between initialized and the idle window")
    parser.add_argument("--timeout", type=float, default=900.0)
    parser.add_argument(
        "--periodic", action="store_true", help="the kopf timer per Canary (--scheduling timer) instead of the scheduler"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--kubeconfig", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--timings", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


async def bench(args: argparse.Namespace, command: str) -> JsonDict:
    """Run every N in turn and answer the report."""
    report: JsonDict = {
        "label": args.label,
        "command": command,
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_before": _loadavg(),
        "tick": args.tick,
        "qps": args.qps,
        "burst": args.burst,
        "seed": args.seed,
        "runs": [],
    }
    with tempfile.TemporaryDirectory(prefix="canary-scale-") as tmp:
        for n in args.canaries:
            report["runs"].append(await run_one(args, n, Path(tmp)))
            print(json.dumps(report["runs"][-1]), flush=True)
    return report


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark (or, as ``controller``, the controller process it measures)."""
    args = parse_args(argv)
    if args.mode == "controller":
        run_controller_process(args)
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # (so the finally blocks stop the child processes)
    command = " ".join([".venv/bin/python", "benchmarks/scale.py", *(sys.argv[1:] if argv is None else argv)])
    report = asyncio.run(bench(args, command))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"scale-{args.label}.json").write_text(json.dumps(report, indent=2) + "\n")
    (args.out / f"scale-{args.label}.md").write_text(render(report))


if __name__ == "__main__":
    main()
