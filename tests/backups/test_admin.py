import pytest

from tests.backups.conftest import add, backup_now


@pytest.mark.django_db
def test_the_admin_lists_backups_and_never_shows_a_sealed_dsn(login, alice, sqlite_db):
    backup_now(add("app-db", "sqlite", sqlite_db))
    pg = add("pg", "postgres", "postgres://u:hunter2@127.0.0.1:5432/app")
    client = login(alice)
    assert client.get("/admin/backups/backup/").status_code == 200
    page = client.get(f"/admin/backups/source/{pg.pk}/change/")
    assert page.status_code == 200 and b"hunter2" not in page.content


@pytest.mark.django_db
def test_a_retention_change_in_the_admin_is_audited(login, alice, sqlite_db):
    from audit.models import AuditEvent

    source = add("app-db", "sqlite", sqlite_db)
    form = {
        "keep_last": 9,
        "keep_hourly": 0,
        "keep_daily": 7,
        "keep_weekly": 4,
        "keep_monthly": 6,
        "keep_yearly": 0,
        "min_backups": 1,
        "retention_tz": "UTC",
        "schedule_type": "incremental",
        "name": "app-db",
        "repository": "",
    }
    response = login(alice).post(f"/admin/backups/source/{source.pk}/change/", form)
    source.refresh_from_db()
    assert response.status_code == 302 and source.keep_last == 9
    event = AuditEvent.objects.filter(action="backups.source.changed").get()
    assert event.before == {"keep_last": 3} and event.after == {"keep_last": 9}
