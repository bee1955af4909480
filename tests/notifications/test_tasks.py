import pytest

from notifications import tasks
from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db


def test_the_task_sends_a_delivery_by_primary_key(receiver):
    make_endpoint(receiver.url)
    delivery = announce().deliveries.get()
    assert tasks.send_delivery(delivery.pk) == "sent"
    assert len(receiver.requests) == 1


def test_the_task_delivered_twice_sends_once(receiver):
    make_endpoint(receiver.url)
    delivery = announce().deliveries.get()
    tasks.send_delivery(delivery.pk)
    assert tasks.send_delivery(delivery.pk) == "skipped"
    assert len(receiver.requests) == 1


def test_the_task_for_a_missing_delivery_does_nothing(db):
    assert tasks.send_delivery(999_999) == "skipped"
