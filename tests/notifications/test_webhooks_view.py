import pytest
from django.urls import reverse

from audit.models import AuditEvent
from notifications.dispatch import send_delivery
from notifications.models import Delivery, WebhookEndpoint
from tests.notifications.conftest import make_endpoint

pytestmark = pytest.mark.django_db
URL = reverse("notifications:webhooks")


def valid(**overrides):
    data = {
        "name": "chatops",
        "url": "https://hooks.example.test/upkeep",
        "events": ["approvals.*"],
    }
    return {**data, **overrides}


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


def test_viewers_and_release_managers_are_refused(login, dave, bob):
    assert login(dave).get(URL).status_code == 403
    assert login(bob).post(URL, valid()).status_code == 403


def test_an_admin_sees_the_webhooks(login, alice):
    make_endpoint("https://hooks.example.test/a", name="alerts")
    response = login(alice).get(URL)
    assert response.status_code == 200
    assert b"alerts" in response.content


def test_creating_a_webhook_shows_its_secret_once(login, alice):
    client = login(alice)
    response = client.post(URL, valid())
    endpoint = WebhookEndpoint.objects.get(name="chatops")
    assert endpoint.secret.encode() in response.content
    assert endpoint.secret.encode() not in client.get(URL).content


def test_creating_a_webhook_is_audited(login, alice):
    login(alice).post(URL, valid())
    event = AuditEvent.objects.get(action="notifications.webhook_created")
    assert event.after["events"] == ["approvals.*"]
    assert event.actor_label == "alice"


def test_a_non_http_url_re_renders_the_form_with_an_error(login, alice):
    response = login(alice).post(URL, valid(url="ftp://files.example.test/hook"))
    assert response.status_code == 400
    assert b"Use an http:// or https:// URL." in response.content
    assert not WebhookEndpoint.objects.exists()


def test_a_duplicate_name_re_renders_the_form_with_an_error(login, alice):
    make_endpoint("https://hooks.example.test/a", name="chatops")
    response = login(alice).post(URL, valid())
    assert response.status_code == 400
    assert b"already exists" in response.content


def test_an_unknown_event_re_renders_the_form_with_an_error(login, alice):
    response = login(alice).post(URL, valid(events=["made.up"]))
    assert response.status_code == 400
    assert not WebhookEndpoint.objects.exists()


def test_an_admin_disables_and_enables_a_webhook(login, alice):
    endpoint = make_endpoint("https://hooks.example.test/a")
    url = reverse("notifications:webhook_enabled", args=[endpoint.pk])
    login(alice).post(url, {"enabled": "0"})
    endpoint.refresh_from_db()
    assert endpoint.enabled is False
    assert AuditEvent.objects.filter(action="notifications.webhook_disabled").count() == 1


def test_an_admin_deletes_a_webhook(login, alice):
    endpoint = make_endpoint("https://hooks.example.test/a")
    response = login(alice).post(reverse("notifications:webhook_delete", args=[endpoint.pk]))
    assert response.status_code == 302 and not WebhookEndpoint.objects.exists()
    assert AuditEvent.objects.get(action="notifications.webhook_deleted").before["name"] == (
        "ops-bridge"
    )


def test_a_viewer_cannot_delete_a_webhook(login, dave):
    endpoint = make_endpoint("https://hooks.example.test/a")
    response = login(dave).post(reverse("notifications:webhook_delete", args=[endpoint.pk]))
    assert response.status_code == 403
    assert WebhookEndpoint.objects.exists()


def test_changes_need_a_post(login, alice):
    endpoint = make_endpoint("https://hooks.example.test/a")
    url = reverse("notifications:webhook_delete", args=[endpoint.pk])
    assert login(alice).get(url).status_code == 405


def test_send_test_queues_a_delivery_that_reaches_the_receiver(
    login, alice, receiver, django_capture_on_commit_callbacks
):
    endpoint = make_endpoint(receiver.url, events=["system.liveness"])
    make_endpoint("https://other.example.test/", name="other")
    url = reverse("notifications:webhook_test", args=[endpoint.pk])
    with django_capture_on_commit_callbacks() as callbacks:
        login(alice).post(url)
    delivery = Delivery.objects.get()
    assert len(callbacks) == 1 and delivery.endpoint == endpoint
    send_delivery(delivery.pk)
    assert receiver.requests[0].headers["X-Upkeep-Event"] == "notifications.test"


def test_send_test_refuses_a_disabled_webhook(login, alice):
    endpoint = make_endpoint("https://hooks.example.test/a", enabled=False)
    login(alice).post(reverse("notifications:webhook_test", args=[endpoint.pk]))
    assert not Delivery.objects.exists()


def test_a_new_secret_is_shown_once_and_replaces_the_old_one(login, alice):
    endpoint = make_endpoint("https://hooks.example.test/a")
    old = endpoint.secret
    response = login(alice).post(reverse("notifications:webhook_rotate", args=[endpoint.pk]))
    endpoint.refresh_from_db()
    assert endpoint.secret != old
    assert endpoint.secret.encode() in response.content
