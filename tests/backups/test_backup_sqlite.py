import sqlite3
import threading

import pytest

from backups.models import Backup
from tests.backups.conftest import add, backup_now, make_sqlite, restore_now


def rows(path):
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT id, name, blob FROM item ORDER BY id").fetchall()
    finally:
        conn.close()


@pytest.mark.django_db
def test_a_full_backup_completes_with_statistics_and_a_structural_check(sqlite_db):
    source = add("app-db", "sqlite", sqlite_db)
    backup = backup_now(source)
    assert backup.status == Backup.Status.COMPLETE and backup.manifest_sha256
    assert backup.source_bytes == sqlite_db.stat().st_size and backup.new_bytes > 0
    assert backup.structure_verified_at is not None and backup.data_verified_at is None


@pytest.mark.django_db
def test_committed_rows_still_in_the_wal_are_in_the_backup(tmp_path):
    path = make_sqlite(tmp_path / "wal.sqlite3", rows=10)
    holder = sqlite3.connect(path)  # keeps the WAL from being checkpointed on close
    holder.execute("PRAGMA wal_autocheckpoint=0")
    holder.execute("INSERT INTO item (name) VALUES ('only in the wal')")
    holder.commit()
    assert (tmp_path / "wal.sqlite3-wal").stat().st_size > 0
    backup = backup_now(add("wal-db", "sqlite", path))
    restored = tmp_path / "restored.sqlite3"
    restore = restore_now(backup, restored)
    holder.close()
    assert restore.status == "succeeded"
    assert rows(restored)[-1][1] == "only in the wal"


@pytest.mark.django_db(transaction=True)
def test_a_backup_during_wal_writes_holds_a_gap_free_committed_prefix(tmp_path):
    path = make_sqlite(tmp_path / "busy.sqlite3", rows=0)
    stop = threading.Event()

    def writer():
        conn = sqlite3.connect(path, timeout=30)
        n = 0
        while not stop.is_set() and n < 20_000:
            n += 1
            conn.execute("INSERT INTO item (id, name) VALUES (?, ?)", (n, f"row {n}"))
            conn.commit()
        conn.close()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        backup = backup_now(add("busy-db", "sqlite", path))
    finally:
        stop.set()
        thread.join()
    restored = tmp_path / "restored.sqlite3"
    assert restore_now(backup, restored).status == "succeeded"
    ids = [r[0] for r in rows(restored)]
    assert ids == list(range(1, len(ids) + 1))
    assert sqlite3.connect(restored).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


@pytest.mark.django_db
def test_a_missing_database_file_fails_the_backup_with_the_reason(tmp_path):
    backup = backup_now(add("gone", "sqlite", tmp_path / "nope.sqlite3"))
    assert backup.status == Backup.Status.FAILED
    assert "does not exist" in backup.error


@pytest.mark.django_db
def test_an_unchanged_database_stores_nothing_new_the_second_time(sqlite_db):
    source = add("app-db", "sqlite", sqlite_db)
    backup_now(source)
    second = backup_now(source, "incremental")
    assert second.type == "incremental" and second.parent_id is not None
    assert second.new_bytes == 0
