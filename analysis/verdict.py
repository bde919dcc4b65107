"""Verdicts (what a judge concludes, and why) and the Flagger-style threshold judge."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["MetricVerdict", "Outcome", "Verdict", "format_value", "judge_threshold"]

Outcome = Literal["pass", "fail", "inconclusive"]


def _num(v: float | None) -> float | str | None:
    """A JSON-safe number: NaN becomes None, infinities become strings."""
    if v is None or math.isnan(v):
        return None
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return v


@dataclass(frozen=True)
class MetricVerdict:
    """The judge's conclusion about one metric.

    ``evidence`` is the e-value against "no regression beyond tolerance": the
    metric alone rolls back when it reaches ``threshold`` (1 / its share of
    alpha). ``pass_evidence`` is the e-value against "regression beyond
    tolerance"; "pass" needs it to reach 1 / alpha. ``effect`` is the canary's
    rate divided by the primary's (errors, or requests slower than
    ``bound_ms``), ``canary_value`` / ``primary_value`` those rates in percent.
    ``lower`` / ``upper`` are confidence-sequence bounds on the ratio (valid at
    level alpha at every tick; the sequential judge reports grid points 0.5,
    0.8, 1, 1.25, 1.5, 2, 3, 5, 10, 20), None while unbounded.
    ``tolerance`` is the ratio R0 the canary may reach before it regresses.
    """

    name: str
    outcome: Outcome
    reason: str
    evidence: float = 1.0
    threshold: float = math.inf
    pass_evidence: float = 1.0
    effect: float | None = None
    canary_value: float | None = None
    primary_value: float | None = None
    tolerance: float | None = None
    bound_ms: float | None = None
    lower: float | None = None
    upper: float | None = None
    ticks: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for status and events (camelCase keys)."""
        return {
            "name": self.name,
            "outcome": self.outcome,
            "reason": self.reason,
            "evidence": _num(self.evidence),
            "threshold": _num(self.threshold),
            "passEvidence": _num(self.pass_evidence),
            "effect": _num(self.effect),
            "canaryValue": _num(self.canary_value),
            "primaryValue": _num(self.primary_value),
            "tolerance": _num(self.tolerance),
            "boundMs": _num(self.bound_ms),
            "lower": _num(self.lower),
            "upper": _num(self.upper),
            "ticks": self.ticks,
        }


@dataclass(frozen=True)
class Verdict:
    """A judge's conclusion: outcome, one human sentence, and the per-metric detail.

    ``evidence`` / ``threshold`` are the combined e-value and the value at which
    it rolls back (1 / alpha) for the sequential judge; the measured value and
    its limit for a threshold check.
    """

    outcome: Outcome
    reason: str
    metrics: tuple[MetricVerdict, ...] = field(default_factory=tuple)
    evidence: float | None = None
    threshold: float | None = None
    ticks: int = 0

    @property
    def failed(self) -> bool:
        """True when the verdict asks for a rollback."""
        return self.outcome == "fail"

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form for status and events (camelCase keys)."""
        return {
            "outcome": self.outcome,
            "reason": self.reason,
            "evidence": _num(self.evidence),
            "threshold": _num(self.threshold),
            "ticks": self.ticks,
            "metrics": [m.to_dict() for m in self.metrics],
        }


def format_value(value: float, unit: str = "") -> str:
    """``97.2 %``, ``512 ms``, ``0.3``: at most four significant digits, a space before the unit."""
    text = f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def judge_threshold(
    name: str,
    value: float | None,
    min: float | None = None,
    max: float | None = None,
    unit: str = "",
) -> Verdict:
    """Judge one Flagger ``thresholdRange`` check: pass when ``min <= value <= max``.

    Missing data (None or NaN) fails with reason "no data", as in Flagger: a
    check that cannot be evaluated never passes. The reason reads like
    ``request-success-rate 97.2 % < 99 %``.
    """
    lo, hi = min, max
    if value is None or math.isnan(value):
        metric = MetricVerdict(name=name, outcome="fail", reason=f"{name}: no data")
        return Verdict("fail", f"{name}: no data", (metric,))
    shown = format_value(value, unit)
    if lo is not None and value < lo:
        outcome: Outcome = "fail"
        reason = f"{name} {shown} < {format_value(lo, unit)}"
        limit: float | None = lo
    elif hi is not None and value > hi:
        outcome = "fail"
        reason = f"{name} {shown} > {format_value(hi, unit)}"
        limit = hi
    else:
        outcome = "pass"
        parts = []
        if lo is not None:
            parts.append(f">= {format_value(lo, unit)}")
        if hi is not None:
            parts.append(f"<= {format_value(hi, unit)}")
        reason = f"{name} {shown} " + (" and ".join(parts) if parts else "(no limits set)")
        limit = lo if lo is not None else hi
    metric = MetricVerdict(name=name, outcome=outcome, reason=reason, canary_value=value)
    return Verdict(outcome, reason, (metric,), evidence=value, threshold=limit)
