from datetime import timedelta

import pytest
from django.utils import timezone

from backups.jobs import schedule_due
from backups.models import Backup
from notifications.models import Notification
from tests.backups.conftest import add, backup_now


@pytest.mark.django_db
def test_a_due_schedule_queues_one_backup_and_moves_the_next_run(sqlite_db):
    now = timezone.now()
    source = add(
        "app-db",
        "sqlite",
        sqlite_db,
        schedule_hours=6,
        schedule_type="incremental",
        next_run_at=now - timedelta(minutes=1),
    )
    assert schedule_due(now=now) == 1
    assert schedule_due(now=now) == 0
    source.refresh_from_db()
    assert source.next_run_at == now + timedelta(hours=6)
    assert Backup.objects.get().trigger == "schedule"


@pytest.mark.django_db
def test_a_due_drill_schedule_is_claimed_once(sqlite_db):
    now = timezone.now()
    source = add(
        "app-db", "sqlite", sqlite_db, drill_hours=24, next_drill_at=now - timedelta(minutes=1)
    )
    assert schedule_due(now=now) == 1
    assert schedule_due(now=now) == 0
    source.refresh_from_db()
    assert source.next_drill_at == now + timedelta(hours=24)


@pytest.mark.django_db
def test_a_failed_backup_sends_a_notification_with_a_link(tmp_path):
    backup = backup_now(add("gone", "sqlite", tmp_path / "missing.sqlite3"))
    note = Notification.objects.get(event="backups.failed")
    assert "gone" in note.subject and note.link == f"/backups/backups/{backup.pk}/"
