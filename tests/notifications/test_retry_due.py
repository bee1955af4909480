from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from notifications.dispatch import REQUEUE_AFTER, retry_due, send_delivery
from notifications.models import Delivery
from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def failed(receiver):
    """A webhook delivery whose first attempt got a 500; returns (delivery, when it failed)."""
    make_endpoint(receiver.url)
    delivery = announce().deliveries.get()
    receiver.answer(500)
    now = timezone.now()
    send_delivery(delivery.pk, now=now)
    delivery.refresh_from_db()
    return delivery, now


def test_it_queues_a_failed_delivery_once_its_backoff_has_passed(
    failed, django_capture_on_commit_callbacks
):
    delivery, _ = failed
    with django_capture_on_commit_callbacks() as callbacks:
        queued = retry_due(delivery.next_attempt_at)
    assert queued == 1 and len(callbacks) == 1


def test_it_leaves_a_failed_delivery_alone_during_its_backoff(failed):
    _, now = failed
    assert retry_due(now + timedelta(seconds=1)) == 0


def test_it_does_not_queue_the_same_delivery_on_every_tick(failed):
    delivery, _ = failed
    retry_due(delivery.next_attempt_at)
    assert retry_due(delivery.next_attempt_at + timedelta(seconds=5)) == 0
    assert retry_due(delivery.next_attempt_at + REQUEUE_AFTER) == 1


def test_a_fresh_pending_delivery_is_left_to_its_queued_task(dave):
    announce()
    assert retry_due(timezone.now()) == 0


def test_a_pending_delivery_whose_task_was_lost_is_queued_again(dave):
    announce()
    assert retry_due(timezone.now() + REQUEUE_AFTER) == 1


def test_a_delivery_stuck_in_sending_after_its_last_attempt_goes_dead(failed, settings):
    delivery, now = failed
    settings.NOTIFY_MAX_ATTEMPTS = 2
    Delivery.objects.filter(pk=delivery.pk).update(
        status="sending", attempts=2, lease_until=now + timedelta(minutes=2)
    )
    retry_due(now + timedelta(minutes=2))
    delivery.refresh_from_db()
    assert delivery.status == "dead" and "lease expired" in delivery.last_error
    assert AuditEvent.objects.filter(action="notifications.delivery_dead").count() == 1


def test_it_is_registered_with_the_controller():
    from console.controller import hooks

    assert "notifications.retry" in {hook.name for hook in hooks()}
