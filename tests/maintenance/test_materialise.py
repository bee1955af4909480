import threading
from datetime import timedelta

import pytest
from django.db import connection

from maintenance import dispatcher
from maintenance.models import MissedPolicy, Occurrence, Run, RunState
from tests.maintenance.conftest import T0, make_scheduled


@pytest.mark.django_db
def test_a_due_job_gets_one_occurrence_with_a_queued_run():
    job = make_scheduled("hourly", "0 * * * *", now=T0)
    assert dispatcher.materialise(T0 + timedelta(minutes=60, seconds=1)) == 1
    assert list(Run.objects.values_list("job__name", "state")) == [("hourly", "queued")]
    job.refresh_from_db()
    assert job.next_due_at == T0 + timedelta(hours=2)


@pytest.mark.django_db
def test_materialising_twice_creates_nothing_new():
    make_scheduled("hourly", "0 * * * *", now=T0)
    dispatcher.materialise(T0 + timedelta(hours=1))
    assert dispatcher.materialise(T0 + timedelta(hours=1)) == 0
    assert Occurrence.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_dispatchers_create_each_occurrence_exactly_once():
    for i in range(40):
        make_scheduled(f"job-{i}", "*/5 * * * *", now=T0)
    due = T0 + timedelta(minutes=5)
    errors = []

    def worker():
        try:
            dispatcher.materialise(due)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Occurrence.objects.count() == Run.objects.count() == 40


@pytest.mark.django_db
def test_missed_policy_skip_records_missed_times_as_skipped_and_queues_nothing_late():
    make_scheduled("hourly", "0 * * * *", now=T0, missed_policy=MissedPolicy.SKIP)
    dispatcher.materialise(T0 + timedelta(hours=3, minutes=30))
    states = list(Run.objects.values_list("state", flat=True))
    assert states.count(RunState.SKIPPED) == 3 and RunState.QUEUED not in states
    assert "missed" in Run.objects.first().reason


@pytest.mark.django_db
def test_missed_policy_once_queues_only_the_latest_missed_time():
    make_scheduled("hourly", "0 * * * *", now=T0, missed_policy=MissedPolicy.ONCE)
    dispatcher.materialise(T0 + timedelta(hours=3, minutes=30))
    queued = Run.objects.filter(state=RunState.QUEUED)
    assert queued.count() == 1
    assert queued.get().occurrence.scheduled_for == T0 + timedelta(hours=3)


@pytest.mark.django_db
def test_missed_policy_all_queues_every_missed_time():
    make_scheduled("hourly", "0 * * * *", now=T0, missed_policy=MissedPolicy.ALL)
    dispatcher.materialise(T0 + timedelta(hours=3, minutes=30))
    assert Run.objects.filter(state=RunState.QUEUED).count() == 3


@pytest.mark.django_db
def test_a_manual_job_is_never_materialised():
    make_scheduled("by-hand", "manual", now=T0)
    assert dispatcher.materialise(T0 + timedelta(days=3)) == 0
