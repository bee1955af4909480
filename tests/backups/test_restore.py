"""Restores with a safety net: failures at 10%, 50% and 99% leave the target as it was."""

import sqlite3

import pytest

from audit import approvals
from backups.models import Backup, Restore
from tests.backups.conftest import add, backup_now, databases_like, psql, read_tree, restore_now


def sqlite_bytes(path):
    return path.read_bytes()


@pytest.mark.django_db
@pytest.mark.parametrize("fail_at", [0.10, 0.50, 0.99])
def test_a_failed_sqlite_restore_leaves_the_target_byte_identical(sqlite_db, fail_at):
    source = add("app-db", "sqlite", sqlite_db)
    backup = backup_now(source)
    conn = sqlite3.connect(sqlite_db)
    conn.execute("DELETE FROM item WHERE id > 100")
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    before = sqlite_bytes(sqlite_db)
    restore = restore_now(backup, fail_at=fail_at)
    assert restore.status == Restore.Status.ROLLED_BACK
    assert sqlite_bytes(sqlite_db) == before
    assert restore.pre_restore_backup.status == Backup.Status.COMPLETE


@pytest.mark.django_db
@pytest.mark.parametrize("fail_at", [0.10, 0.50, 0.99])
def test_a_failed_directory_restore_leaves_the_tree_identical(tree, fail_at):
    source = add("site", "directory", tree)
    backup = backup_now(source)
    (tree / "file1.bin").write_bytes(b"changed since the backup")
    before = read_tree(tree)
    restore = restore_now(backup, fail_at=fail_at)
    assert restore.status == Restore.Status.ROLLED_BACK and read_tree(tree) == before
    assert restore.pre_restore_backup is not None
    assert not list(tree.parent.glob(".tree.restore-*"))


@pytest.mark.django_db
@pytest.mark.parametrize("fail_at", [0.10, 0.50, 0.99])
def test_a_failed_postgres_restore_leaves_the_database_row_identical(pg_db, pg_names, fail_at):
    source = add("pg", "postgres", pg_db)
    backup = backup_now(source)
    psql(pg_db, "DELETE FROM entry WHERE id > 500")
    before = psql(pg_db, "SELECT id, amount, note FROM entry ORDER BY id")
    restore = restore_now(backup, fail_at=fail_at)
    assert restore.status == Restore.Status.ROLLED_BACK
    assert psql(pg_db, "SELECT id, amount, note FROM entry ORDER BY id") == before
    assert databases_like(f"{pg_names}_src_restore") == []


@pytest.mark.django_db
def test_a_restore_onto_the_source_swaps_in_the_backup_after_a_pre_restore_backup(sqlite_db):
    source = add("app-db", "sqlite", sqlite_db)
    backup = backup_now(source)
    conn = sqlite3.connect(sqlite_db)
    conn.execute("DELETE FROM item")
    conn.commit()
    conn.close()
    restore = restore_now(backup)
    assert restore.status == Restore.Status.SUCCEEDED, restore.error
    assert sqlite3.connect(sqlite_db).execute("SELECT count(*) FROM item").fetchone()[0] == 200
    assert restore.pre_restore_backup.structure_verified_at is not None


@pytest.mark.django_db
def test_a_postgres_restore_onto_the_source_swaps_databases(pg_db, pg_names):
    source = add("pg", "postgres", pg_db)
    backup = backup_now(source)
    psql(pg_db, "TRUNCATE entry")
    restore = restore_now(backup)
    assert restore.status == Restore.Status.SUCCEEDED, restore.error
    assert psql(pg_db, "SELECT count(*) FROM entry").strip() == "1000"


@pytest.mark.django_db
def test_a_restore_into_a_new_directory_needs_no_pre_restore_backup(tree, tmp_path):
    backup = backup_now(add("site", "directory", tree))
    restore = restore_now(backup, tmp_path / "fresh" / "copy")
    assert restore.status == Restore.Status.SUCCEEDED
    assert restore.pre_restore_backup is None


@pytest.mark.django_db
def test_a_production_restore_waits_for_a_second_persons_approval(sqlite_db, carol, alice):
    source = add("app-db", "sqlite", sqlite_db, production=True)
    backup = backup_now(source)
    from backups.restores import request_restore

    restore = request_restore(backup, user=carol, enqueue=False)
    assert restore.status == Restore.Status.AWAITING_APPROVAL
    cr = restore.change_request
    with pytest.raises(approvals.SelfApprovalError):
        approvals.approve(cr.pk, carol, version=cr.version)
    approvals.approve(cr.pk, alice, version=cr.version)
    approvals.apply(cr.pk, alice)
    restore.refresh_from_db()
    assert restore.status == Restore.Status.QUEUED


@pytest.mark.django_db
def test_a_denied_production_restore_is_closed_as_denied(sqlite_db, carol, alice):
    from backups.restores import request_restore

    backup = backup_now(add("app-db", "sqlite", sqlite_db, production=True))
    restore = request_restore(backup, user=carol, enqueue=False)
    approvals.deny(restore.change_request.pk, alice, version=1, comment="wrong backup")
    restore.refresh_from_db()
    assert restore.status == Restore.Status.DENIED


@pytest.mark.django_db
def test_an_expired_production_restore_request_is_closed_too(sqlite_db, carol):
    from datetime import timedelta

    from django.utils import timezone

    from backups.restores import request_restore

    backup = backup_now(add("app-db", "sqlite", sqlite_db, production=True))
    restore = request_restore(backup, user=carol, enqueue=False)
    approvals.expire_overdue(timezone.now() + timedelta(days=30))
    restore.refresh_from_db()
    assert restore.status == Restore.Status.DENIED


@pytest.mark.django_db
def test_a_restore_to_another_path_of_a_production_source_needs_no_approval(sqlite_db, tmp_path):
    backup = backup_now(add("app-db", "sqlite", sqlite_db, production=True))
    restore = restore_now(backup, tmp_path / "copy.sqlite3")
    assert restore.status == Restore.Status.SUCCEEDED


@pytest.mark.django_db
def test_the_console_database_cannot_be_replaced_from_inside_the_console(settings):
    from backups.registry import ensure_console_source
    from backups.restores import RestoreRefused, request_restore

    backup = backup_now(ensure_console_source())
    assert backup.status == "complete", backup.error
    with pytest.raises(RestoreRefused, match="cannot be replaced"):
        request_restore(backup, enqueue=False)


@pytest.mark.django_db
def test_a_production_restore_without_a_named_requester_is_refused(sqlite_db):
    from backups.restores import RestoreRefused, request_restore

    backup = backup_now(add("app-db", "sqlite", sqlite_db, production=True))
    with pytest.raises(RestoreRefused, match="named requester"):
        request_restore(backup, enqueue=False)
    assert not Restore.objects.exists()


@pytest.mark.django_db
def test_a_directory_restore_onto_the_source_swaps_the_whole_tree_atomically(tree):
    source = add("site", "directory", tree)
    backup = backup_now(source)
    at_backup = read_tree(tree)
    (tree / "file1.bin").unlink()
    (tree / "added.txt").write_text("new since the backup")
    restore = restore_now(backup)
    assert restore.status == Restore.Status.SUCCEEDED, restore.error
    assert read_tree(tree) == at_backup
    assert not list(tree.parent.glob(".tree.restore-*"))
