import json
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from notifications.dispatch import send_delivery
from notifications.models import Delivery
from notifications.webhooks import verify
from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def delivery(receiver):
    make_endpoint(receiver.url)
    return announce().deliveries.get(channel="webhook")


def test_a_webhook_is_posted_as_json(receiver, delivery):
    assert send_delivery(delivery.pk) == "sent"
    [request] = receiver.requests
    assert request.headers["Content-Type"] == "application/json"
    assert json.loads(request.body)["event"] == "approvals.requested"


def test_the_body_carries_the_notification(receiver, delivery, settings):
    send_delivery(delivery.pk)
    body = json.loads(receiver.requests[0].body)
    assert body["link"] == f"{settings.SITE_URL}/audit/approvals/1/"
    assert (body["notification_id"], body["delivery_id"], body["payload"]) == (
        delivery.notification_id,
        delivery.pk,
        {"change_request": 1},
    )


def test_the_signature_verifies_with_the_endpoint_secret(receiver, delivery):
    now = timezone.now()
    send_delivery(delivery.pk, now=now)
    headers, body = receiver.requests[0].headers, receiver.requests[0].body
    secret = delivery.endpoint.secret
    assert verify(
        secret,
        headers["X-Upkeep-Timestamp"],
        body,
        headers["X-Upkeep-Signature"],
        now=now.timestamp(),
    )
    assert not verify(
        "wrong-secret",
        headers["X-Upkeep-Timestamp"],
        body,
        headers["X-Upkeep-Signature"],
        now=now.timestamp(),
    )


def test_it_names_the_event_and_the_delivery_in_headers(receiver, delivery):
    send_delivery(delivery.pk)
    headers = receiver.requests[0].headers
    assert headers["X-Upkeep-Event"] == "approvals.requested"
    assert headers["X-Upkeep-Delivery"] == str(delivery.pk)


def test_a_server_error_fails_the_delivery_with_backoff(receiver, delivery, settings):
    receiver.answer(500)
    now = timezone.now()
    assert send_delivery(delivery.pk, now=now) == "failed"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.last_status_code, delivery.attempts) == ("failed", 500, 1)
    assert delivery.next_attempt_at == now + timedelta(seconds=settings.NOTIFY_BACKOFF_SECONDS)


def test_a_failed_delivery_is_not_retried_before_its_backoff(receiver, delivery):
    receiver.answer(500)
    now = timezone.now()
    send_delivery(delivery.pk, now=now)
    assert send_delivery(delivery.pk, now=now + timedelta(seconds=1)) == "skipped"
    assert len(receiver.requests) == 1


def test_a_failed_delivery_is_sent_once_its_backoff_has_passed(receiver, delivery, settings):
    receiver.answer(500, 200)
    now = timezone.now()
    send_delivery(delivery.pk, now=now)
    later = now + timedelta(seconds=settings.NOTIFY_BACKOFF_SECONDS)
    assert send_delivery(delivery.pk, now=later) == "sent"
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.sent_at) == ("sent", 2, later)


def test_the_backoff_doubles_after_each_failure(receiver, delivery, settings):
    settings.NOTIFY_BACKOFF_SECONDS = 10
    receiver.answer(500, 502)
    now = timezone.now()
    send_delivery(delivery.pk, now=now)
    later = now + timedelta(seconds=10)
    send_delivery(delivery.pk, now=later)
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == later + timedelta(seconds=20)
    assert delivery.last_status_code == 502


def test_it_gives_up_after_the_maximum_attempts(receiver, delivery, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 2
    receiver.answer(500, 500, 200)
    now = timezone.now()
    send_delivery(delivery.pk, now=now)
    assert send_delivery(delivery.pk, now=now + timedelta(hours=1)) == "dead"
    assert send_delivery(delivery.pk, now=now + timedelta(days=1)) == "skipped"
    assert len(receiver.requests) == 2


def test_a_dead_delivery_is_recorded_in_the_audit_trail(receiver, delivery, settings):
    settings.NOTIFY_MAX_ATTEMPTS = 1
    receiver.answer(503)
    send_delivery(delivery.pk)
    event = AuditEvent.objects.get(action="notifications.delivery_dead")
    assert event.object_id == str(delivery.pk)
    assert event.after["status_code"] == 503


def test_an_unreachable_endpoint_fails_the_delivery(db):
    make_endpoint("http://127.0.0.1:9/nothing-listens-here")
    delivery = announce().deliveries.get()
    assert send_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.last_status_code is None
    assert "Connection refused" in delivery.last_error or "refused" in delivery.last_error.lower()


def test_a_redirect_is_a_failure_not_a_get(receiver, delivery):
    receiver.answer(302)
    assert send_delivery(delivery.pk) == "failed"
    delivery.refresh_from_db()
    assert delivery.last_status_code == 302
    assert len(receiver.requests) == 1


def test_a_delivery_already_sent_is_not_sent_again(receiver, delivery):
    send_delivery(delivery.pk)
    assert send_delivery(delivery.pk) == "skipped"
    assert len(receiver.requests) == 1


def test_a_delivery_stuck_in_sending_is_claimed_again_after_its_lease(receiver, delivery):
    now = timezone.now()
    # A worker claimed it and died: status sending, lease running until now + 1 minute.
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=1, lease_until=now + timedelta(minutes=1)
    )
    assert send_delivery(delivery.pk, now=now) == "skipped"
    assert send_delivery(delivery.pk, now=now + timedelta(minutes=1)) == "sent"
    delivery.refresh_from_db()
    assert delivery.attempts == 2


def test_a_delivery_to_a_deleted_endpoint_goes_dead(receiver, delivery):
    delivery.endpoint.delete()
    assert send_delivery(delivery.pk) == "dead"
    assert receiver.requests == []


def test_a_delivery_to_a_disabled_endpoint_goes_dead(receiver, delivery):
    delivery.endpoint.__class__.objects.update(enabled=False)
    assert send_delivery(delivery.pk) == "dead"
    assert receiver.requests == []
