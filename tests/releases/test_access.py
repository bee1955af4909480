"""Every releases page, every role: anonymous → sign-in, wrong role → 403, right role → 2xx/3xx."""

import pytest

from releases import rollouts
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.releases.access_matrix import MATRIX
from tests.releases.conftest import publish


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
    method, template, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, _path(objects, template))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, name, persona):
    method, template, allowed = MATRIX[name]
    assert_role_access(
        client, objects[persona], method, _path(objects, template), persona in allowed
    )
