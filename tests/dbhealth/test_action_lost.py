"""A running action whose worker died is recorded lost, never left "running"; a live worker's
heartbeat keeps it from being reaped, and a reaped worker's late outcome does not land."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from dbhealth import actions
from dbhealth.models import Action
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def _running(seconds_ago: float, kind=Action.Kind.ANALYSE) -> Action:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    return Action.objects.create(
        target="console", kind=kind, status=Action.Status.RUNNING, started_at=at, heartbeat_at=at
    )


def test_a_silent_running_action_is_recorded_lost_and_announced(settings):
    settings.DBHEALTH_LEASE_SECONDS = 60
    silent = _running(300, kind=Action.Kind.REINDEX)
    beating = _running(5)
    assert actions.reap_lost() == 1
    silent.refresh_from_db()
    beating.refresh_from_db()
    assert (silent.status, beating.status) == ("lost", "running")
    assert "its worker stopped" in silent.detail and "_ccnew" in silent.detail
    assert AuditEvent.objects.filter(action="dbhealth.action.lost").count() == 1
    assert Notification.objects.filter(event="dbhealth.action_failed").exists()
    assert actions.reap_lost() == 0


def test_a_worker_that_finishes_after_being_reaped_does_not_overwrite_lost(settings):
    settings.DBHEALTH_LEASE_SECONDS = 60
    action = _running(300)
    actions.reap_lost()
    action.refresh_from_db()
    actions._execute(action)  # the late worker: a real analysis of the console's database
    action.refresh_from_db()
    assert action.status == "lost"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_renews_while_the_action_runs(settings):
    settings.DBHEALTH_HEARTBEAT_SECONDS = 0.2
    action = _running(600)
    stop = threading.Event()
    beat = threading.Thread(target=actions._beat, args=(action.pk, stop))
    beat.start()
    try:
        time.sleep(1.0)
    finally:
        stop.set()
        beat.join()
    action.refresh_from_db()
    assert timezone.now() - action.heartbeat_at < timedelta(seconds=2)
    settings.DBHEALTH_LEASE_SECONDS = 60
    assert actions.reap_lost() == 0
