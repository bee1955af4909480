"""The console's own SQLite database: VACUUM and optimize through Django's connection."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from backups.models import Lease
from backups.registry import ensure_console_source
from dbhealth import actions, analysis
from dbhealth.models import Action
from dbhealth.targets import console_target
from notifications.models import Notification

pytestmark = [pytest.mark.sqlite, pytest.mark.django_db(transaction=True)]


def _churn(rows: int = 3000) -> None:
    Notification.objects.bulk_create(
        Notification(event="x.y", subject="s", body="b" * 500, dedup_key=f"k{i}")
        for i in range(rows)
    )
    Notification.objects.all().delete()


def test_vacuum_of_the_console_database_returns_its_free_pages(carol):
    _churn()
    before = analysis.analyse(console_target()).findings["space"]["freelist_count"]
    action = actions.execute(actions.request(console_target(), "vacuum", carol).pk)
    assert before > 50 and action.status == Action.Status.SUCCEEDED, action.detail
    assert analysis.analyse(console_target()).findings["space"]["freelist_count"] == 0


def test_vacuum_of_the_console_database_waits_for_its_backup(carol):
    source = ensure_console_source()
    Lease.objects.create(
        source=source, token=3, holder="backup #9", expires_at=timezone.now() + timedelta(minutes=1)
    )
    action = actions.execute(actions.request(console_target(), "vacuum", carol).pk)
    assert action.status == Action.Status.FAILED and "holds this source's lease" in action.detail


def test_optimize_of_the_console_database_runs(carol):
    action = actions.execute(actions.request(console_target(), "optimize", carol).pk)
    assert action.status == Action.Status.SUCCEEDED and action.detail == "PRAGMA optimize done"
