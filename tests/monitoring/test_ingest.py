"""monitoring.ingest.store: raw events, rollup counters, histograms and last-value vitals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db.models import Sum

from monitoring import histogram
from monitoring.ingest import store, validate
from monitoring.models import Rollup, RollupBucket, VitalLast

NOW = datetime(2026, 11, 25, 9, 30, 40, tzinfo=UTC)


def ingest(channel, *events, version="2.0.0", install_id="i-1", now=NOW):
    batch = validate(
        {"install_id": install_id, "version": version, "events": list(events)}, now=now
    )
    return store(channel, batch, now=now)


def counts(channel, metric, **filters):
    return Rollup.objects.filter(channel=channel, metric=metric, **filters).aggregate(
        n=Sum("count"), total=Sum("total"), errors=Sum("errors")
    )


def buckets(channel, metric):
    rows = RollupBucket.objects.filter(channel=channel, metric=metric, count__gt=0)
    return sorted(rows.values_list("bucket", "count"))


def test_events_are_counted_per_minute_of_their_own_time(channel):
    earlier = (NOW - timedelta(minutes=2)).isoformat()
    ingest(channel, {"type": "launch"}, {"type": "launch", "at": earlier}, {"type": "crash"})
    minutes = dict(Rollup.objects.filter(metric="launch").values_list("minute", "count"))
    assert minutes == {
        datetime(2026, 11, 25, 9, 28, tzinfo=UTC): 1,
        datetime(2026, 11, 25, 9, 30, tzinfo=UTC): 1,
    }
    assert counts(channel, "crash")["n"] == 1


def test_batches_add_up_rather_than_overwrite(channel):
    ingest(channel, {"type": "launch"}, {"type": "launch"})
    ingest(channel, {"type": "launch"}, install_id="i-2")
    assert counts(channel, "launch")["n"] == 3
    assert Rollup.objects.filter(metric="launch").count() == 1


def test_api_errors_are_5xx_and_network_failures(channel):
    ingest(
        channel,
        {"type": "api", "value": 100, "status": 200},
        {"type": "api", "value": 300, "status": 404},
        {"type": "api", "value": 900, "status": 503},
        {"type": "api", "value": 5000, "status": 0},
    )
    assert counts(channel, "api") == {"n": 4, "total": 6300.0, "errors": 2}
    assert buckets(channel, "api") == sorted(
        (histogram.bucket_of(v), 1) for v in (100, 300, 900, 5000)
    )


def test_devices_are_rolled_up_separately(channel):
    ingest(
        channel,
        {"type": "vital", "name": "LCP", "value": 3000, "device": "mobile"},
        {"type": "vital", "name": "LCP", "value": 1200, "device": "desktop"},
    )
    assert counts(channel, "LCP", device="mobile")["total"] == 3000
    assert counts(channel, "LCP", device="desktop")["total"] == 1200


def test_a_later_vital_with_the_same_id_replaces_the_earlier_one(channel):
    ingest(channel, {"type": "vital", "name": "CLS", "value": 0.05, "id": "v4-1"})
    ingest(channel, {"type": "vital", "name": "CLS", "value": 0.3, "id": "v4-1"})
    assert counts(channel, "CLS")["n"] == 1
    assert abs(counts(channel, "CLS")["total"] - 0.3) < 1e-9
    assert buckets(channel, "CLS") == [(histogram.bucket_of(0.3), 1)]


def test_a_replacement_inside_one_batch_counts_the_last_value_only(channel):
    ingest(
        channel,
        {"type": "vital", "name": "INP", "value": 80, "id": "v4-9"},
        {"type": "vital", "name": "INP", "value": 240, "id": "v4-9"},
        {"type": "vital", "name": "INP", "value": 560, "id": "v4-9"},
    )
    assert counts(channel, "INP") == {"n": 1, "total": 560.0, "errors": 0}
    assert VitalLast.objects.get().value == 560


def test_a_replacement_in_a_later_minute_moves_the_value_there(channel):
    ingest(channel, {"type": "vital", "name": "INP", "value": 80, "id": "v4-2"})
    ingest(
        channel,
        {"type": "vital", "name": "INP", "value": 400, "id": "v4-2"},
        now=NOW + timedelta(minutes=3),
    )
    per_minute = dict(Rollup.objects.filter(metric="INP").values_list("minute", "count"))
    assert per_minute == {NOW.replace(second=0): 0, NOW.replace(second=0) + timedelta(minutes=3): 1}


def test_the_same_metric_id_from_two_installs_is_two_values(channel):
    ingest(channel, {"type": "vital", "name": "LCP", "value": 1000, "id": "v4-1"}, install_id="a")
    ingest(channel, {"type": "vital", "name": "LCP", "value": 2000, "id": "v4-1"}, install_id="b")
    assert counts(channel, "LCP")["n"] == 2


def test_vitals_without_an_id_are_all_counted(channel):
    ingest(
        channel,
        {"type": "vital", "name": "TTFB", "value": 300},
        {"type": "vital", "name": "TTFB", "value": 500},
    )
    assert counts(channel, "TTFB")["n"] == 2
    assert not VitalLast.objects.exists()
