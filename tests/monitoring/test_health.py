"""monitoring.health: web-vitals ratings and per-version figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitoring import health
from monitoring.health import GOOD, NEEDS_IMPROVEMENT, POOR
from tests.monitoring.rollup_factory import seed

T = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LCP", 2500, GOOD),
        ("LCP", 2501, NEEDS_IMPROVEMENT),
        ("LCP", 4000, NEEDS_IMPROVEMENT),
        ("LCP", 4001, POOR),
        ("INP", 200, GOOD),
        ("INP", 500, NEEDS_IMPROVEMENT),
        ("CLS", 0.1, GOOD),
        ("CLS", 0.25, NEEDS_IMPROVEMENT),
        ("CLS", 0.26, POOR),
        ("FCP", 1800, GOOD),
        ("TTFB", 1801, POOR),
    ],
)
def test_a_value_on_a_boundary_gets_the_better_rating(name, value, expected):
    assert health.rate(name, value) == expected


def test_no_value_has_no_rating():
    assert health.rate("LCP", None) is None


def test_a_version_without_launches_has_no_crash_free_rate(channel):
    seed(channel, "1.0.0", T, api=(10, 1))
    (version,) = health.channel_versions(channel, T, T + timedelta(hours=1))
    assert version.crash_free is None
    assert version.api_error_rate == pytest.approx(0.1)


def test_mobile_and_desktop_vitals_are_rated_separately(channel):
    seed(channel, "1.0.0", T, device="mobile", LCP=[4500] * 4)
    seed(channel, "1.0.0", T, device="desktop", LCP=[1500] * 4)
    (version,) = health.channel_versions(channel, T, T + timedelta(hours=1))
    ratings = {row["device"]: row["cells"][0]["rating"] for row in version.vital_cells()}
    assert ratings == {"Mobile": POOR, "Desktop": GOOD}


def test_chart_points_without_data_are_gaps_not_zeros(channel):
    seed(channel, "1.0.0", T, launch=100, crash=1)
    versions = health.channel_versions(channel, T, T + timedelta(hours=1))
    series = health.chart_series(channel, versions, T, T + timedelta(hours=1), timedelta(minutes=5))
    (_, points) = series["crash_free"][0]
    assert points[0][1] == pytest.approx(99.0)
    assert points[1][1] is None


def test_crash_free_users_and_adoption_come_from_installs(channel):
    from django.utils import timezone

    from monitoring.ingest import store, validate

    now = timezone.now()

    def report(version, install_id, *events):
        payload = {"install_id": install_id, "version": version, "events": list(events)}
        store(channel, validate(payload, now=now), now=now)

    report("2.0.0", "a", {"type": "launch"}, {"type": "crash"})
    report("2.0.0", "a", {"type": "launch"})  # a later batch does not clear the crash
    report("2.0.0", "b", {"type": "launch"})
    report("2.0.0", "c", {"type": "launch"})
    report("1.0.0", "d", {"type": "launch"})
    versions = health.channel_versions(channel, now - timedelta(hours=1), now + timedelta(hours=1))
    new, old = versions
    assert new.crash_free_users == pytest.approx(2 / 3)
    assert (new.adoption, old.adoption) == (0.75, 0.25)
