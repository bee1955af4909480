from datetime import timedelta

import pytest
from django.utils import timezone

from maintenance import alerts, dispatcher, runs
from maintenance.models import Run, RunState
from maintenance.tasks import execute_run
from notifications.models import Notification
from tests.maintenance.conftest import health_job, make_job, make_window

pytestmark = pytest.mark.django_db


def _events():
    return list(Notification.objects.order_by("pk").values_list("event", flat=True))


def test_a_failed_run_notifies_once_even_if_announced_again(alice, http_server):
    run = runs.run_now(health_job("probe", f"{http_server}/fail"), alice)
    execute_run(run.pk)
    from django.db import transaction

    with transaction.atomic():
        alerts.on_final(Run.objects.get(pk=run.pk))
    assert _events() == ["maintenance.run_failed"]


def test_started_and_succeeded_are_sent_only_when_the_job_asks(alice, http_server):
    quiet = runs.run_now(health_job("quiet", f"{http_server}/ok"), alice)
    chatty = runs.run_now(
        health_job("chatty", f"{http_server}/ok", notify_started=True, notify_succeeded=True), alice
    )
    execute_run(quiet.pk)
    execute_run(chatty.pk)
    assert _events() == ["maintenance.run_started", "maintenance.run_succeeded"]


def test_the_first_success_after_a_failure_is_a_recovery(alice, http_server):
    job = health_job("probe", f"{http_server}/fail")
    execute_run(runs.run_now(job, alice).pk)
    job.params = {"url": f"{http_server}/ok"}
    job.save()
    execute_run(runs.run_now(job, alice).pk)
    execute_run(runs.run_now(job, alice).pk)
    assert _events() == ["maintenance.run_failed", "maintenance.run_recovered"]


def test_a_run_much_slower_than_the_median_is_reported_slow(alice, http_server):
    job = health_job("probe", f"{http_server}/ok", slow_factor=3)
    for _ in range(3):
        execute_run(runs.run_now(job, alice).pk)
    job.params = {"url": f"{http_server}/slow/0.5"}
    job.save()
    execute_run(runs.run_now(job, alice).pk)
    assert _events() == ["maintenance.run_slow"]


def test_a_deferral_is_announced_once_however_often_the_run_is_deferred(alice):
    make_window(schedule="0 2 * * *")
    run = runs.run_now(make_job("nightly"), alice)
    noon = timezone.now().replace(hour=12, minute=0)
    dispatcher.dispatch(noon)
    deferred = Run.objects.get(pk=run.pk)
    # The window opens, but a blackout appeared meanwhile: deferred again, no second message.
    make_window("freeze", kind="blackout", schedule="0 1 * * *", duration=timedelta(hours=4))
    dispatcher.dispatch(deferred.not_before + timedelta(minutes=1))
    assert Run.objects.get(pk=run.pk).state == RunState.DEFERRED
    assert _events() == ["maintenance.run_deferred"]
