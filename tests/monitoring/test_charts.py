"""monitoring.charts: gaps stay gaps, axes span the data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitoring.charts import line_chart

T = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def points(*values):
    return [(T + timedelta(minutes=5 * i), v) for i, v in enumerate(values)]


def test_a_missing_point_splits_the_line():
    chart = line_chart("x", "X", "", [("1.0.0", points(1, 2, None, 4, 5))])
    assert len(chart.lines[0].segments) == 2
    assert chart.lines[0].last == "5"


def test_an_isolated_point_is_drawn_as_a_dot():
    chart = line_chart("x", "X", "%", [("1.0.0", points(None, 99.5, None))], y_max=100)
    assert chart.lines[0].dots and not chart.lines[0].segments
    assert chart.y_ticks[-1][1] == "100 %"


def test_a_chart_without_values_is_empty():
    chart = line_chart("x", "X", "ms", [("1.0.0", points(None, None))])
    assert chart.empty
    assert chart.lines[0].last == "no data"
