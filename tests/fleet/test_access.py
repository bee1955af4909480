"""Every fleet page: anonymous → sign-in, wrong role → 403, right role → 2xx/3xx."""

from __future__ import annotations

import pytest

from fleet import deployments
from fleet.models import Host
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.fleet.access_matrix import MATRIX
from tests.fleet.conftest import closed_port_url, make_fleet


@pytest.fixture
def objects(app, channel, v1):
    fleet = make_fleet(app, channel, host_timeout=1)
    host = Host.objects.create(fleet=fleet, name="h1", agent_url=closed_port_url().rstrip("/"))
    deployment = deployments.start(fleet, v1, user=None)
    return {"host": host.pk, "deployment": deployment.pk}


@pytest.fixture
def people(alice, bob, carol, dave, erin):
    return {"alice": alice, "bob": bob, "carol": carol, "dave": dave, "erin": erin}


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_visitors_are_sent_to_sign_in(client, objects, name):
    method, path, _ = MATRIX[name]
    assert_sent_to_sign_in(client, method, path.format(**objects))


@pytest.mark.parametrize("name", sorted(MATRIX))
@pytest.mark.parametrize("persona", PERSONAS)
def test_each_role_gets_what_it_may_and_403_otherwise(client, objects, people, name, persona):
    method, path, allowed = MATRIX[name]
    assert_role_access(client, people[persona], method, path.format(**objects), persona in allowed)


def test_an_unknown_fleet_is_404(login, dave, db):
    assert login(dave).get("/fleet/nowhere/").status_code == 404
