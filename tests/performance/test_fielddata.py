"""Field data read back from telemetry posted to the real ingest endpoint."""

from __future__ import annotations

import math

import pytest
from django.utils import timezone

from monitoring.models import RollupBucket
from performance import baselines, fielddata

pytestmark = pytest.mark.django_db


def exact_p75(values):
    ordered = sorted(values)
    return ordered[math.ceil(0.75 * len(ordered)) - 1]


def field(channel, version):
    start, end = baselines.window(timezone.now(), 7)
    return fielddata.release_field_data(channel, version, start, end)


def test_p75_per_device_comes_from_the_ingested_values(channel, release, vitals):
    mobile = [1000 + 37 * i for i in range(40)]
    desktop = [300 + 11 * i for i in range(25)]
    vitals(channel, "1.0.0", "LCP", mobile, device="mobile")
    vitals(channel, "1.0.0", "LCP", desktop, device="desktop")
    data = field(channel, "1.0.0")
    lcp_mobile, lcp_desktop = data.vitals["mobile"]["LCP"], data.vitals["desktop"]["LCP"]
    assert lcp_mobile.samples == 40 and lcp_desktop.samples == 25
    assert lcp_mobile.p75 == pytest.approx(exact_p75(mobile), rel=0.02)
    assert lcp_desktop.p75 == pytest.approx(exact_p75(desktop), rel=0.02)
    assert (lcp_mobile.rating, lcp_desktop.rating) == ("good", "good")


def test_an_updated_cls_value_replaces_the_earlier_one(channel, release, post_batch):
    events = [
        {"type": "vital", "name": "CLS", "value": 0.5, "id": f"m{i}", "device": "mobile"}
        for i in range(20)
    ]
    post_batch(channel, "a", "1.0.0", events)
    post_batch(channel, "a", "1.0.0", [{**e, "value": 0.05} for e in events])
    cls = field(channel, "1.0.0").vitals["mobile"]["CLS"]
    assert cls.samples == 20
    assert cls.rating == "good"


def test_values_exactly_on_the_boundary_are_rated_good(channel, release, vitals):
    vitals(channel, "1.0.0", "LCP", [2500] * 30)
    vitals(channel, "1.0.0", "INP", [500] * 30)
    data = field(channel, "1.0.0").vitals["mobile"]
    assert data["LCP"].rating == "good"
    assert data["INP"].rating == "needs improvement"


def test_values_past_the_thresholds_are_rated_worse(channel, release, vitals):
    vitals(channel, "1.0.0", "LCP", [2800] * 30)
    vitals(channel, "1.0.0", "TTFB", [2500] * 30)
    data = field(channel, "1.0.0").vitals["mobile"]
    assert data["LCP"].rating == "needs improvement"
    assert data["TTFB"].rating == "poor"


def test_few_samples_are_not_enough_data(channel, release, vitals):
    vitals(channel, "1.0.0", "LCP", [900] * 5)
    data = field(channel, "1.0.0")
    assert data.vitals["mobile"]["LCP"].rating == fielddata.NOT_ENOUGH
    assert data.vitals["desktop"]["LCP"].samples == 0
    assert data.vitals["desktop"]["LCP"].rating == fielddata.NOT_ENOUGH


def test_api_latency_percentiles_and_error_rate(channel, release, post_batch):
    latencies = list(range(10, 410, 10))  # 40 calls
    events = [
        {"type": "api", "value": v, "status": 500 if i < 4 else 200, "device": "desktop"}
        for i, v in enumerate(latencies)
    ]
    post_batch(channel, "a", "1.0.0", events)
    data = field(channel, "1.0.0")
    assert data.api_p75 == pytest.approx(exact_p75(latencies), rel=0.02)
    assert data.api_p95 == pytest.approx(sorted(latencies)[math.ceil(0.95 * 40) - 1], rel=0.02)
    assert data.api_error_rate == pytest.approx(0.1)
    assert data.enough_api


def test_crash_free_sessions_users_and_adoption(channel, release, post_batch):
    post_batch(channel, "a", "1.0.0", [{"type": "launch"}] * 3)
    post_batch(channel, "b", "1.0.0", [{"type": "launch"}, {"type": "crash"}])
    post_batch(channel, "c", "0.9.0", [{"type": "launch"}, {"type": "launch"}])
    data = field(channel, "1.0.0")
    assert data.launches == 4 and data.crashes == 1
    assert data.crash_free == pytest.approx(0.75)
    assert data.crash_free_users == pytest.approx(0.5)
    assert data.adoption == pytest.approx(2 / 3)


def test_no_launches_means_no_crash_free_figure(channel, release):
    data = field(channel, "1.0.0")
    assert data.crash_free is None
    assert not data.has_data


def test_daily_trends_give_todays_p75_and_gaps_below_the_minimum(channel, release, vitals):
    vitals(channel, "1.0.0", "INP", [180] * 25)
    vitals(channel, "1.0.0", "FCP", [900] * 3)
    start, end = baselines.window(timezone.now(), 7)
    trends = fielddata.daily_trends(channel, start, end, "mobile", ["1.0.0"])
    minute = RollupBucket.objects.filter(metric="INP").values_list("minute", flat=True)[0]
    today = minute.replace(hour=0, minute=0)
    assert trends["INP"]["1.0.0"][today] == pytest.approx(180, rel=0.02)
    assert trends["FCP"]["1.0.0"] == {}
    assert trends["INP"]["1.0.0"].keys() == {today}
