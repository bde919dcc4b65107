"""One analysis tick's measurements: the metric checks, the statistical judge and the rollout hooks.

Reading a metric can fail (no data, Prometheus down, a broken template): that
is data, recorded as an errored check with its reason, never an exception
that skips the tick, and an errored check never passes.

Each check is one :class:`~canary.models.CanaryCheck` record from the moment
it is measured: status, chat alerts and ``/metrics`` show the records, and
the core's :class:`~canary.core.Check` is read off the records that decide
(:func:`core_check`), so the two cannot tell different stories. The shapes
a check still passes through, and why each stays: the provider's
``Measurement`` (one query's value or its error, before any threshold), the
analysis package's ``Verdict`` (the pure judge never imports canary), the
core's ``Check`` (the pure decision reads only passed-or-not and why), and
the notifiers' ``CheckLine`` (how a chat message renders a record).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from analysis import SequentialJudge, Window, judge_threshold
from canary.core import Check, JudgeSignal
from canary.kube.api import METRIC_TEMPLATES, SECRETS, ApiError, KubeApi
from canary.models import (
    Canary,
    CanaryCheck,
    CanaryMetric,
    JudgeStatus,
    JudgeTemplates,
    JudgeVerdict,
    MetricTemplate,
    primary_deployment_name,
)
from canary.operator.webhooks import HookResult, WebhookCaller
from canary.providers.base import Measurement, NoDataError, ProviderError, measure
from canary.providers.builtin import LATENCY_BUCKETS, Mesh, fetch_window, judge_queries, metrics_mesh
from canary.providers.checks import MetricPlan, ProviderPool, plan_metric, template_key
from canary.providers.prometheus import resolve_address
from canary.providers.templates import TemplateContext, render_query
from canary.routers.names import apex_service_name

__all__ = [
    "MAX_WINDOW_INTERVALS",
    "TickChecks",
    "TickContext",
    "core_check",
    "judge_settings",
    "judge_window",
    "run_checks",
    "settings_digest",
]

log = logging.getLogger(__name__)

_UNITS = {"request-success-rate": "%", "request-duration": "ms"}


@dataclass(frozen=True)
class TickContext:
    """Where and when one analysis tick measures.

    The Kubernetes API (MetricTemplates, Secrets), the pool of metric backends,
    the controller's default mesh and Prometheus address, the Canary's analysis
    interval (seconds) and the tick's instant; the webhook caller, and the
    phase and revision the rollout hooks are told.
    """

    api: KubeApi
    pool: ProviderPool
    default_mesh: str
    default_address: str | None
    interval: float
    now: datetime
    hooks: WebhookCaller
    phase: str
    revision: str | None


@dataclass(frozen=True)
class TickChecks:
    """What one analysis tick measured: every check's record, the ones that decide, and the judge.

    ``records`` are in the order status shows them: the metrics, the judge,
    the rollout hooks. ``checks`` are the deciding ones as the core reads
    them: every metric and hook, and the judge only when it decides and had
    no evidence (its verdict decides through ``judge`` otherwise).
    """

    records: tuple[CanaryCheck, ...]
    checks: tuple[Check, ...]
    judge: JudgeSignal | None = None
    judge_status: JudgeStatus | None = None
    #: The rollout hooks' answers (a failed one is also a chat alert).
    hooks: tuple[HookResult, ...] = ()
    #: Warnings for the Canary's Events, as (reason, message): e.g. the judge starting afresh.
    notices: tuple[tuple[str, str], ...] = ()


def core_check(record: CanaryCheck) -> Check:
    """The core's view of one check record: passed or not, why, and whether it is reported only."""
    return Check(record.name, record.outcome == "pass", record.reason, dry_run=bool(record.dryRun))


async def _secret_credentials(api: KubeApi, namespace: str, name: str) -> dict[str, str]:
    secret = await api.get(SECRETS, namespace, name)
    if secret is None:
        raise ProviderError(f"secret {namespace}/{name} not found", temporary=True)
    return {k: base64.b64decode(v).decode() for k, v in (secret.get("data") or {}).items()}


async def _measure_metric(canary: Canary, metric: CanaryMetric, tick: TickContext) -> Measurement:
    try:
        template = None
        key = template_key(canary, metric)
        if key is not None:
            body = await tick.api.get(METRIC_TEMPLATES, key[0], key[1])
            template = MetricTemplate.model_validate(body) if body is not None else None
        plan = plan_metric(
            canary, metric, template=template, mesh=tick.default_mesh, default_address=tick.default_address
        )
        credentials = None
        if plan.secret_name:
            credentials = await _secret_credentials(
                tick.api, plan.secret_namespace or canary.namespace, plan.secret_name
            )
        provider = tick.pool.get(plan, credentials)
    except ProviderError as error:
        return Measurement(name=metric.name, value=None, error=error)
    except ApiError as error:  # the template or Secret could not be read (RBAC, API down)
        return Measurement(name=metric.name, value=None, error=ProviderError(str(error), temporary=error.temporary))
    except ValueError as error:  # an invalid MetricTemplate object
        return Measurement(name=metric.name, value=None, error=ProviderError(str(error), temporary=False))
    return await measure(provider, metric.name, plan.query)


#: How far back, in analysis intervals, a judge window may reach to where the last one ended: a
#: controller that was away longer judges one interval and leaves the gap unjudged.
MAX_WINDOW_INTERVALS: Final = 10


def _duration(seconds: float) -> str:
    """A PromQL range of ``seconds``, to the millisecond (judge windows tile time exactly)."""
    return f"{max(1, round(seconds * 1000))}ms"


def _restored(canary: Canary) -> JudgeStatus | None:
    """The judge's saved status when it belongs to the revision under analysis, else None."""
    saved = canary.status.judge
    return saved if saved is not None and saved.evidence_for(canary.status.lastAppliedSpec) else None


def judge_window(saved: JudgeStatus | None, now: datetime, interval: float) -> float:
    """Seconds the judge's window reaches back from ``now``.

    Windows tile time: each starts where the last judged one ended
    (``saved.windowEnd``), so no request is judged twice (its evidence would
    count twice, and the error guarantee assumes each tick brings new requests)
    and the controller's timer, which fires a few seconds after each interval,
    leaves no gap between two ticks. (Requests whose samples reach Prometheus
    only after the instant their window was asked for, a few seconds' worth at
    most, are still lost: a gap costs speed, never the guarantee.) A tick without
    evidence (Prometheus down) keeps the previous end, so the next window covers
    it too. A window starts at the old canary weight (the routes move after the
    tick's queries) and may span more weight steps after such a tick: that is
    sound, because the tests condition on the window's own request counts, and
    with per-request rates steady across a step the canary's expected share of
    the window's events is the one those counts give.
    The first window of a revision is the analysis interval, and so is
    a window whose previous end cannot be trusted: unreadable, more than
    :data:`MAX_WINDOW_INTERVALS` intervals back, or written for another tick
    of the judge than the saved state's (``saved.windowTicks``: a controller
    without windows updated the state since). Raises ProviderError when ``now``
    is not after the previous end (a clock that went backwards): that tick has
    no evidence.
    """
    saved = saved or JudgeStatus()
    previous = saved.window_end()
    span = (now - previous).total_seconds() if previous is not None else None
    if span is None or span > MAX_WINDOW_INTERVALS * interval or saved.windowTicks != saved.state_ticks:
        return interval
    if span <= 0:
        raise ProviderError(
            f"the controller's clock ({now.isoformat()}) is not after the end of the last judged window"
            f" ({saved.windowEnd})",
            temporary=True,
        )
    return span


def judge_settings(canary: Canary, mesh: Mesh) -> dict[str, Any]:
    """The keyword arguments of the Canary's :class:`SequentialJudge`, from ``spec.analysis.judge``."""
    spec = canary.spec.analysis.judge
    assert spec is not None
    metrics = (
        ["error-rate"]
        if spec.templates is not None
        else [
            m
            for m, on in (
                ("error-rate", spec.errorRate.enabled),
                ("latency", spec.latency.enabled),
                ("latency-tail", spec.latency.enabled),
            )
            if on
        ]
    )
    return {
        "alpha": spec.alpha,
        "metrics": metrics,
        "error_rate_tolerance_pp": spec.errorRate.tolerance,
        "latency_tolerance": spec.latency.tolerance / 100.0,
        "latency_jitter": spec.latency.jitter / 100.0,
        "tail_quantile": spec.latency.quantile,
        # The histogram's own bucket bounds: the judge reads latency only at bounds the mesh exports.
        "latency_bounds": [float(b) for b in spec.latencyBuckets or LATENCY_BUCKETS[mesh]],
    }


#: The settings each judged metric depends on (the others may change without touching its evidence).
_USED_BY: Final = {
    "error_rate_tolerance_pp": ("error-rate",),
    "latency_tolerance": ("latency", "latency-tail"),
    "latency_jitter": ("latency", "latency-tail"),
    "tail_quantile": ("latency-tail",),
    "latency_bounds": ("latency", "latency-tail"),
}


def settings_digest(canary: Canary, settings: dict[str, Any]) -> str:
    """A short fingerprint of what the judge's evidence depends on, saved beside it (``status.judge.settings``).

    The :func:`judge_settings` of the judged metrics and the MetricTemplate
    pair that feeds them, if any: editing either starts the evidence afresh,
    editing a setting no judged metric uses does not.
    """
    judged = set(settings["metrics"])
    used = {k: v for k, v in settings.items() if judged.intersection(_USED_BY.get(k, judged))}
    spec = canary.spec.analysis.judge
    templates = spec.templates.model_dump(mode="json") if spec is not None and spec.templates is not None else None
    text = json.dumps({"settings": used, "templates": templates}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _judge_from_status(canary: Canary, settings: dict[str, Any], digest: str) -> tuple[SequentialJudge, str | None]:
    """The judge of the revision under analysis, its evidence restored from status.

    Returns the judge and, when saved evidence had to be dropped, why. The
    evidence of a revision is kept across ticks and controller restarts, so
    alpha is spent once per analysis, however long it runs. It is dropped,
    and a judge with the current settings starts afresh, when it was gathered
    under other settings (``spec.analysis.judge`` edited during the analysis:
    evidence against one tolerance says nothing about another, and another set
    of metrics or buckets has other state) or cannot be read. Each fresh start
    is a new test at level alpha: editing the settings mid-analysis spends
    alpha again, and the Warning Event says so. ``settings`` are
    :func:`judge_settings`, ``digest`` their :func:`settings_digest`.
    """
    saved = _restored(canary)
    if saved is None:
        return SequentialJudge(**settings), None
    if not saved.settings_match(digest):
        return SequentialJudge(**settings), (
            "spec.analysis.judge changed during the analysis: the judge's evidence starts afresh under the new"
            " settings (a new test at level alpha)"
        )
    try:
        return SequentialJudge.from_state(saved.state, **settings), None
    except (TypeError, ValueError, KeyError) as error:
        return SequentialJudge(**settings), (
            f"status.judge.state cannot be read under the current settings ({error}): the judge's evidence"
            " starts afresh (a new test at level alpha)"
        )


async def _template_window(
    canary: Canary, tick: TickContext, templates: JudgeTemplates, workload: str, window: float, at: float
) -> Window:
    """One side's window (``window`` seconds up to Unix time ``at``) from the judge's MetricTemplate pair.

    No latency histogram: the pair counts requests and errors only.
    """
    counts: list[float] = []
    for ref in (templates.requests, templates.errors):
        namespace = ref.namespace or canary.namespace
        body = await tick.api.get(METRIC_TEMPLATES, namespace, ref.name)
        if body is None:
            raise ProviderError(f"MetricTemplate {namespace}/{ref.name} not found", temporary=True)
        template = MetricTemplate.model_validate(body)
        context = TemplateContext(
            name=canary.name,
            namespace=canary.namespace,
            target=canary.spec.targetRef.name,
            service=apex_service_name(canary),
            interval=_duration(window),
            workload=workload,
        )
        spec = template.spec.provider
        plan = MetricPlan(
            name=ref.name,
            query=render_query(template.spec.query, context),
            provider_type=spec.type,
            address=resolve_address(
                template_address=spec.address, metrics_server=canary.spec.metricsServer, default=tick.default_address
            ),
            insecure_skip_verify=spec.insecureSkipVerify,
            headers=dict(spec.headers or {}),
        )
        credentials = await _secret_credentials(tick.api, namespace, spec.secretRef.name) if spec.secretRef else None
        try:
            counts.append(max(0.0, await tick.pool.get(plan, credentials).query(plan.query, at=at)))
        except NoDataError:
            counts.append(0.0)  # no series yet: nothing was counted
    requests, errors = counts
    return Window(requests=requests, errors=min(errors, requests), latency=None)


def _no_evidence(canary: Canary, error: Exception) -> tuple[JudgeSignal, JudgeStatus | None, CanaryCheck]:
    """A judge tick that could not measure: no decision, the saved status kept, an errored check record."""
    reason = f"judge: no evidence this tick: {error}"
    record = CanaryCheck(name="judge", outcome="error", reason=reason)
    return JudgeSignal("inconclusive", reason, decides=False), canary.status.judge, record


async def _run_judge(
    canary: Canary, tick: TickContext
) -> tuple[JudgeSignal | None, JudgeStatus | None, CanaryCheck | None, str | None]:
    """One tick of the judge: its signal, its status, its check record, and why it started afresh (if so)."""
    spec = canary.spec.analysis.judge
    if spec is None:
        return None, None, None, None
    try:
        # Template pairs need no mesh metrics (any provider, even plain Kubernetes, works).
        mesh = metrics_mesh(None if spec.templates else canary.spec.provider, tick.default_mesh)
    except ProviderError as error:  # e.g. a controller whose default provider is Gateway API, without a mesh
        return *_no_evidence(canary, error), None
    settings = judge_settings(canary, mesh)
    digest = settings_digest(canary, settings)
    judge, restart = _judge_from_status(canary, settings, digest)
    target = canary.spec.targetRef.name
    # every query of the tick is evaluated at the same instant (whole milliseconds, as stored for the
    # next window's start), over the same window
    now = tick.now.replace(microsecond=tick.now.microsecond // 1000 * 1000)
    at = now.timestamp()
    try:
        window = judge_window(_restored(canary), now, tick.interval)
        if spec.templates is not None:
            sides = (target, primary_deployment_name(target))
            canary_w, primary_w = [
                await _template_window(canary, tick, spec.templates, side, window, at) for side in sides
            ]
        else:
            canary_q, primary_q = judge_queries(mesh, canary.namespace, target, _duration(window))
            address = resolve_address(metrics_server=canary.spec.metricsServer, default=tick.default_address)
            provider = tick.pool.get(MetricPlan(name="judge", query="", provider_type="prometheus", address=address))
            canary_w = Window(*await fetch_window(provider, canary_q, at))
            primary_w = Window(*await fetch_window(provider, primary_q, at))
    except (ProviderError, ApiError, ValueError) as error:
        # (the saved evidence stays as it was: a fresh start is announced with the tick that writes it)
        return *_no_evidence(canary, error), None
    verdict = judge.update(canary=canary_w, primary=primary_w)
    state = judge.state()
    status = JudgeStatus(
        revision=canary.status.lastAppliedSpec,
        settings=digest,
        state=state,
        verdict=JudgeVerdict.model_validate(verdict.to_dict()),
        windowEnd=now.isoformat(timespec="milliseconds"),
        windowTicks=state["ticks"],
    )
    outcome = verdict.outcome
    record = CanaryCheck(
        name="judge",
        outcome=outcome,
        reason=f"judge ({'dry run' if spec.dryRun else outcome}): {verdict.reason}",
        dryRun=spec.dryRun or None,
    )
    return JudgeSignal(outcome, verdict.reason, decides=not spec.dryRun), status, record, restart


def _metric_record(metric: CanaryMetric, measurement: Measurement) -> CanaryCheck:
    """One metric check against its thresholdRange (an unreadable metric is an errored check).

    A ``dryRun`` metric's record is marked so (and its reason says it): status, Events, chat and
    ``/metrics`` show it like any check, and the core never counts it as a failure.
    """
    low, high = metric.bounds()
    unit = _UNITS.get(metric.name, "")
    value = measurement.value
    marks: dict[str, Any] = {"dryRun": True} if metric.dryRun else {}
    suffix = " (dry run)" if metric.dryRun else ""
    if value is None:
        return CanaryCheck(
            name=metric.name,
            min=low,
            max=high,
            unit=unit or None,
            outcome="error",
            reason=measurement.reason + suffix,
            **marks,
        )
    verdict = judge_threshold(metric.name, value, low, high, unit)
    return CanaryCheck(
        name=metric.name,
        value=value if math.isfinite(value) else None,
        min=low,
        max=high,
        unit=unit or None,
        outcome="pass" if verdict.outcome == "pass" else "fail",
        reason=verdict.reason + suffix,
        **marks,
    )


def _hook_record(result: HookResult) -> CanaryCheck:
    """A rollout hook's answer as a check (a failure is a failed check, as in Flagger)."""
    return CanaryCheck(name=f"webhook {result.name}", outcome="pass" if result.ok else "fail", reason=result.reason)


async def run_checks(canary: Canary, tick: TickContext) -> TickChecks:
    """Measure every metric of the analysis, feed the judge and call the rollout hooks, for one tick."""
    metrics = [_metric_record(m, await _measure_metric(canary, m, tick)) for m in canary.spec.analysis.metrics]
    signal, judge_status, judge_record, restart = await _run_judge(canary, tick)
    hooks = tuple(await tick.hooks.run(canary, ["rollout"], tick.phase, None, tick.revision))
    judged = [judge_record] if judge_record is not None else []
    spec = canary.spec.analysis.judge
    # No evidence is no pass: a deciding judge without data fails the check, like a metric would.
    deciding = [r for r in judged if r.outcome == "error" and spec is not None and not spec.dryRun]
    hook_records = [_hook_record(r) for r in hooks]
    return TickChecks(
        records=(*metrics, *judged, *hook_records),
        checks=tuple(core_check(r) for r in (*metrics, *deciding, *hook_records)),
        judge=signal,
        judge_status=judge_status,
        hooks=hooks,
        notices=(("JudgeRestarted", restart),) if restart else (),
    )
