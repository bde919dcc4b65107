"""Draw a rollout (:class:`ReportData`) as a PNG with matplotlib's Agg backend: no display needed.

The figure, top to bottom, all on one time axis (UTC):

- a thin strip of the Canary's phases, coloured as on the Grafana dashboards;
- traffic weight: the canary's percentage (filled) and the primary's;
- success rate, canary vs primary, with the check's minimum when known;
- p99 latency, canary vs primary, with the check's maximum when known.

The decision (promotion or rollback) is a vertical line through every panel,
labelled with what was decided and when; the Canary's status message, when
known, is written under the figure.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # before pyplot: render to files only

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.patches import Patch

from canary.report.data import DECISIONS, PHASE_COLOURS, ReportData, Series

__all__ = ["COLOURS", "DPI", "FIGURE_SIZE", "draw"]

FIGURE_SIZE = (11.0, 8.0)
"""Inches; at DPI below, the PNG is 1100 x 800 pixels."""
DPI = 100
"""Pixels per inch of the PNG."""

COLOURS = {"canary": "#e8710a", "primary": "#1a73e8"}
"""Line colour per workload (orange canary, blue primary, as on the dashboards)."""

_DECISION_COLOURS = {"Succeeded": "#188038", "Failed": "#d93025"}


def _dates(times: Sequence[float]) -> list[float]:
    """Unix seconds as matplotlib date numbers (days since its default epoch, 1970-01-01 UTC)."""
    return [t / 86400.0 for t in times]


def _clock(at: float) -> str:
    return f"{datetime.fromtimestamp(at, tz=UTC):%H:%M:%S} UTC"


def _no_data(ax: Axes, what: str) -> None:
    ax.text(0.5, 0.5, f"no {what} in this range", transform=ax.transAxes, ha="center", va="center", color="#777")


def _plot_pair(ax: Axes, lines: dict[str, Series], what: str) -> bool:
    """Canary and primary lines on ``ax``; answers whether there was anything to plot."""
    plotted = False
    for role in ("canary", "primary"):
        series = lines.get(role)
        if series:
            ax.plot(
                _dates(series.times),
                series.values,
                color=COLOURS[role],
                lw=1.8,
                label=role,
                zorder=3 if role == "canary" else 2,
            )
            plotted = True
    if not plotted:
        _no_data(ax, what)
    return plotted


def _finite(lines: dict[str, Series]) -> list[float]:
    return [v for series in lines.values() for v in series.values if math.isfinite(v)]


def _phase_strip(ax: Axes, data: ReportData) -> None:
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.set_ylabel("phase", rotation=0, ha="right", va="center")
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    if not data.phases:
        _no_data(ax, "phase")
        return
    span = data.end - data.start
    bounds = [*(c.at for c in data.phases[1:]), data.end]
    for change, until in zip(data.phases, bounds, strict=True):
        begin = max(change.at, data.start)
        ax.axvspan(*_dates([begin, until]), color=PHASE_COLOURS.get(change.phase, "#cccccc"), lw=0)
        if (until - begin) > 0.09 * span:  # name the phase where it fits
            ax.text(
                _dates([(begin + until) / 2])[0],
                0.5,
                change.phase,
                ha="center",
                va="center",
                fontsize=8,
                color="white" if change.phase in {"Progressing", "Succeeded", "Failed", "Terminated"} else "black",
            )


def _first_sample(data: ReportData) -> float:
    """Where the picture starts: the range's start, or later if Prometheus has nothing before."""
    firsts = [c.at for c in data.phases[:1]]
    firsts += [s.times[0] for s in (data.weight, *data.success_rate.values(), *data.p99.values()) if s]
    return max(data.start, min(firsts, default=data.start))


def draw(data: ReportData, path: Path | str) -> Path:
    """Render ``data`` to a PNG at ``path`` (FIGURE_SIZE at DPI); answers the path."""
    path = Path(path)
    fig, axes = plt.subplots(
        4, 1, sharex=True, figsize=FIGURE_SIZE, dpi=DPI, gridspec_kw={"height_ratios": [0.35, 2, 2, 2]}
    )
    strip, weight_ax, success_ax, latency_ax = axes
    try:
        decision = data.decision
        verdict = f" - {DECISIONS[decision.phase]} at {_clock(decision.at)}" if decision else ""
        fig.suptitle(f"Canary {data.namespace}/{data.name} ({data.mesh}){verdict}", fontsize=13, fontweight="bold")

        _phase_strip(strip, data)

        if data.weight:
            times = _dates(data.weight.times)
            canary = list(data.weight.values)
            weight_ax.fill_between(times, canary, step="post", color=COLOURS["canary"], alpha=0.25, lw=0)
            weight_ax.step(times, canary, where="post", color=COLOURS["canary"], lw=1.8, label="canary")
            weight_ax.step(
                times, [100 - w for w in canary], where="post", color=COLOURS["primary"], lw=1.8, label="primary"
            )
        else:
            _no_data(weight_ax, "traffic weight")
        weight_ax.set_ylim(0, 105)
        weight_ax.set_ylabel("traffic weight (%)")

        _plot_pair(success_ax, data.success_rate, "requests")
        values = _finite(data.success_rate)
        if data.success_min is not None:
            success_ax.axhline(data.success_min, color="#555", ls="--", lw=1, label=f"check min {data.success_min:g} %")
            values.append(data.success_min)
        if values:
            low = min(values)
            success_ax.set_ylim(max(0.0, low - max(1.0, 0.1 * (100 - low))), 100.5)
        success_ax.set_ylabel("success rate (%)")

        _plot_pair(latency_ax, data.p99, "latency")
        values = _finite(data.p99)
        if data.latency_max is not None:
            label = f"check max {data.latency_max:g} ms"
            if not values or data.latency_max <= 2.5 * max(values):  # near the data: keep it in view
                latency_ax.axhline(data.latency_max, color="#555", ls="--", lw=1, label=label)
                values.append(data.latency_max)
            else:  # far above: a line at the top would flatten the data into the axis
                latency_ax.plot([], [], color="#555", ls="--", lw=1, label=f"{label} (above this scale)")
        if values:
            latency_ax.set_ylim(0, max(values) * 1.15)
        latency_ax.set_ylabel("p99 latency (ms)")

        for ax in (weight_ax, success_ax, latency_ax):
            ax.grid(True, color="#e5e5e5", lw=0.8)
            ax.margins(x=0)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(loc="best", fontsize=8, framealpha=0.9)
        if decision is not None:
            colour = _DECISION_COLOURS[decision.phase]
            when = _dates([decision.at])[0]
            for ax in (strip, weight_ax, success_ax, latency_ax):
                ax.axvline(when, color=colour, lw=2)
            weight_ax.annotate(
                DECISIONS[decision.phase],
                xy=(when, 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(-6, -6),
                textcoords="offset points",
                ha="right",
                va="top",
                fontsize=10,
                fontweight="bold",
                color=colour,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": colour, "lw": 1},
            )
        latency_ax.set_xlim(*_dates([_first_sample(data), data.end]))
        latency_ax.xaxis.set_major_locator(mdates.AutoDateLocator(tz=UTC))  # type: ignore[no-untyped-call]
        latency_ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M:%S", tz=UTC))  # type: ignore[no-untyped-call]
        latency_ax.set_xlabel("time (UTC)")
        bottom = 0.06
        if data.reason:
            wrapped = textwrap.fill(data.reason, 150, max_lines=2, placeholder=" ...")
            fig.text(0.01, 0.01, wrapped, fontsize=8, color="#333", va="bottom")
            bottom = 0.09
        fig.tight_layout(rect=(0, bottom - 0.04, 1, 0.975))
        seen = list(dict.fromkeys(c.phase for c in data.phases))
        if seen:
            fig.legend(
                handles=[Patch(color=PHASE_COLOURS.get(p, "#cccccc"), label=p) for p in seen],
                loc="lower center",
                bbox_to_anchor=(0.5, strip.get_position().y1 + 0.002),
                ncol=len(seen),
                fontsize=8,
                frameon=False,
                handlelength=1.2,
            )
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path
