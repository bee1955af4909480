"""Every security page: anonymous → sign-in, wrong role → 403, right role → 200 (or a refusal
on business rules, never 403)."""

from __future__ import annotations

import pytest

from security import scanning
from security.findings import reconcile
from tests.access import PERSONAS, assert_role_access, assert_sent_to_sign_in
from tests.backups.conftest import add, make_tree
from tests.security.access_matrix import MATRIX
from tests.security.conftest import advisory, load_osv, lock_v3, publish
from tests.security.patch_support import prepare


@pytest.fixture
def objects(app, channel, alice, data_dir, tmp_path):
    load_osv(advisory("GHSA-1", "lodash", ecosystem="npm"))
    result = scanning.scan_release(
        publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "1.0.0"})})
    )
    reconcile([result], closes=True)
    from security.models import Finding

    finding = Finding.objects.get()
    source = add("shop-files", "directory", make_tree(tmp_path / "files"), app=app)
    patch = prepare(app, channel, finding, alice, [source], [])
    return {"finding": finding.pk, "scan": result.scan.pk, "patch": patch.pk, "app": app.slug}


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


def test_an_unknown_finding_scan_patch_or_app_is_404(login, dave, bob, objects):
    client = login(dave)
    assert client.get("/security/findings/999999/").status_code == 404
    assert client.get("/security/scans/999999/").status_code == 404
    assert client.get("/security/patches/999999/").status_code == 404
    client = login(bob)
    assert client.get("/security/patches/new/no-such-app/").status_code == 404
