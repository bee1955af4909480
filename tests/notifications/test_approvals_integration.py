"""The approvals primitive (audit.approvals) announces through notify(): the whole path."""

import pytest

from audit import approvals
from notifications.dispatch import send_delivery
from notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_a_change_request_emails_the_console_users(smtp, alice, dave):
    cr = approvals.request_change(
        "accounts.grant_admin",
        requested_by=alice,
        payload={"user_id": dave.pk},
        title="Make dave an Admin",
    )
    notification = Notification.objects.get(event="approvals.requested")
    for delivery in notification.deliveries.all():
        send_delivery(delivery.pk)
    assert notification.payload["change_request"] == cr.pk
    assert sorted(m["To"] for m in smtp.messages()) == ["alice@example.test", "dave@example.test"]
