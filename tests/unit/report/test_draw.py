"""``draw()`` renders a rollout to a real PNG: right size, not blank, the decision where it happened."""

from __future__ import annotations

import math
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from canary.report.data import PhaseChange, ReportData, Series
from canary.report.draw import COLOURS, DPI, FIGURE_SIZE, draw

T0 = 1_790_000_000.0
DECIDED = T0 + 80


def _rollout(phase: str = "Failed", **overrides: object) -> ReportData:
    times = tuple(T0 + i for i in range(121))

    def weight(t: float) -> float:
        step = int((t - T0 - 20) // 10) + 1
        return float(min(50, 10 * step)) if T0 + 20 <= t < DECIDED else 0.0

    canary_ok = [math.nan if t < T0 + 20 else 92.0 + math.sin(t) for t in times]
    fields: dict[str, object] = {
        "name": "podinfo",
        "namespace": "test",
        "mesh": "istio",
        "start": T0,
        "end": T0 + 120,
        "weight": Series(times, tuple(weight(t) for t in times)),
        "success_rate": {"canary": Series(times, tuple(canary_ok)), "primary": Series(times, (99.9,) * len(times))},
        "p99": {"canary": Series(times, (52.0,) * len(times)), "primary": Series(times, (48.0,) * len(times))},
        "phases": (PhaseChange(T0, "Initialized"), PhaseChange(T0 + 20, "Progressing"), PhaseChange(DECIDED, phase)),
        "success_min": 99.0,
        "latency_max": 500.0,
        "reason": "request-success-rate 92 % < 99 %",
    }
    fields.update(overrides)
    return ReportData(**fields)  # type: ignore[arg-type]


def _png_header(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR"
    assert zlib.crc32(data[12 : 16 + length]) == struct.unpack(">I", data[16 + length : 20 + length])[0]
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _column_of(image: np.ndarray, colour: str, rows: slice) -> set[int]:
    """Columns where a vertical line of ``colour`` (hex) crosses the given rows."""
    rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    close = np.all(np.abs(image[rows, :, :3] - rgb) < 0.05, axis=2)
    return {int(c) for c in np.nonzero(close.mean(axis=0) > 0.8)[0]}


def test_draw_writes_a_png_of_the_figure_size(tmp_path: Path) -> None:
    path = draw(_rollout(), tmp_path / "rollout.png")
    assert _png_header(path) == (int(FIGURE_SIZE[0] * DPI), int(FIGURE_SIZE[1] * DPI))


def test_the_picture_is_not_blank_and_shows_both_workloads(tmp_path: Path) -> None:
    image = imread(draw(_rollout(), tmp_path / "rollout.png"))
    assert image[..., :3].std() > 0.1
    for colour in COLOURS.values():
        rgb = np.array([int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
        assert np.all(np.abs(image[..., :3] - rgb) < 0.05, axis=2).sum() > 500, colour


@pytest.mark.parametrize(("phase", "colour"), [("Failed", "#d93025"), ("Succeeded", "#188038")])
def test_the_decision_is_one_vertical_line_through_the_panels_at_its_time(
    tmp_path: Path, phase: str, colour: str
) -> None:
    image = imread(draw(_rollout(phase), tmp_path / "rollout.png"))
    height, width = image.shape[:2]
    columns = _column_of(image, colour, slice(int(0.2 * height), int(0.85 * height)))
    assert columns, "no decision line"
    assert max(columns) - min(columns) <= 4  # one line, a few pixels wide
    # 80 s into a 120 s axis: two thirds of the way between the plot's edges (with margins either side).
    assert 0.55 * width < min(columns) < 0.75 * width


def test_without_a_decision_there_is_no_decision_line(tmp_path: Path) -> None:
    data = _rollout(phases=(PhaseChange(T0, "Initialized"), PhaseChange(T0 + 20, "Progressing")))
    assert data.decision is None
    image = imread(draw(data, tmp_path / "rollout.png"))
    height = image.shape[0]
    for colour in ("#d93025", "#188038"):
        assert _column_of(image, colour, slice(int(0.2 * height), int(0.85 * height))) == set()


def test_missing_series_still_draw(tmp_path: Path) -> None:
    data = ReportData(name="podinfo", namespace="test", mesh="linkerd", start=T0, end=T0 + 60)
    assert data.is_empty()
    path = draw(data, tmp_path / "empty.png")
    assert _png_header(path) == (int(FIGURE_SIZE[0] * DPI), int(FIGURE_SIZE[1] * DPI))


def test_series_must_pair_times_and_values() -> None:
    with pytest.raises(ValueError, match="2 times but 1 values"):
        Series((T0, T0 + 1), (1.0,))


def test_decision_is_the_last_promotion_or_rollback() -> None:
    phases = (
        PhaseChange(T0, "Progressing"),
        PhaseChange(T0 + 10, "Failed"),
        PhaseChange(T0 + 20, "Progressing"),
        PhaseChange(T0 + 30, "Succeeded"),
        PhaseChange(T0 + 40, "Progressing"),
    )
    data = ReportData(name="a", namespace="b", mesh="istio", start=T0, end=T0 + 50, phases=phases)
    assert data.decision == PhaseChange(T0 + 30, "Succeeded")
