from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from maintenance import jobtypes, runs
from maintenance.models import Run, RunState
from maintenance.tasks import execute_run
from notifications.models import Notification
from tests.maintenance.conftest import make_job

pytestmark = pytest.mark.django_db


def _notifications(days_old: list[int]):
    now = timezone.now()
    for i, days in enumerate(days_old):
        Notification.objects.create(
            event="x.y",
            subject="s",
            body="b",
            dedup_key=f"k{i}",
            created_at=now - timedelta(days=days),
        )


def _cleanup(name="cleanup", **params):
    return make_job(
        name,
        job_type="data_cleanup",
        params={"table": "notifications.notification", "keep_days": 30, **params},
    )


def test_cleanup_deletes_rows_older_than_keep_days_in_batches(alice):
    _notifications([40, 50, 60, 5])
    run = runs.run_now(_cleanup(batch_size=2), alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert Notification.objects.count() == 1
    assert run.log.count("deleted 2 rows") == 1 and "deleted 1 rows" in run.log


def test_a_dry_run_only_counts(alice):
    _notifications([40, 50, 5])
    run = runs.run_now(_cleanup(dry_run=True), alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.summary == "dry run: 2 rows in notifications.notification would be deleted"
    assert Notification.objects.count() == 3


def test_a_retry_resumes_with_the_cutoff_frozen_by_the_first_attempt(alice):
    _notifications([40, 33])
    first = runs.run_now(_cleanup(), alice)
    frozen = timezone.now() - timedelta(days=35)
    retry = Run.objects.create(
        occurrence=first.occurrence,
        job=first.job,
        attempt=2,
        checkpoint={"cutoff": frozen.isoformat(), "deleted": 0},
    )
    execute_run(retry.pk)
    assert list(Notification.objects.values_list("dedup_key", flat=True)) == ["k1"]


def test_cleanup_refuses_a_table_outside_the_allowlist():
    with pytest.raises(jobtypes.ParamsError, match="table must be one of"):
        jobtypes.get("data_cleanup").clean_params({"table": "audit.auditevent", "keep_days": 1})


def test_database_optimisation_checks_and_reports(alice):
    run = runs.run_now(make_job("optimise", job_type="db_optimise", params={}), alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    expected = "integrity ok" if connection.vendor == "sqlite" else "ANALYZE done"
    assert run.summary.startswith(expected)


def test_a_command_outside_the_allowlist_is_refused():
    with pytest.raises(jobtypes.ParamsError, match="command must be one of"):
        jobtypes.get("command").clean_params({"command": "flush"})


def test_a_health_check_needs_an_http_url():
    with pytest.raises(jobtypes.ParamsError, match="http"):
        jobtypes.get("health_check").clean_params({"url": "file:///etc/passwd"})
