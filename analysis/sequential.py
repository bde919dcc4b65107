"""The sequential judge: canary against primary, tick by tick, valid however often it looks.

What it tests
-------------
Each judged metric is a *rate of events per request*: errors per request
(``error-rate``), or requests slower than a latency bucket bound ``b``
(``latency``: ``b`` near the pooled 80th percentile; ``latency-tail``: near the
99th). For each metric the judge runs two tests of the ratio
``R = canary rate / primary rate``:

* regression: H0 "R <= R0" (R0 >= 1 encodes the tolerance) against "worse";
* no meaningful regression: H0' "R >= R0" against "better than that".

Besides these share bets, each metric has a count test that uses more of the
tick (how many events; for latency every bucket of the histogram) under a
stated noise model: models (C) and (H) below.

The tick is the unit of evidence
--------------------------------
Requests are not independent: errors come in bursts that hit one version in
one minute, error rates drift for everyone, latency jitters per version and
minute. So the judge never multiplies per-request likelihoods. In tick ``t`` it
looks at the canary's share of the tick's events, ``s_t = x_c / (x_c + x_p)``,
and compares it with the share the canary would have at ratio R0,
``q_t = R0 n_c / (R0 n_c + n_p)`` (``n`` = requests, ``x`` = events of the
tick). The null hypothesis, stated per tick, is

    (N)  E[s_t | past, the tick's pooled data] <= q_t,

where "pooled data" is what does not tell versions apart: request counts,
the total number of events, the pooled histogram. (N) holds exactly when
events of both versions are Poisson (or binomial) with rates ``r_c <= R0 r_p``
given the tick: then ``x_c`` given the total is binomial with success
probability at most ``q_t``. It keeps holding for

* common-mode drift (a factor on both rates cancels in ``q_t``);
* bursts: a cluster of events of *any* size that lands on one version, the
  canary with probability proportional to its traffic (``E[s]`` is then a
  size-weighted average of indicators with mean ``q_t``), so a burst is one
  coin flip, not a pile of independent evidence;
* a canary whose own error rate is burstier or more overdispersed at the same
  mean: ``s`` is concave in the canary's count, so extra canary variance only
  lowers ``E[s]`` (Jensen);
* overdispersion of the *primary's* rate per minute is the one effect that
  raises ``E[s]``: with a gamma factor of coefficient of variation ``c`` on
  the primary, by about ``1 + c^2``. The relative error-rate tolerance
  (default 15 %) absorbs ``c`` up to about 0.4; with no tolerance at all the
  benchmark's realistic cell shows 1.1 % false rollbacks at alpha = 1 %;
* non-integer counts (``s`` is a ratio; nothing assumes integers);
* empty ticks and ticks without events (skipped: a factor of 1).

Latency jitter enters through the rates: symmetric per-minute jitter of both
versions leaves ``E[s]`` at ``q`` up to second-order terms (with 3 % jitter
about 0.5 % at the body threshold and 2 % at the tail one; the default 2 %
latency tolerance is worth about 4 % and 10 % in R0 there). The bucket
bound ``b`` and the tolerance ratio are computed from the pooled histogram
(including the current tick, which is allowed because (N) conditions on it),
so they never look at which version a request came from.

Testing by betting (Ville)
--------------------------
For the regression test, each tick multiplies the evidence by

    f_t = 1 + theta_t (s_t / q_t - 1),  theta_t in [0, 0.95],

which is non-negative and, under (N), has conditional mean <= 1 whenever
``theta_t`` is fixed before ``s_t`` is seen (it may depend on the past and
on the tick's pooled data). The running product ``W_t`` is therefore a
non-negative supermartingale with ``W_0 = 1`` and Ville's inequality gives
``P(sup_t W_t >= 1/alpha) <= alpha``: the false-rollback probability over the
whole rollout is at most alpha however many ticks are checked, and stopping
at any tick is allowed. Metrics are combined by averaging their e-processes
with weights ``w_k`` (an average of e-processes is an e-process): the judge
rolls back when ``sum_k w_k W_k >= 1/alpha``, which implies the Bonferroni
split for a single metric and accumulates when several metrics point the same
way. One tick can multiply the evidence by at most ``1 / q_t`` (all of the
tick's events in the canary); this cap is what makes a single burst unable to
decide, and it is also the price paid in speed (see benchmarks/README.md).

``theta_t`` is a plug-in bet, predictable by construction: the Kelly fraction
for one event against the alternative ``R1 = max(design x R0, R_hat)``
(``R_hat`` = ratio estimated from past ticks), compounded over the tick's
number of events (capped), i.e. ``1 - (1 - theta_1)^m``, at most 0.95. Each
metric runs one such strategy per design ratio (e.g. 3, 8 and 20 for errors)
and its evidence is their average (again an e-process), so small and large
regressions are both bet on sensibly. Any other predictable rule would be
just as valid; these only decide how fast evidence grows.

The count test: more evidence per tick from a modelled null
-----------------------------------------------------------
Under (N) alone no per-tick e-value can exceed ``max(1, s_t/q_t)`` (a null
may put all of ``s`` on 0 and one other point), so errors 0.1 % -> 1 % at
200 rps can never be caught within 3 minutes (``(s/q)^3 < 1/alpha``). The
share throws away how *many* events the tick holds: 12 canary errors of 23
are overwhelming evidence if errors are not all one burst, and a coin flip
if they are. The count test uses the counts under a stated model of the
noise, and keeps the share bet's protection against bursts with a cap.

Model (C), per tick, given the past and the tick's pooled data: the canary's
count ``x`` of the tick's ``m`` events is distributed as a mixture of

* (C1) "ordinary" ticks: beta-binomial ``BB(m, pi, rho)`` with share
  ``pi <= q_t`` and intra-class correlation ``rho <= rho_max``: events of
  both versions Poisson given per-minute rates, the canary's rate at most R0
  times the primary's on average, the ratio of the two rates varying from
  minute to minute (gamma factors of coefficient of variation ``c_c``,
  ``c_p`` on the two rates give ``rho ~ q (1 - q) (c_c^2 + c_p^2)``;
  latency jitter of ``j`` per version moves the exceedance rate by about
  ``slope x j``, the same way);
* (C2) "burst" ticks: one cluster dominates the tick and lands on the canary
  with probability at most ``q_t``, whatever its size (the count is then
  anything).

Common-mode drift cancels as before (it changes ``m``, not ``pi``); ``m`` and
``x`` may be non-integer (``increase()`` extrapolates by a few percent: the
beta-binomial likelihood is evaluated at the real values).

Each tick multiplies the count test's evidence by

    f_t = 1 - theta + theta min(LR_t, c_t),
    LR_t = L_alt(x) / max over pi <= q_t, rho in {0, rho_max/4, rho_max} of BB(x; m, pi, rho),
    c_t = burst_cap (1 - (1 - q_t) min(LR_t(0), 1)) / q_t  (about burst_cap / q_t),

with ``L_alt`` a beta-binomial mixture over alternatives ``R1`` fixed before
the tick (design ratios and the plug-in ``R_hat``) and ``LR_t(0)`` the ratio
had the canary got none of the tick's ``m`` events: with this cap ``q_t f(m)
+ (1 - q_t) f(0) <= 1`` holds exactly. Under (C1), ``min(LR, c)
<= L_alt / BB_true`` for a true ``rho`` on the grid, so ``E[f_t] <= 1`` (the
grid stands in for the interval: a count in the upper tail is most likely
at the largest dispersion, which is on the grid). Under (C2), a cluster on
the canary earns at most ``c_t`` with probability at most ``q_t``: ``theta
burst_cap`` in expectation, while a cluster on the primary leaves the
canary a tiny share, ``LR ~ 0``, so ``E[f_t] <= theta burst_cap + 1 - theta
<= 1`` (exactly so for a burst that carries all of the tick's events, by the
choice of ``c_t``; approximately when a burst lands on top of ordinary
events). Expectations are linear, so every mixture of (C1) and (C2) ticks
keeps ``E[f_t] <= 1``; the product is a test supermartingale and Ville's
inequality applies as above. The per-tick cap ``1 / q_t`` is the same as the
share bet's (a single burst still cannot decide) but the count test reaches
it on ticks where the share bet only gets ``s/q``: errors 0.1 % -> 1 % at
200 rps reach 1/alpha within 3 minutes in about 37 % of runs, not 2 %
(benchmarks/results/detection.md).

The count test above is the error rate's. Its alternatives are mixed
*within* each tick (large regressions, decided in a few ticks, where a
per-tick mixture costs nothing once the cap is reached).

The histogram tests: the latency metrics' count tests
------------------------------------------------------
Latency is a whole distribution, and one exceedance count at one bucket bound
throws most of it away: a 10 % slower canary moves every bucket a little. The
latency metrics' count tests use every bucket of the tick. Model (H), per
tick, given the past and the tick's pooled histogram (all requests of both
versions, by bucket): each of the ``m_k`` requests of bucket ``k`` is the
canary's independently with probability

    q_k = w r_k / (w r_k + 1 - w),

``w`` the canary's share of the tick's requests and ``r_k`` the ratio of the
bucket's probability under the canary's latency distribution to its
probability under the pooled one (Poisson arrivals of both versions given the
tick's rates, as in (C)). The canary's distribution is the pooled one made
``exp(delta + e)`` times slower, ``e`` the tick's jitter: normal, mean 0,
standard deviation at most ``tau = sqrt(2) x latency_jitter`` (the canary's
and the primary's per-minute jitter of log latency, each at most
``latency_jitter``, default 0.035). Between bucket bounds (and beyond the
outer ones) the pooled survival function is interpolated linearly in probit
against log latency, which is exact for a log-normal latency and close for
real ones; drift common to both versions moves the pooled histogram, not
``r``.

* ``latency``: the null is ``delta = d0 = log(1 + latency_tolerance)``, the
  alternatives are shifts of ``d0 + log(factor)`` for each
  ``latency_shift_factors`` (1.05 ... 2);
* ``latency-tail``: the same null; each alternative makes a share ``eps`` of
  the requests ``slow`` times slower (``latency_tail_alternatives``: 0.5 % ...
  10 %, 3x ... 10x), the rest at ``d0``.

The null's likelihood and every alternative's are integrated over the same
jitter, normal at its bound ``tau``. That is what keeps the test valid for
every true jitter up to the bound, not only at it, and for a canary faster
than ``d0``. Where the tick's log-likelihood is quadratic in the shift (and
in the slow share), which it approaches as requests grow, the data are
normal with mean ``m`` and covariance ``A = S + tau'^2 u u'`` (``S`` the
sampling covariance, ``u`` the shift's direction, ``tau' <= tau`` the true
jitter); the null's density has mean 0 and ``B = S + tau^2 u u' >= A``, the
alternative's mean ``mu`` and the same ``B``. Then ``E[N(mu, B) / N(0, B)] =
exp(mu' B^-1 m - mu' B^-1 (B - A) B^-1 mu / 2)``: at most 1 when ``m = 0``
(the canary at the tolerance), and for a faster canary (``m = delta u``,
``delta <= 0``) the first term is ``delta mu' B^-1 u <= 0`` for a shift
alternative. A wider null is safe exactly when the alternative is as wide,
and as smooth: an alternative narrower than the null fails when the true
jitter is small, a null that ignores the jitter fails as requests grow (mean
ratio 1.3 at 1,200 requests a minute and 2.7 at 12,000, 10 % weight, jitter
at the bound), and an alternative whose jitter is a few fixed nodes is a few
sharp shifts, one of which can sit where a healthy canary is: with 5 fixed
nodes an identical canary without jitter at 2,000 requests a second had a
mean ratio of 1.47 a tick and was rolled back in 55 % of 30-minute runs (a
review caught this; tests/unit/analysis now checks that case).

So every integral is computed by adaptive Gauss-Hermite quadrature. Each
shift hypothesis (the null and each pure shift) is scanned at five jitters
(+-2 standard deviations) around its shift; a parabola through the best
scan point and its neighbours (log L is close to quadratic in the shift
however many requests the tick holds) gives the integrand's peak and width,
and three nodes go there; the vertex may be taken up to 5 standard
deviations out. For the null, where the scan does not bracket a peak the
parabola reaches, the larger of this and the trapezoid sum over its scan
(widened to +-3 standard deviations) is kept (a larger null likelihood is
the safe side). A tail alternative's likelihood, as a function of the jitter, peaks
where the null's does (its body is the null's shape; the slow share changes
its level far more than its peak), so it is integrated at the null's nodes.
Away from the quadratic regime (few requests, coarse buckets) the argument
is approximate, so it is checked: tests/unit/analysis asserts, from 300 to
120,000 requests a minute, with the canary at the tolerance (true jitter 0,
half and all of the bound) or identical to the primary (no jitter), that
every alternative's one-tick ratio has mean at most 1 within Monte-Carlo
error (measured at most 0.996 +- 0.003 over 80,000 ticks at the least
favourable cell), and Ville's bound on the whole e-process at 1,200 to
120,000 requests a minute.

Each tick's ratio is capped at ``burst_cap / w``, what a tick whose every
slow request landed on the canary may earn. One product per
alternative is kept and the products are averaged (small regressions, many
ticks: a per-tick mixture would pay its cost every tick); the ``latency``
shifts with ``latency_shift_weights``, most on the small ones.

A metric's evidence is ``(1 - count_weight) x`` the mean of its share bets
``+ count_weight x`` its count test: an average of e-processes, valid under
(C) and (H) (the share bets are valid under the weaker (N) and keep working
where the models understate the noise).

What this costs: validity now rests on (C) and (H), in particular on
``rho_max`` (``error_dispersion``, default 0.03: the canary's share of a
tick's errors varying by about 50 % from minute to minute at 10 % canary
weight) and ``latency_jitter`` (3.5 % per version and minute; the
benchmark's realistic noise has 3 %). The benchmark's noise exceeds both on
purpose in the noisy-but-fine cell (the canary's error rate has a
coefficient of variation of 0.8 and its latency jitters 8 % per minute) and
in the stress cells, and the false-rollback rate stays well below alpha
there (benchmarks/results/detection.md), because excess dispersion that is
symmetric loses on as many ticks as it wins. For services with wilder
minute-to-minute swings, raise the bounds (slower, safer; a Canary sets the
jitter bound as ``judge.latency.jitter``) or set ``count_weight=0`` (the
share bets alone, valid under (N)).

"Pass" is the mirror test: ``g_t = 1 + phi_t ((1 - s_t)/(1 - q_t) - 1)``
bets that the canary's share stays *below* ``q_t``; by the same argument
``P(sup_t G_t >= 1/alpha) <= alpha`` when the canary is worse than
tolerated. The judge reports "pass" only when every judged metric's ``G``
has reached 1/alpha (a wrong "pass" needs one of the true-null metrics to
cross, probability <= alpha). A canary with few events passes slowly:
each tick can add at most a factor ``1 / (1 - q_t)``. "Pass" and the effect
bounds below use the share bets only (valid under (N)).

Effect bounds
-------------
The same two bets, run without tolerance at fixed ratios ``g`` (0.5 ... 20),
give a confidence sequence for ``R``: the lower bound is the largest ``g``
such that "R <= g'" is rejected for every grid ``g' <= g`` (so it is wrong
only if the test at the first grid point at or above the true ``R`` rejects,
probability <= alpha), the upper bound likewise from above.

Tolerances
----------
Errors: ``R0 = 1 + error_rate_tolerance_ratio + error_rate_tolerance_pp /
(100 x pooled error rate so far)``, i.e. "the canary may have up to
(1 + ratio) x the primary's error rate plus pp percentage points".
``latency_tolerance`` (relative) is turned into a ratio of exceedance rates
with the pooled survival function, taken as a power law inside the bucket
below ``b``: ``R0 = (1 + tolerance) ** slope``. Both are exact statements
about R0 (validity above is in terms of R0); the translation from "x % slower"
or "+y pp" to R0 is the approximation, and it only matters for canaries near
the tolerance, not for healthy ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np

from analysis.config import DEFAULT_LATENCY_BOUNDS, METRICS, JudgeConfig
from analysis.engine import BatchJudge
from analysis.verdict import MetricVerdict, Outcome, Verdict
from analysis.window import Window

__all__ = ["SequentialJudge"]

_LABELS = {"error-rate": "error rate", "latency": "latency", "latency-tail": "latency tail"}


def _pct(v: float) -> str:
    return f"{v:.3g} %"


def _evid(v: float) -> str:
    if v >= 1e6:
        return f"{v:.2e}"
    return f"{v:.3g}"


class SequentialJudge:
    """Anytime-valid comparison of canary against primary, fed one tick at a time.

    Construct it with the histogram's bucket bounds and alpha (the false-rollback
    budget for the whole rollout); every other knob of :class:`JudgeConfig` is a
    keyword argument. Call :meth:`update` once per tick with both versions'
    :class:`Window`; persist :meth:`state` and rebuild with :meth:`from_state`.
    """

    def __init__(
        self,
        latency_bounds: Sequence[float] = DEFAULT_LATENCY_BOUNDS,
        alpha: float = 0.01,
        *,
        metrics: Sequence[str] = METRICS,
        error_rate_tolerance_ratio: float = JudgeConfig.error_rate_tolerance_ratio,
        error_rate_tolerance_pp: float = JudgeConfig.error_rate_tolerance_pp,
        latency_tolerance: float = JudgeConfig.latency_tolerance,
        latency_quantile: float = JudgeConfig.latency_quantile,
        tail_quantile: float = JudgeConfig.tail_quantile,
        weights: Sequence[float] = JudgeConfig.weights,
        report_pass: bool = True,
        count_weight: float = JudgeConfig.count_weight,
        error_dispersion: float = JudgeConfig.error_dispersion,
        latency_jitter: float = JudgeConfig.latency_jitter,
        config: JudgeConfig | None = None,
    ) -> None:
        if config is None:
            config = JudgeConfig(
                latency_bounds=tuple(float(b) for b in latency_bounds),
                alpha=alpha,
                metrics=tuple(metrics),
                error_rate_tolerance_ratio=error_rate_tolerance_ratio,
                error_rate_tolerance_pp=error_rate_tolerance_pp,
                latency_tolerance=latency_tolerance,
                latency_quantile=latency_quantile,
                tail_quantile=tail_quantile,
                weights=tuple(weights),
                report_pass=report_pass,
                count_weight=count_weight,
                error_dispersion=error_dispersion,
                latency_jitter=latency_jitter,
            )
        self._batch = BatchJudge(1, config)
        self._weights = config.metric_weights()

    @property
    def config(self) -> JudgeConfig:
        """The judge's configuration."""
        return self._batch.config

    @classmethod
    def from_state(cls, state: dict[str, Any], **options: Any) -> SequentialJudge:
        """Rebuild a judge from :meth:`state`; pass the same options it was built with."""
        judge = cls(**options)
        judge._batch.load_state(state)
        return judge

    def state(self) -> dict[str, Any]:
        """Everything the judge has learnt, small and JSON-serialisable (for ``.status``).

        Its size does not grow with the number of ticks (about 2.6 KB with
        three metrics and Istio's buckets).
        """
        return self._batch.state(0)

    def update(self, canary: Window, primary: Window) -> Verdict:
        """Add one tick of evidence and return the verdict so far."""
        bounds = self.config.latency_bounds
        ch = ph = None
        if canary.latency is not None and primary.latency is not None:
            ch = canary.histogram(bounds)[None, :]
            ph = primary.histogram(bounds)[None, :]
        self._batch.update(
            np.array([_f(canary.requests)]),
            np.array([_f(canary.errors)]),
            ch,
            np.array([_f(primary.requests)]),
            np.array([_f(primary.errors)]),
            ph,
        )
        return self.verdict()

    def verdict(self) -> Verdict:
        """The verdict for the evidence so far (no new tick)."""
        b = self._batch
        cfg = self.config
        weights = self._weights
        threshold = 1.0 / cfg.alpha
        log_fail = b.log_fail[0].tolist()
        combined = _exp(_log_mean_exp(log_fail, weights))
        ticks = int(b.ticks[0])
        bounds = b.effect_bounds(0)
        # the run's per-metric state as rows of Python floats, one per metric
        rows = zip(*(a[0].tolist() for a in (
            b.log_pass, b.sum_xc, b.sum_nc, b.sum_xp, b.sum_np, b.last_bound, b.last_r0, b.evidence_ticks,
        )), strict=True)
        details = [
            self._metric_verdict(name, weights[k], threshold, log_fail[k], bounds[k], _MetricState(*row))
            for (k, name), row in zip(enumerate(cfg.metrics), rows, strict=True)
        ]
        if b.failed[0]:
            outcome: Outcome = "fail"
            top = max(details, key=lambda m: m.evidence / m.threshold)
            reason = top.reason
            if top.outcome != "fail":
                reason = (
                    f"regression across metrics: combined evidence {_evid(combined)} >= {_evid(threshold)}"
                    f" (1/alpha); strongest is {top.reason}"
                )
        elif cfg.report_pass and all(m.outcome == "pass" for m in details):
            outcome = "pass"
            weakest = min(m.pass_evidence for m in details)
            names = ", ".join(_LABELS[m.name] for m in details)
            reason = (
                f"no regression beyond tolerance in {names} after {ticks} ticks"
                f" (weakest evidence {_evid(weakest)} >= {_evid(threshold)})"
            )
        else:
            outcome = "inconclusive"
            top = max(details, key=lambda m: m.evidence / m.threshold)
            reason = f"inconclusive after {ticks} ticks; {top.reason}"
        return Verdict(outcome, reason, tuple(details), evidence=combined, threshold=threshold, ticks=ticks)

    def _metric_verdict(
        self,
        name: str,
        weight: float,
        alpha_inv: float,
        log_fail: float,
        bounds: tuple[float | None, float | None],
        st: _MetricState,
    ) -> MetricVerdict:
        cfg = self.config
        ev = _exp(log_fail)
        pev = _exp(st.log_pass)
        thr = alpha_inv / weight
        cval = 100.0 * st.sum_xc / st.sum_nc if st.sum_nc > 0 else None
        pval = 100.0 * st.sum_xp / st.sum_np if st.sum_np > 0 else None
        effect = cval / pval if cval is not None and pval is not None and pval > 0 else None
        bound_ms = st.last_bound if math.isfinite(st.last_bound) else None
        r0 = st.last_r0
        nticks = int(st.evidence_ticks)
        label = _LABELS[name]
        if name == "error-rate":
            tol_text = f"x{1 + cfg.error_rate_tolerance_ratio:g}"
            if cfg.error_rate_tolerance_pp:
                tol_text += f" +{cfg.error_rate_tolerance_pp:g} pp"
            what = (
                f"canary {_pct(cval)} vs primary {_pct(pval)} errors" if cval is not None and pval is not None
                else "no requests yet"
            )
        else:
            tol_text = f"+{100 * cfg.latency_tolerance:g} % latency"
            if bound_ms is not None and cval is not None and pval is not None:
                what = f"{_pct(cval)} of canary vs {_pct(pval)} of primary requests slower than {bound_ms:g} ms"
            else:
                what = "no latency histogram yet"
        lower, upper = bounds
        conf = f"{100 * (1 - cfg.alpha):g} % confidence"
        ratio = f" ({effect:.3g}x" if effect is not None else ""
        if ratio and lower is not None and upper is not None:
            ratio += f"; {lower:g}x to {upper:g}x with {conf}"
        elif ratio and lower is not None:
            ratio += f", at least {lower:g}x with {conf}"
        elif ratio and upper is not None:
            ratio += f", at most {upper:g}x with {conf}"
        ratio += ")" if ratio else ""
        if nticks == 0:
            outcome: Outcome = "inconclusive"
            reason = f"{label}: no evidence yet ({what})"
        elif ev >= thr:
            outcome = "fail"
            reason = (
                f"{label} regressed: {what}{ratio} over {nticks} ticks;"
                f" evidence {_evid(ev)} >= {_evid(thr)} needed to roll back"
            )
        elif cfg.report_pass and pev >= alpha_inv:
            outcome = "pass"
            reason = f"{label} within tolerance ({tol_text}): {what}; evidence {_evid(pev)} >= {_evid(alpha_inv)}"
        else:
            outcome = "inconclusive"
            reason = f"{label}: {what}{ratio}; evidence of regression {_evid(ev)} of {_evid(thr)} needed"
        return MetricVerdict(
            name=name,
            outcome=outcome,
            reason=reason,
            evidence=ev,
            threshold=thr,
            pass_evidence=pev,
            effect=effect,
            canary_value=cval,
            primary_value=pval,
            tolerance=r0 if math.isfinite(r0) else None,
            bound_ms=bound_ms,
            lower=lower,
            upper=upper,
            ticks=nticks,
        )


class _MetricState(NamedTuple):
    """One metric's slice of the judge's state, as Python floats (see :class:`analysis.engine.BatchJudge`)."""

    log_pass: float
    sum_xc: float
    sum_nc: float
    sum_xp: float
    sum_np: float
    last_bound: float
    last_r0: float
    evidence_ticks: float


def _log_mean_exp(logs: list[float], weights: Sequence[float]) -> float:
    """log of ``sum(w * exp(l))``, computed stably."""
    top = max(logs)
    return top + math.log(sum(w * math.exp(v - top) for v, w in zip(logs, weights, strict=True)))


def _exp(x: float) -> float:
    """``exp`` that saturates instead of overflowing (e-values beyond 1e300 are all decisive)."""
    return math.exp(min(x, 690.0))


def _f(v: float | None) -> float:
    if v is None:
        return math.nan
    try:
        return float(v)
    except (TypeError, ValueError):
        return math.nan
