"""Server-rendered SVG line charts (the strict CSP forbids inline styles and scripts).

``line_chart`` turns series of (time, value or None) into coordinates for
``templates/monitoring/_chart.html``; a None is a gap in the line, not a zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 10, 24
# Distinguishable on white and for the common colour-vision deficiencies (Okabe-Ito).
COLORS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00")


@dataclass
class Line:
    label: str
    color: str
    segments: list[str] = field(default_factory=list)  # "x,y x,y ..." polylines
    dots: list[tuple[float, float]] = field(default_factory=list)  # single-point segments
    last: str = ""


@dataclass
class Chart:
    key: str
    title: str
    unit: str
    lines: list[Line]
    y_ticks: list[tuple[float, str]]
    x_ticks: list[tuple[float, str, str]]  # x, label, text-anchor
    width: int = WIDTH
    height: int = HEIGHT
    left: int = LEFT
    bottom_y: int = HEIGHT - BOTTOM

    @property
    def empty(self) -> bool:
        return not any(line.segments or line.dots for line in self.lines)


def _fmt(value: float, unit: str, span: float = 100.0) -> str:
    if unit == "%":
        if value >= 100:
            return "100 %"
        digits = 3 if span < 0.1 else 2 if span < 10 else 1
        return f"{value:.{digits}f} %"
    if abs(value) >= 1000:
        return f"{value / 1000:.1f}k{' ' + unit if unit else ''}"
    return f"{value:.0f}{' ' + unit if unit else ''}"


def line_chart(
    key: str,
    title: str,
    unit: str,
    series: list[tuple[str, list[tuple[datetime, float | None]]]],
    *,
    y_min: float | None = None,
    y_max: float | None = None,
    time_format: str = "%H:%M",
) -> Chart:
    """``y_min``/``y_max`` pin an end of the y axis; otherwise it spans the values."""
    values = [v for _, points in series for _, v in points if v is not None]
    low = min(values, default=0.0) if y_min is None else y_min
    high = max(values, default=1.0) if y_max is None else y_max
    if high - low < 1e-9:
        if y_max is not None:
            low = high - (1.0 if unit != "%" else 0.1)
        else:
            high = low + (1.0 if unit != "%" else 0.1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    count = max((len(points) for _, points in series), default=0)

    def x_of(i: int) -> float:
        return round(LEFT + (plot_w * i / (count - 1) if count > 1 else plot_w / 2), 1)

    def y_of(v: float) -> float:
        return round(TOP + plot_h * (1 - (v - low) / (high - low)), 1)

    lines = []
    for n, (label, points) in enumerate(series):
        line = Line(label, COLORS[n % len(COLORS)])
        run: list[tuple[float, float]] = []
        for i, (_, v) in enumerate([*points, (None, None)]):
            if v is None:
                if len(run) == 1:
                    line.dots.append(run[0])
                elif run:
                    line.segments.append(" ".join(f"{x},{y}" for x, y in run))
                run = []
            else:
                run.append((x_of(i), y_of(v)))
        last = next((v for _, v in reversed(points) if v is not None), None)
        line.last = "no data" if last is None else _fmt(last, unit, 1.0)
        lines.append(line)
    y_ticks = [(y_of(v), _fmt(v, unit, high - low)) for v in (low, (low + high) / 2, high)]
    times = series[0][1] if series else []
    x_ticks = []
    if times:
        last = len(times) - 1
        for i in sorted({0, last // 2, last}):
            anchor = "start" if i == 0 else "end" if i == last else "middle"
            x_ticks.append((x_of(i), times[i][0].strftime(time_format), anchor))
    return Chart(key, title, unit, lines, y_ticks, x_ticks)
