"""Every monitoring page: anonymous → sign-in, no role → 403, any role → 200."""

from __future__ import annotations

import pytest

from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.monitoring.access_matrix import MATRIX


@pytest.fixture
def people(channel, alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, channel, name):
    method, path, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, path)


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, people, name, persona):
    method, path, allowed = MATRIX[name]
    assert_role_access(client, people[persona], method, path, persona in allowed, ok={200})


def test_an_unknown_channel_is_404(login, dave, channel):
    assert login(dave).get("/monitoring/shop/nightly/").status_code == 404
