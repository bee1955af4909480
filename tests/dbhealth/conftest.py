"""Real tables with real indexes, and the vendor selection for PostgreSQL-only tests.

Tests marked ``postgresql`` exercise PostgreSQL catalogs and ``CONCURRENTLY`` statements on the
console's own database: they are deselected (not skipped) when the suite runs on SQLite, and
those marked ``sqlite`` (VACUUM and optimize of the console's own file) on PostgreSQL. The
SQLite-file tests run on both, because their target is a real SQLite file registered as a
backup source.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.utils import timezone

ON_POSTGRES = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
TABLES = ("dbh_child", "dbh_parent", "dbh_log", "dbh_bloat")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "postgresql: needs PostgreSQL as the console database (deselected on SQLite)"
    )
    config.addinivalue_line(
        "markers", "sqlite: needs SQLite as the console database (deselected on PostgreSQL)"
    )


def pytest_collection_modifyitems(config, items):
    other = "sqlite" if ON_POSTGRES else "postgresql"
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker(other) else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def sql(*statements: str) -> None:
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def flush_stats() -> None:
    """Make this session's pending statistics visible to the next query (PostgreSQL 15+)."""
    sql("SELECT pg_stat_force_next_flush()")
    sql("SELECT pg_stat_clear_snapshot()")


@pytest.fixture
def pg_schema(transactional_db):
    """Tables and indexes for every verdict, committed (``CONCURRENTLY`` needs that):

    dbh_child_a (never scanned) · dbh_child_a_again (same as _a) · dbh_child_b (prefix of
    dbh_child_b_c) · dbh_child_b_c (scanned) · dbh_child_parent (backs the foreign key) ·
    dbh_child_id_a (unique) · dbh_parent_code (tiny) · dbh_child_email (invalid: a unique
    index built concurrently over duplicate e-mails).
    """
    # A run that was killed half-way may have left them behind.
    sql(*(f"DROP TABLE IF EXISTS {name} CASCADE" for name in TABLES))
    sql(
        "CREATE TABLE dbh_parent (id bigserial PRIMARY KEY, code text)",
        "CREATE TABLE dbh_child (id bigserial PRIMARY KEY,"
        " parent_id bigint REFERENCES dbh_parent (id), a int, b int, c int, email text)"
        " WITH (autovacuum_enabled = false)",
        "INSERT INTO dbh_parent (code) SELECT 'p' || g FROM generate_series(1, 100) g",
        "INSERT INTO dbh_child (parent_id, a, b, c, email) SELECT (g % 100) + 1, g, g % 20000,"
        " g % 7, 'u' || (g % 50000) || '@example.test' FROM generate_series(1, 60000) g",
        "CREATE INDEX dbh_child_parent ON dbh_child (parent_id)",
        "CREATE INDEX dbh_child_a ON dbh_child (a)",
        "CREATE INDEX dbh_child_a_again ON dbh_child (a)",
        "CREATE INDEX dbh_child_b ON dbh_child (b)",
        "CREATE INDEX dbh_child_b_c ON dbh_child (b, c)",
        "CREATE UNIQUE INDEX dbh_child_id_a ON dbh_child (id, a)",
        "CREATE INDEX dbh_parent_code ON dbh_parent (code)",
    )
    from django.db import IntegrityError

    with pytest.raises(IntegrityError):
        sql("CREATE UNIQUE INDEX CONCURRENTLY dbh_child_email ON dbh_child (email)")
    sql("ANALYZE dbh_parent", "ANALYZE dbh_child")
    yield
    sql(*(f"DROP TABLE IF EXISTS {name} CASCADE" for name in TABLES))


def use_index(statement: str, times: int = 1) -> None:
    sql("SET enable_seqscan = off")
    try:
        for _ in range(times):
            sql(statement)
    finally:
        sql("RESET enable_seqscan")
    flush_stats()


def eight_days_ago():
    return timezone.now() - timedelta(days=8)


def by_name(report) -> dict[str, dict]:
    return {i["name"]: i for i in report.findings.get("indexes", [])}


@pytest.fixture
def sqlite_file(tmp_path):
    """A real SQLite file with a duplicate and a prefix-redundant index and deleted rows."""
    path = tmp_path / "app.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE item (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, shelf INT, bin INT,
                           note TEXT);
        CREATE INDEX item_shelf ON item (shelf);
        CREATE INDEX item_shelf_bin ON item (shelf, bin);
        CREATE INDEX item_bin ON item (bin);
        CREATE INDEX item_bin_again ON item (bin);
        CREATE INDEX item_sku_plain ON item (sku);
        """
    )
    db.executemany(
        "INSERT INTO item (sku, shelf, bin, note) VALUES (?, ?, ?, ?)",
        [(f"s{i}", i % 40, i % 9, "x" * 200) for i in range(5000)],
    )
    db.commit()
    db.execute("DELETE FROM item WHERE id > 2500")
    db.commit()
    db.close()
    return path


@pytest.fixture
def sqlite_source(db, sqlite_file):
    from backups.registry import add_source

    return add_source(name="shopdb", kind="sqlite", location=str(sqlite_file))
