"""execute_run against the real database, a real loopback HTTP server and real processes."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

from maintenance import dispatcher, jobtypes, runs
from maintenance.models import Run, RunState
from maintenance.tasks import execute_run
from tests.maintenance.conftest import health_job, make_job, make_window
from tests.processes import env_for_test_database

pytestmark = pytest.mark.django_db
# Tests with a second thread or process writing to the database need committed rows.
threaded = pytest.mark.django_db(transaction=True)


def test_a_run_succeeds_and_keeps_a_log_excerpt(alice, http_server):
    run = runs.run_now(health_job("probe", f"{http_server}/ok"), alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.finished_at >= run.started_at
    assert "→ 200" in run.log


def test_redelivery_of_a_finished_run_does_not_run_it_again(alice, http_server):
    run = runs.run_now(health_job("probe", f"{http_server}/ok"), alice)
    execute_run(run.pk)
    assert execute_run(run.pk) == "not started: run is succeeded"
    run.refresh_from_db()
    assert run.fencing_token == 1


def test_a_failing_body_fails_the_run_with_its_error(alice, http_server):
    run = runs.run_now(health_job("probe", f"{http_server}/fail"), alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "answered 500, expected 200" in run.summary


def test_the_worker_refuses_a_run_that_queued_in_time_but_would_start_too_late(alice):
    # The window opened 12 minutes ago (on the minute) for 15 minutes. Two minutes ago there
    # was room for 3m + 1m margin, so the dispatcher handed the run out; the worker takes it
    # only now, when 4 minutes no longer fit before the window closes.
    now = timezone.now()
    opened = now - timedelta(minutes=12)
    make_window(schedule=f"{opened.minute} {opened.hour} * * *", duration=timedelta(minutes=15))
    run = runs.run_now(
        make_job("tight", max_duration=timedelta(minutes=3)), alice, now=now - timedelta(minutes=2)
    )
    assert dispatcher.dispatch(now - timedelta(minutes=2)) == 1
    result = execute_run(run.pk)
    run.refresh_from_db()
    assert result.startswith("deferred: ") and run.state == RunState.DEFERRED
    assert run.reason.startswith("in-worker check: window night closes at")


def test_a_type_without_a_runner_fails_the_run_and_says_why(alice):
    jobtypes.register("test_unavailable", "Not here yet", owner_area="backups")
    try:
        run = runs.run_now(make_job("pending", job_type="test_unavailable", params={}), alice)
        execute_run(run.pk)
    finally:
        jobtypes._types.pop("test_unavailable")
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "backups app has not registered a runner" in run.reason


@threaded
def test_an_overrunning_run_is_timed_out_by_the_reaper_and_never_run_again(alice, http_server):
    run = runs.run_now(
        health_job("slow", f"{http_server}/slow/2", max_duration=timedelta(seconds=1)), alice
    )
    results = []

    def worker():
        results.append(execute_run(run.pk))
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    time.sleep(1.3)
    dispatcher.reap(timezone.now())
    thread.join()
    run.refresh_from_db()
    assert run.state == RunState.TIMED_OUT and "max duration of 1s" in run.reason
    assert results == ["outcome discarded: run is timed_out"]
    assert execute_run(run.pk) == "not started: run is timed_out"


@threaded
def test_a_killed_workers_run_becomes_lost_and_is_retried_once(alice, http_server):
    job = health_job(
        "fragile", f"{http_server}/slow/30", retry_attempts=1, retry_backoff=timedelta(seconds=1)
    )
    run = runs.run_now(job, alice)
    code = (
        "import django; django.setup(); from maintenance.tasks import execute_run; "
        f"execute_run({run.pk})"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=settings.BASE_DIR,
        env=env_for_test_database(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while Run.objects.get(pk=run.pk).state != RunState.RUNNING:
            assert time.monotonic() < deadline, "the worker never claimed the run"
            time.sleep(0.1)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    run.refresh_from_db()
    dispatcher.reap(run.lease_until + timedelta(seconds=1))
    run.refresh_from_db()
    assert run.state == RunState.LOST
    retry = Run.objects.get(retry_of=run)
    assert (retry.attempt, retry.state) == (2, RunState.QUEUED)


def test_the_last_allowed_attempt_is_not_retried(alice, http_server):
    job = health_job(
        "flaky", f"{http_server}/fail", retry_attempts=1, retry_backoff=timedelta(seconds=0)
    )
    first = runs.run_now(job, alice)
    execute_run(first.pk)
    second = Run.objects.get(retry_of=first)
    execute_run(second.pk)
    assert Run.objects.filter(job=job).count() == 2
    assert Run.objects.get(pk=second.pk).state == RunState.FAILED


@threaded
def test_cancelling_a_running_run_stops_its_outcome_from_landing(alice, http_server):
    run = runs.run_now(health_job("slow", f"{http_server}/slow/1"), alice)
    results = []

    def worker():
        results.append(execute_run(run.pk))
        connection.close()

    thread = threading.Thread(target=worker)
    thread.start()
    while Run.objects.get(pk=run.pk).state != RunState.RUNNING:
        time.sleep(0.05)
    assert runs.cancel(Run.objects.get(pk=run.pk))
    thread.join()
    assert results == ["outcome discarded: run is cancelled"]


def test_the_allowlisted_command_runs_and_its_output_is_kept(alice):
    run = runs.run_now(make_job("audit", params={"command": "verify_audit"}), alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert run.summary.startswith("manage.py verify_audit: ")


def test_a_cleanup_that_reaches_its_deadline_between_batches_is_timed_out(alice):
    from notifications.models import Notification

    old = timezone.now() - timedelta(days=90)
    for i in range(3):
        Notification.objects.create(
            event="x.y", subject="s", body="b", dedup_key=f"k{i}", created_at=old
        )
    job = make_job(
        "cleanup",
        job_type="data_cleanup",
        max_duration=timedelta(microseconds=1),
        params={"table": "notifications.notification", "keep_days": 30, "batch_size": 1},
    )
    run = runs.run_now(job, alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.TIMED_OUT and run.summary == "stopped: deadline passed"
    assert Notification.objects.filter(event="x.y").count() == 3


@threaded
def test_the_heartbeat_keeps_a_long_run_from_being_reaped_as_lost(settings, alice, http_server):
    settings.MAINTENANCE_HEARTBEAT_SECONDS = 0.3
    settings.MAINTENANCE_LEASE_SECONDS = 1.0
    run = runs.run_now(health_job("steady", f"{http_server}/slow/2.5"), alice)
    thread = threading.Thread(target=lambda: (execute_run(run.pk), connection.close()))
    thread.start()
    while thread.is_alive():
        dispatcher.reap(timezone.now())
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert run.heartbeat_at > run.started_at + timedelta(seconds=1)


@threaded
def test_the_heartbeat_keeps_beating_after_one_failed_write(settings, alice, http_server):
    from django.db import OperationalError
    from django.db.backends.signals import connection_created

    settings.MAINTENANCE_HEARTBEAT_SECONDS = 0.3
    settings.MAINTENANCE_LEASE_SECONDS = 1.0
    failures = []

    def locked_once(execute, sql, params, many, context):
        if not failures and sql.lstrip().upper().startswith("UPDATE"):
            failures.append(sql)
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)

    def on_connect(sender, connection, **kwargs):
        if threading.current_thread().name.startswith("heartbeat-run-"):
            connection.execute_wrappers.append(locked_once)

    connection_created.connect(on_connect)
    try:
        run = runs.run_now(health_job("steady", f"{http_server}/slow/2.5"), alice)
        thread = threading.Thread(target=lambda: (execute_run(run.pk), connection.close()))
        thread.start()
        while thread.is_alive():
            dispatcher.reap(timezone.now())
            time.sleep(0.2)
    finally:
        connection_created.disconnect(on_connect)
    run.refresh_from_db()
    assert failures and run.state == RunState.SUCCEEDED
    assert run.heartbeat_at > run.started_at + timedelta(seconds=1)
