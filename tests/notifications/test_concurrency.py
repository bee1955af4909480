"""Races against the real database, with real threads (each thread has its own connection)."""

import queue
import threading

import pytest
from django.db import connection

from notifications.dispatch import send_delivery
from notifications.models import Notification
from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def run_together(func, count=2):
    """Start ``count`` threads at once; their results arrive on the returned queue."""
    barrier = threading.Barrier(count)
    results: queue.Queue = queue.Queue()

    def body():
        try:
            barrier.wait(timeout=10)
            results.put(func())
        except Exception as exc:
            results.put(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads, results


def test_two_workers_racing_on_one_delivery_send_it_once(receiver):
    make_endpoint(receiver.url)
    delivery = announce().deliveries.get()
    gate = receiver.hold()  # the winner stays inside its POST while the loser tries to claim
    threads, results = run_together(lambda: send_delivery(delivery.pk))
    first = results.get(timeout=15)
    gate.set()
    second = results.get(timeout=15)
    for thread in threads:
        thread.join(timeout=15)
    assert (first, second) == ("skipped", "sent")
    assert len(receiver.requests) == 1


def test_two_callers_racing_with_one_dedup_key_create_one_notification(alice, dave):
    threads, results = run_together(lambda: announce(key="race:1"))
    outcomes = [results.get(timeout=15) for _ in threads]
    for thread in threads:
        thread.join(timeout=15)
    assert sorted(type(o).__name__ for o in outcomes) == ["NoneType", "Notification"]
    assert Notification.objects.get().deliveries.count() == 2
