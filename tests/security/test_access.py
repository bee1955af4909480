"""Every security page: anonymous → sign-in, wrong role → 403, right role → 200 (or a refusal
on business rules, never 403)."""

from __future__ import annotations

import pytest

from security import scanning
from security.findings import reconcile
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.security.access_matrix import MATRIX
from tests.security.conftest import advisory, load_osv, lock_v3, publish


@pytest.fixture
def objects(app):
    load_osv(advisory("GHSA-1", "lodash", ecosystem="npm"))
    result = scanning.scan_release(
        publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "1.0.0"})})
    )
    reconcile([result], closes=True)
    from security.models import Finding

    return {"finding": Finding.objects.get().pk, "scan": result.scan.pk}


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


def test_an_unknown_finding_or_scan_is_404(login, dave, objects):
    client = login(dave)
    assert client.get("/security/findings/999999/").status_code == 404
    assert client.get("/security/scans/999999/").status_code == 404
