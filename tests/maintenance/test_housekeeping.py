from datetime import date, timedelta

import pytest
from django.utils import timezone

from maintenance import dispatcher, jobtypes, runs
from maintenance.models import Checklist, ChecklistTemplate, Occurrence, Run, RunState
from tests.maintenance.conftest import make_job

pytestmark = pytest.mark.django_db


def _old_runs(job, count, days_ago):
    base = timezone.now() - timedelta(days=days_ago)
    for i in range(count):
        at = base + timedelta(minutes=i)
        occ = Occurrence.objects.create(
            job=job, scheduled_for=at, trigger="schedule", created_at=at
        )
        Run.objects.create(
            occurrence=occ, job=job, state=RunState.SUCCEEDED, created_at=at, finished_at=at
        )


def test_history_older_than_the_retention_is_pruned_but_the_newest_runs_stay():
    min_runs = 5
    job = make_job("nightly")
    _old_runs(job, 8, days_ago=200)
    dispatcher.prune_history(timezone.now(), min_runs=min_runs)
    assert Run.objects.filter(job=job).count() == 5


def test_recent_history_is_kept_whatever_its_size():
    min_runs = 2
    job = make_job("nightly")
    _old_runs(job, 6, days_ago=3)
    dispatcher.prune_history(timezone.now(), min_runs=min_runs)
    assert Run.objects.filter(job=job).count() == 6


def test_a_waiting_run_is_never_pruned(alice):
    min_runs = 1
    job = make_job("nightly")
    old = runs.run_now(job, alice, now=timezone.now() - timedelta(days=400))
    _old_runs(job, 2, days_ago=1)
    dispatcher.prune_history(timezone.now(), min_runs=min_runs)
    assert Run.objects.filter(pk=old.pk).exists()


@pytest.mark.parametrize(
    ("cadence", "today", "start", "due"),
    [
        ("daily", date(2026, 6, 3), date(2026, 6, 3), date(2026, 6, 3)),
        ("weekly", date(2026, 6, 3), date(2026, 6, 1), date(2026, 6, 7)),
        ("monthly", date(2026, 6, 3), date(2026, 6, 1), date(2026, 6, 30)),
        ("quarterly", date(2026, 8, 15), date(2026, 7, 1), date(2026, 9, 30)),
    ],
)
def test_a_recurring_checklist_covers_its_period(cadence, today, start, due):
    template = ChecklistTemplate.objects.create(name=cadence, cadence=cadence, items=["a", "b"])
    checklist = dispatcher.open_checklist(template, today)
    assert (checklist.period_start, checklist.due_on) == (start, due)
    assert checklist.lines.count() == 2


def test_the_recurrence_creates_each_periods_checklist_once():
    ChecklistTemplate.objects.create(name="Daily", cadence="daily", items=["a"])
    dispatcher.recur_checklists(timezone.now())
    dispatcher.recur_checklists(timezone.now())
    assert Checklist.objects.count() == 1


def test_another_app_can_register_a_runner_for_a_declared_type():
    previous = jobtypes.get("verify_backups")
    try:
        jobtypes.register(
            "verify_backups", "Verify backups", runner=lambda pk: "verified", owner_area="backups"
        )
        assert jobtypes.runnable("verify_backups").resolve_runner()(1) == "verified"
    finally:
        jobtypes._types["verify_backups"] = previous


def test_a_declared_type_without_a_runner_is_refused_with_its_owner_named():
    jobtypes.register("test_declared", "Declared only", owner_area="security")
    try:
        with pytest.raises(jobtypes.ParamsError, match="security app has not registered"):
            jobtypes.runnable("test_declared")
    finally:
        jobtypes._types.pop("test_declared")
