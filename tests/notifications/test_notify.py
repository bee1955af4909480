import pytest
from django.db import transaction

from accounts.roles import VIEWER
from notifications.dispatch import notify
from notifications.events import UnknownEventError, register_event
from notifications.models import Delivery, EmailPreference, Notification
from tests.conftest import make_user
from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db


def emails_of(notification):
    return set(notification.deliveries.filter(channel="email").values_list("address", flat=True))


def test_it_emails_every_console_user(alice, bob, carol, dave):
    notification = announce()
    assert emails_of(notification) == {
        "alice@example.test",
        "bob@example.test",
        "carol@example.test",
        "dave@example.test",
    }
    assert notification.deliveries.filter(status="pending").count() == 4


def test_people_without_a_role_get_nothing(erin, dave):
    notification = announce()
    assert emails_of(notification) == {"dave@example.test"}


def test_inactive_people_and_people_without_an_address_get_nothing(dave):
    make_user("gone", is_active=False)
    blank = make_user("blank")
    blank.email = ""
    blank.save()
    notification = announce()
    assert emails_of(notification) == {"dave@example.test"}


def test_an_opted_out_person_gets_no_delivery(bob, dave):
    EmailPreference.objects.create(user=dave, event="approvals.requested", enabled=False)
    notification = announce()
    assert emails_of(notification) == {"bob@example.test"}


def test_an_opt_in_event_reaches_only_those_who_opted_in(scratch_events, bob, dave):
    register_event("testarea.optin", "Opt-in only")
    EmailPreference.objects.create(user=bob, event="testarea.optin", enabled=True)
    notification = announce("testarea.optin", key="optin:1")
    assert emails_of(notification) == {"bob@example.test"}


def test_two_people_sharing_an_address_get_one_email(bob):
    twin = make_user("bob2", VIEWER)
    twin.email = "BOB@example.test"
    twin.save()
    notification = announce()
    assert notification.deliveries.filter(channel="email").count() == 1


def test_the_same_dedup_key_twice_creates_one_notification(dave):
    first = announce(key="approvals.requested:7:1:pending")
    second = announce(key="approvals.requested:7:1:pending")
    assert first is not None and second is None
    assert Notification.objects.count() == 1 and Delivery.objects.count() == 1


def test_webhooks_get_the_events_they_subscribe_to(db):
    everything = make_endpoint("http://127.0.0.1:9/a", name="everything")
    approvals = make_endpoint("http://127.0.0.1:9/b", name="approvals", events=["approvals.*"])
    make_endpoint("http://127.0.0.1:9/c", name="liveness", events=["system.liveness"])
    make_endpoint("http://127.0.0.1:9/d", name="off", enabled=False)
    notification = announce()
    targets = set(notification.deliveries.values_list("endpoint", flat=True))
    assert targets == {everything.pk, approvals.pk}


def test_deliveries_are_queued_only_when_the_callers_transaction_commits(
    dave, django_capture_on_commit_callbacks
):
    make_endpoint("http://127.0.0.1:9/a")
    with django_capture_on_commit_callbacks() as callbacks:
        announce()
    assert len(callbacks) == 2


def test_a_rolled_back_caller_leaves_no_notification(dave):
    with pytest.raises(RuntimeError), transaction.atomic():
        notify("approvals.requested", subject="s", body="b", dedup_key="rollback:1")
        raise RuntimeError("the caller's change failed")
    assert not Notification.objects.exists()


def test_an_unregistered_event_is_refused(db):
    with pytest.raises(UnknownEventError):
        announce("nobody.registered_this")
    assert not Notification.objects.exists()
