"""Pure statistics for canary analysis: numpy and scipy only, no I/O, no clock.

* :class:`SequentialJudge` compares canary against primary tick by tick and
  stays valid however often it is checked (see :mod:`analysis.sequential`);
  :class:`BatchJudge` is the same arithmetic for many rollouts at once.
* :func:`judge_threshold` judges a Flagger-style ``thresholdRange`` check.
* :class:`Window` is one tick's counts of one version; :class:`Verdict` and
  :class:`MetricVerdict` are what the judges conclude.
* :mod:`analysis.simulate` simulates per-tick counts with realistic noise.
"""

from analysis.config import DEFAULT_LATENCY_BOUNDS, METRICS, JudgeConfig
from analysis.engine import BatchJudge
from analysis.sequential import SequentialJudge
from analysis.verdict import MetricVerdict, Outcome, Verdict, format_value, judge_threshold
from analysis.window import Window

__all__ = [
    "DEFAULT_LATENCY_BOUNDS",
    "METRICS",
    "BatchJudge",
    "JudgeConfig",
    "MetricVerdict",
    "Outcome",
    "SequentialJudge",
    "Verdict",
    "Window",
    "format_value",
    "judge_threshold",
]
