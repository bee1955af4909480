"""Every monitoring page: anonymous → sign-in, no role → 403, any role → 200."""

from __future__ import annotations

import pytest

from tests.monitoring.access_matrix import MATRIX

PERSONAS = ["erin", "dave", "carol", "bob", "alice"]


@pytest.fixture
def people(channel, alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, channel, name):
    method, path, _ = MATRIX[name]
    response = getattr(client, method.lower())(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, people, name, persona):
    method, path, allowed = MATRIX[name]
    client.force_login(people[persona])
    response = getattr(client, method.lower())(path)
    assert response.status_code == (200 if persona in allowed else 403)


def test_an_unknown_channel_is_404(login, dave, channel):
    assert login(dave).get("/monitoring/shop/nightly/").status_code == 404
