"""Every performance page: anonymous → sign-in, no role or wrong role → 403, allowed → 2xx/3xx."""

from __future__ import annotations

import pytest

from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.performance.access_matrix import MATRIX


@pytest.fixture
def people(release, alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, release, name):
    method, path, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, path)


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, people, name, persona):
    method, path, allowed = MATRIX[name]
    assert_role_access(client, people[persona], method, path, persona in allowed)


def test_an_unknown_channel_or_version_is_404(login, dave, release):
    client = login(dave)
    assert client.get("/performance/shop/nightly/").status_code == 404
    assert client.get("/performance/shop/production/v/9.9.9/").status_code == 404


def test_actions_refuse_get(login, bob, release):
    assert login(bob).get("/performance/shop/production/v/1.0.0/baseline/").status_code == 405
