"""Two scans reconciling the same vulnerability at once, against the real database (SQLite
serialises the writers at BEGIN IMMEDIATE; PostgreSQL lets both run and the unique constraint
plus the row lock decide)."""

import threading

import pytest
from django.db import connection

from audit.models import AuditEvent
from releases.models import App
from security import findings, scanning
from security.models import Finding
from tests.security.conftest import advisory, load_osv, lock_v3, publish


@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_open_one_finding_once():
    app = App.objects.create(slug="shop", name="Shop")
    load_osv(advisory("GHSA-1", "lodash", ecosystem="npm", severity="LOW"))
    releases = [
        publish(app, f"1.0.{n}", {"package-lock.json": lock_v3({"lodash": "1.0.0"})})
        for n in range(4)
    ]
    results = [scanning.scan_release(r) for r in releases]
    barrier = threading.Barrier(len(results))
    errors = []

    def go(result):
        try:
            barrier.wait()
            findings.reconcile([result], closes=True)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(r,)) for r in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Finding.objects.count() == 1
    assert AuditEvent.objects.filter(action="security.finding_opened").count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_acknowledgements_change_the_state_once():
    from accounts.roles import OPERATOR
    from tests.conftest import make_user

    app = App.objects.create(slug="shop", name="Shop")
    load_osv(advisory("GHSA-1", "lodash", ecosystem="npm"))
    result = scanning.scan_release(
        publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "1.0.0"})})
    )
    findings.reconcile([result], closes=True)
    users = [make_user(f"op{n}", OPERATOR) for n in range(4)]
    barrier = threading.Barrier(len(users))
    outcomes = []

    def go(user):
        try:
            barrier.wait()
            findings.acknowledge(Finding.objects.get(), user, note=f"mine ({user})")
            outcomes.append("ok")
        except findings.FindingError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=go, args=(u,)) for u in users]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["refused"] * 3
    assert AuditEvent.objects.filter(action="security.finding_acknowledged").count() == 1
