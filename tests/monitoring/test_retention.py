"""Raw events are pruned after the retention period; rollups stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console import controller
from monitoring.ingest import store, validate
from monitoring.models import Event, Rollup
from monitoring.retention import RAW_EVENT_RETENTION_DAYS, prune_events

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def ingest(channel, n, *, now):
    payload = {"install_id": "i", "version": "1.0.0", "events": [{"type": "launch"}] * n}
    store(channel, validate(payload, now=now), now=now)


def test_events_older_than_the_retention_are_deleted_in_batches(channel):
    ingest(channel, 7, now=NOW - timedelta(days=RAW_EVENT_RETENTION_DAYS, seconds=1))
    ingest(channel, 2, now=NOW - timedelta(days=RAW_EVENT_RETENTION_DAYS - 1))
    assert prune_events(NOW, batch_size=3) == 7
    assert Event.objects.count() == 2


def test_pruning_keeps_the_rollups(channel):
    ingest(channel, 5, now=NOW - timedelta(days=30))
    prune_events(NOW)
    assert not Event.objects.exists()
    assert Rollup.objects.get().count == 5


def test_the_retention_days_can_be_passed(channel):
    ingest(channel, 1, now=NOW - timedelta(days=3))
    assert prune_events(NOW, days=2) == 1


def test_pruning_is_registered_with_the_controller():
    assert "monitoring.prune" in {hook.name for hook in controller.hooks()}
