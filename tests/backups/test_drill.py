import pytest

from backups.restores import run_drill
from tests.backups.conftest import add, backup_now


@pytest.mark.django_db
def test_a_drill_restores_the_newest_backup_and_records_when_it_was_proven(sqlite_db, settings):
    source = add("app-db", "sqlite", sqlite_db)
    backup_now(source)
    restore = run_drill(source.pk)
    source.refresh_from_db()
    assert restore.status == "succeeded" and source.last_drill_ok
    assert source.proven_restorable_at == restore.finished_at
    assert not list((settings.DATA_DIR / "backups" / "drills").iterdir())


@pytest.mark.django_db
def test_a_drill_without_any_backup_fails_and_says_so(sqlite_db):
    source = add("app-db", "sqlite", sqlite_db)
    assert run_drill(source.pk) is None
    source.refresh_from_db()
    assert source.last_drill_ok is False and source.proven_restorable_at is None


@pytest.mark.django_db
def test_a_postgres_drill_drops_its_scratch_database(pg_db, pg_names):
    from tests.backups.conftest import databases_like

    source = add("pg", "postgres", pg_db)
    backup_now(source)
    restore = run_drill(source.pk)
    assert restore.status == "succeeded", restore.error
    assert databases_like(f"upkeep_drill_{source.pk}_") == []
