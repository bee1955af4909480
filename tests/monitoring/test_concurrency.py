"""Concurrent ingest batches lose no count (real threads against the real database)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.db.models import Sum

from monitoring.ingest import store, validate
from monitoring.models import Install, Rollup, RollupBucket
from releases.models import App, Channel

NOW = datetime(2026, 11, 25, 9, 30, 40, tzinfo=UTC)
THREADS = 6
BATCHES = 8


def _run_threads(target):
    errors = []

    def wrapped(n):
        try:
            target(n)
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=wrapped, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


@pytest.fixture
def shared_channel(transactional_db):
    app = App.objects.create(slug="race", name="Race")
    return Channel.objects.create(app=app, name="production")


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_to_the_same_rollup_rows_lose_no_count(shared_channel):
    events = [{"type": "launch"}, {"type": "crash"}] * 10 + [
        {"type": "api", "value": 250, "status": 503}
    ] * 5

    def writer(n):
        for b in range(BATCHES):
            payload = {"install_id": f"t{n}-{b}", "version": "3.0.0", "events": events}
            store(shared_channel, validate(payload, now=NOW), now=NOW)

    _run_threads(writer)
    total = THREADS * BATCHES
    sums = dict(
        Rollup.objects.values_list("metric").annotate(n=Sum("count")).values_list("metric", "n")
    )
    assert sums == {"launch": 10 * total, "crash": 10 * total, "api": 5 * total}
    assert RollupBucket.objects.get().count == 5 * total
    assert Install.objects.count() == total


@pytest.mark.django_db(transaction=True)
def test_concurrent_reports_of_one_vital_id_count_it_once(shared_channel):
    def writer(n):
        for b in range(BATCHES):
            event = {"type": "vital", "name": "CLS", "value": 0.01 * (n + 1) + b, "id": "same"}
            payload = {"install_id": "one", "version": "3.0.0", "events": [event]}
            store(shared_channel, validate(payload, now=NOW), now=NOW)

    _run_threads(writer)
    assert Rollup.objects.get(metric="CLS").count == 1
    assert RollupBucket.objects.filter(metric="CLS").aggregate(n=Sum("count"))["n"] == 1
