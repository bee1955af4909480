from datetime import timedelta

from django.utils import timezone

from console import liveness
from console.models import Heartbeat, WorkerProbe


def test_nothing_seen_means_down(db):
    status = liveness.status()
    assert status["controller"].state == "down"
    assert status["worker"].state == "unknown"


def test_fresh_heartbeats_mean_alive(db):
    liveness.beat("controller")
    liveness.beat("worker")
    status = liveness.status()
    assert status["controller"].alive and status["worker"].alive


def test_a_minute_of_silence_means_down(db):
    now = timezone.now()
    liveness.beat("controller", now=now)
    liveness.beat("worker", now=now - timedelta(seconds=61))
    status = liveness.status(now)
    assert status["worker"].state == "down"
    assert "61s ago" in status["worker"].detail


def test_a_silent_worker_without_a_controller_is_unknown_not_down(db):
    now = timezone.now()
    liveness.beat("worker", now=now - timedelta(minutes=5))
    assert liveness.status(now)["worker"].state == "unknown"


def test_one_process_keeps_one_row(db):
    liveness.beat("controller", "host:1")
    liveness.beat("controller", "host:1")
    assert Heartbeat.objects.filter(kind="controller").count() == 1


def test_a_probe_is_queued_once_until_it_is_answered(db, django_capture_on_commit_callbacks):
    now = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        assert liveness.probe_worker(now) is True
        assert liveness.probe_worker(now + timedelta(seconds=2)) is False
    assert len(callbacks) == 1


def test_an_unanswered_probe_is_sent_again_after_it_is_lost(db, django_capture_on_commit_callbacks):
    now = timezone.now()
    with django_capture_on_commit_callbacks():
        liveness.probe_worker(now)
        assert liveness.probe_worker(now + liveness.PROBE_LOST_AFTER) is True


def test_an_answered_probe_is_repeated_after_the_interval(db, django_capture_on_commit_callbacks):
    now = timezone.now()
    with django_capture_on_commit_callbacks():
        liveness.probe_worker(now)
        WorkerProbe.objects.filter(pk=1).update(answered_at=now + timedelta(seconds=1))
        assert liveness.probe_worker(now + timedelta(seconds=5)) is False
        assert liveness.probe_worker(now + timedelta(seconds=12)) is True


def test_the_banner_shows_on_every_page_when_nothing_runs(login, dave):
    body = login(dave).get("/").content.decode()
    assert "Background processing is not running" in body


def test_the_banner_is_gone_when_both_are_alive(login, dave):
    liveness.beat("controller")
    liveness.beat("worker")
    body = login(dave).get("/").content.decode()
    assert "Background processing is not running" not in body


def test_the_banner_fragment_renders_alone_for_htmx(login, dave):
    response = login(dave).get("/liveness/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.strip().startswith('<div id="liveness"')
    assert "<html" not in body


def test_healthz_answers_without_sign_in(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["controller"]["state"] == "down"


def test_a_dead_worker_is_reported_once_per_outage(db):
    from notifications.models import Notification

    now = timezone.now()
    liveness.beat("controller", now=now)
    liveness.beat("worker", now=now - timedelta(minutes=3))
    assert liveness.alert_if_down(now) is True
    assert liveness.alert_if_down(now + timedelta(seconds=30)) is False
    assert Notification.objects.filter(event="system.liveness").count() == 1


def test_a_live_worker_is_not_reported(db):
    liveness.beat("controller")
    liveness.beat("worker")
    assert liveness.alert_if_down() is False
