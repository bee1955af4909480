"""Every flags page: anonymous → sign-in, no role or the wrong role → 403, the right role → 2xx/3xx
(or a business refusal: 400/409)."""

from __future__ import annotations

import pytest

from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.flags.access_matrix import MATRIX


@pytest.fixture
def people(flag, alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, flag, name):
    method, path, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, path.format(flag=flag.pk))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, flag, people, name, persona):
    method, path, allowed = MATRIX[name]
    assert_role_access(
        client, people[persona], method, path.format(flag=flag.pk), persona in allowed
    )


def test_an_unknown_flag_is_404(login, dave, flag):
    assert login(dave).get(f"/flags/{flag.pk + 1000}/").status_code == 404
