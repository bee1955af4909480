"""Every releases page, every role: anonymous → sign-in, wrong role → 403, right role → 2xx/3xx."""

import pytest

from releases import rollouts
from tests.releases.access_matrix import MATRIX
from tests.releases.conftest import publish

PERSONAS = ["erin", "dave", "carol", "bob", "alice"]


@pytest.fixture
def objects(app, channel, alice, bob, carol, dave, erin):
    release = publish(app, "1.0.0")
    rollout = rollouts.start(channel, release, user=alice)
    return {
        "erin": erin,
        "dave": dave,
        "carol": carol,
        "bob": bob,
        "alice": alice,
        "paths": {"rollout": rollout.pk},
    }


def _path(objects, template: str) -> str:
    return template.format(**objects["paths"])


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name):
    method, path, _ = MATRIX[name]
    response = getattr(client, method.lower())(_path(objects, path))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, name, persona):
    method, path, allowed = MATRIX[name]
    client.force_login(objects[persona])
    response = getattr(client, method.lower())(_path(objects, path))
    if persona in allowed:
        expected = {200} if method == "GET" else {200, 302, 400, 409}
        assert response.status_code in expected, response.status_code
    else:
        assert response.status_code == 403
