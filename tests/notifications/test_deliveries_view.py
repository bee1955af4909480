import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications.models import Delivery, Notification
from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db
URL = reverse("notifications:deliveries")


def make_deliveries(count: int, *, status: str = "sent", event: str = "approvals.decided"):
    endpoint = make_endpoint("https://hooks.example.test/", name=f"ep-{count}-{status}")
    for i in range(count):
        notification = Notification.objects.create(
            event=event, subject=f"Decided {i}", dedup_key=f"{status}:{event}:{count}:{i}"
        )
        Delivery.objects.create(
            notification=notification, channel="webhook", endpoint=endpoint, status=status
        )


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_people_without_a_role_are_refused(login, erin):
    assert login(erin).get(URL).status_code == 403


def test_a_viewer_sees_the_delivery_log(login, dave):
    announce(subject="Approval needed: ship 2.0")
    response = login(dave).get(URL)
    assert response.status_code == 200
    assert b"Approval needed: ship 2.0" in response.content


def test_it_filters_by_status(login, dave):
    make_deliveries(1, status="dead", event="approvals.requested")
    make_deliveries(1, status="sent")
    response = login(dave).get(URL, {"status": "dead"})
    assert [d.status for d in response.context["page"]] == ["dead"]


def test_it_filters_by_channel_and_event(login, dave):
    announce()  # one email delivery (to dave) for approvals.requested
    make_deliveries(2)
    response = login(dave).get(URL, {"channel": "webhook", "event": "approvals.decided"})
    assert response.context["page"].paginator.count == 2


def test_a_bad_filter_re_renders_with_an_error(login, dave):
    response = login(dave).get(URL, {"status": "exploded"})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content


def test_it_is_paginated(login, dave):
    make_deliveries(51)
    response = login(dave).get(URL, {"page": 2})
    assert len(response.context["page"].object_list) == 1
    assert b"Page 2 of 2" in response.content


def test_its_query_count_does_not_grow_with_the_rows(login, dave):
    client = login(dave)
    make_deliveries(2)
    with CaptureQueriesContext(connection) as few:
        client.get(URL)
    make_deliveries(20)
    with CaptureQueriesContext(connection) as many:
        client.get(URL)
    assert len(few) == len(many)


def test_admins_get_a_link_to_the_webhooks(login, alice, dave):
    assert reverse("notifications:webhooks").encode() in login(alice).get(URL).content
    assert reverse("notifications:webhooks").encode() not in login(dave).get(URL).content
