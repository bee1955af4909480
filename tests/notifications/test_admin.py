import pytest
from django.urls import reverse

from tests.notifications.conftest import announce, make_endpoint

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "model", ["webhookendpoint", "emailpreference", "notification", "delivery"]
)
def test_admins_can_browse_every_notifications_model(login, alice, model):
    make_endpoint("https://hooks.example.test/a")
    announce()
    response = login(alice).get(reverse(f"admin:notifications_{model}_changelist"))
    assert response.status_code == 200


def test_the_admin_never_shows_a_webhook_secret(login, alice):
    endpoint = make_endpoint("https://hooks.example.test/a")
    url = reverse("admin:notifications_webhookendpoint_change", args=[endpoint.pk])
    response = login(alice).get(url)
    assert response.status_code == 200
    assert endpoint.secret.encode() not in response.content
