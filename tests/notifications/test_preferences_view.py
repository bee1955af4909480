import re

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from notifications.models import EmailPreference
from tests.notifications.conftest import announce

pytestmark = pytest.mark.django_db
URL = reverse("notifications:preferences")


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_people_without_a_role_are_refused(login, erin):
    assert login(erin).get(URL).status_code == 403


def test_a_viewer_sees_the_events_ticked_by_default(login, dave):
    response = login(dave).get(URL)
    assert response.status_code == 200
    assert re.search(rb'value="approvals.requested" id="event-\d+" checked', response.content)


def test_unticking_an_event_stores_an_opt_out(login, dave):
    response = login(dave).post(URL, {"events": ["approvals.decided", "system.liveness"]})
    assert response.status_code == 302
    assert EmailPreference.objects.get(user=dave, event="approvals.requested").enabled is False


def test_an_opted_out_person_no_longer_gets_the_event(login, bob, dave):
    login(dave).post(URL, {"events": ["approvals.decided"]})
    notification = announce()
    assert list(notification.deliveries.values_list("address", flat=True)) == ["bob@example.test"]


def test_a_change_of_preferences_is_audited(login, dave):
    login(dave).post(URL, {"events": ["approvals.decided", "system.liveness"]})
    event = AuditEvent.objects.get(action="notifications.preferences_changed")
    # Only what changed is recorded: other areas' default-on events are unticked too.
    assert event.after["approvals.requested"] is False
    assert "approvals.decided" not in event.after


def test_an_unknown_event_re_renders_the_form_with_an_error(login, dave):
    response = login(dave).post(URL, {"events": ["made.up"]})
    assert response.status_code == 400
    assert b"Select a valid choice" in response.content
    assert not EmailPreference.objects.exists()


def test_a_person_without_an_email_address_is_told_so(login, dave):
    dave.email = ""
    dave.save()
    assert b"no email address" in login(dave).get(URL).content
