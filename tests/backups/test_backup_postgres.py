import subprocess
import threading

import pytest

from backups.models import Backup
from tests.backups.conftest import add, backup_now, pg_dsn, psql, restore_now


def dump(dsn):
    """pg_dump's output without the \\restrict lines, whose key is random on every run."""
    out = subprocess.run(
        ["pg_dump", "--no-password", "--dbname", dsn], capture_output=True, check=True
    ).stdout
    return [
        line for line in out.splitlines() if not line.startswith((b"\\restrict", b"\\unrestrict"))
    ]


@pytest.mark.django_db
def test_a_postgres_backup_restored_into_a_new_database_dumps_identically(pg_db, pg_names):
    source = add("pg", "postgres", pg_db)
    backup = backup_now(source)
    assert backup.status == Backup.Status.COMPLETE, backup.error
    restore = restore_now(backup, f"{pg_names}_copy")
    assert restore.status == "succeeded", restore.error
    assert dump(pg_dsn(f"{pg_names}_copy")) == dump(pg_db)


@pytest.mark.django_db
def test_the_dsn_is_stored_sealed_and_shown_without_its_password(pg_names):
    source = add("pg", "postgres", f"postgres://postgres:hunter2@127.0.0.1:5432/{pg_names}")
    assert "hunter2" not in source.location and "***" in source.location
    assert b"hunter2" not in bytes(source.dsn_sealed)


@pytest.mark.django_db
def test_a_pg_dump_that_fails_fails_the_backup_with_its_stderr(pg_names):
    backup = backup_now(add("pg", "postgres", pg_dsn(f"{pg_names}_missing")))
    assert backup.status == Backup.Status.FAILED
    assert "pg_dump" in backup.error and "does not exist" in backup.error


@pytest.mark.django_db(transaction=True)
def test_a_backup_during_concurrent_writes_holds_whole_transactions(pg_db, pg_names):
    stop = threading.Event()

    def writer():
        import psycopg

        with psycopg.connect(pg_db, autocommit=False) as conn:
            n = 0
            while not stop.is_set() and n < 2000:
                n += 1
                # Each transaction moves money between two accounts: the total never changes.
                conn.execute(
                    "UPDATE account SET balance = balance - 1 WHERE id = %s", (1 + n % 200,)
                )
                conn.execute(
                    "UPDATE account SET balance = balance + 1 WHERE id = %s", (1 + (n * 7) % 200,)
                )
                conn.execute("INSERT INTO entry (account_id, amount, note) VALUES (1, 1, 'w')")
                conn.commit()

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        backup = backup_now(add("pg", "postgres", pg_db))
    finally:
        stop.set()
        for t in threads:
            t.join()
    restore = restore_now(backup, f"{pg_names}_copy")
    assert restore.status == "succeeded", restore.error
    total = psql(pg_dsn(f"{pg_names}_copy"), "SELECT sum(balance) FROM account").strip()
    assert total == str(sum(range(1, 201)))
