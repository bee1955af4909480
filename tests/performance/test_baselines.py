"""Baselines: snapshots compared with the previous release's, regressions by the README rule."""

from __future__ import annotations

import pytest

from audit.models import AuditEvent
from notifications.models import Notification
from performance import baselines
from performance.models import Baseline
from performance.views import dashboard_card
from tests.performance.conftest import publish

pytestmark = pytest.mark.django_db


def take(channel, version):
    return baselines.take(channel, version, source=Baseline.Source.MANUAL)


def test_a_baseline_snapshots_field_data_and_is_audited(channel, release, vitals):
    vitals(channel, "1.0.0", "LCP", [1200] * 25)
    baseline = take(channel, "1.0.0")
    assert baseline.data["vitals"]["mobile"]["LCP"]["rating"] == "good"
    assert baseline.release == release
    assert AuditEvent.objects.filter(
        action="performance.baseline_taken", object_id=str(baseline.pk)
    ).exists()


def test_a_worse_rating_and_p75_is_flagged_against_the_previous_release(
    app, channel, release, vitals
):
    publish(app, "1.1.0")
    vitals(channel, "1.0.0", "LCP", [2000] * 25)
    vitals(channel, "1.1.0", "LCP", [3000] * 25, prefix="n")
    first = take(channel, "1.0.0")
    second = take(channel, "1.1.0")
    assert second.previous == first
    assert [(r["metric"], r["device"]) for r in second.regressions] == [("LCP", "mobile")]
    note = Notification.objects.get(event="performance.regression")
    assert note.subject == "shop/production: 1.1.0 regressed against 1.0.0"
    take(channel, "1.0.0")  # a newer snapshot of 1.0.0 replaces the older one in the count
    card = dashboard_card(None)
    assert (card.status, card.status_label) == ("bad", "1 release(s) regressed")
    assert ("Releases with a baseline", 2) in card.stats


def test_a_slower_p75_with_the_same_rating_is_not_flagged(app, channel, release, vitals):
    publish(app, "1.1.0")
    vitals(channel, "1.0.0", "LCP", [1000] * 25)
    vitals(channel, "1.1.0", "LCP", [2000] * 25, prefix="n")
    take(channel, "1.0.0")
    assert take(channel, "1.1.0").regressions == []
    assert not Notification.objects.exists()


def test_too_few_samples_flag_nothing(app, channel, release, vitals):
    publish(app, "1.1.0")
    vitals(channel, "1.0.0", "LCP", [2000] * 25)
    vitals(channel, "1.1.0", "LCP", [5000] * 5, prefix="n")
    take(channel, "1.0.0")
    assert take(channel, "1.1.0").regressions == []


def test_the_previous_baseline_is_the_highest_lower_version(app, channel, release, vitals):
    publish(app, "1.1.0")
    publish(app, "1.2.0")
    take(channel, "1.0.0")
    middle = take(channel, "1.1.0")
    take(channel, "1.2.0")
    assert baselines.previous_baseline(channel, "1.2.0") == middle
    assert baselines.previous_baseline(channel, "1.0.0") is None


def _doc(**parts):
    doc = {"vitals": {}, "api": {}, "health": {}}
    doc.update(parts)
    return doc


def test_compare_flags_crash_free_drops_only_with_enough_launches():
    before = _doc(health={"launches": 500, "crash_free": 0.999})
    after = _doc(health={"launches": 500, "crash_free": 0.99})
    assert [r["metric"] for r in baselines.compare(before, after)] == ["Crash-free sessions"]
    few = _doc(health={"launches": 50, "crash_free": 0.9})
    assert baselines.compare(before, few) == []


def test_compare_flags_api_latency_and_errors():
    before = _doc(api={"enough": True, "p75": 100.0, "error_rate": 0.01})
    after = _doc(api={"enough": True, "p75": 130.0, "error_rate": 0.03})
    assert [r["metric"] for r in baselines.compare(before, after)] == [
        "API latency p75",
        "API error rate",
    ]
    within = _doc(api={"enough": True, "p75": 115.0, "error_rate": 0.015})
    assert baselines.compare(before, within) == []
