from datetime import timedelta

import pytest
from django.utils import timezone

from notifications.dispatch import send_delivery
from tests.conftest import make_user
from tests.notifications.conftest import announce, free_port

pytestmark = pytest.mark.django_db


def test_an_email_reaches_a_real_smtp_server(smtp, dave):
    delivery = announce().deliveries.get()
    assert send_delivery(delivery.pk) == "sent"
    [message] = smtp.messages()
    assert message["To"] == "dave@example.test"
    assert message["Subject"] == "Approval needed"


def test_the_email_links_to_the_console_and_to_the_preferences(smtp, settings, dave):
    delivery = announce().deliveries.get()
    send_delivery(delivery.pk)
    body = smtp.messages()[0].get_payload()
    assert f"{settings.SITE_URL}/audit/approvals/1/" in body
    assert f"{settings.SITE_URL}/notifications/preferences/" in body


def test_a_sent_email_records_its_outcome(smtp, dave):
    delivery = announce().deliveries.get()
    send_delivery(delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 1, "")
    assert delivery.sent_at is not None and delivery.duration_ms is not None


def test_an_unreachable_smtp_server_fails_the_delivery_for_a_retry(settings, dave):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()
    delivery = announce().deliveries.get()
    now = timezone.now()
    assert send_delivery(delivery.pk, now=now) == "failed"
    delivery.refresh_from_db()
    assert "ConnectionRefusedError" in delivery.last_error
    assert delivery.next_attempt_at == now + timedelta(seconds=settings.NOTIFY_BACKOFF_SECONDS)


def test_each_recipient_gets_their_own_message(smtp, bob, dave):
    make_user("frank")  # no role: not a recipient
    for delivery in announce().deliveries.all():
        send_delivery(delivery.pk)
    assert sorted(e.rcpt_tos[0] for e in smtp.envelopes) == [
        "bob@example.test",
        "dave@example.test",
    ]
