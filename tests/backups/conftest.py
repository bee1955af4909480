"""Fixtures for the backups tests: a data folder per test, real SQLite files, real directories
and real PostgreSQL scratch databases (created with unique names, dropped afterwards)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import uuid

import pytest

from backups.crypto import ENV_KEY, new_key_text

PG_ADMIN = os.environ.get("UPKEEP_TEST_PG", "postgres://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _data_dir(settings, tmp_path, monkeypatch):
    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    monkeypatch.delenv(ENV_KEY, raising=False)


@pytest.fixture
def backup_key(monkeypatch):
    key = new_key_text()
    monkeypatch.setenv(ENV_KEY, key)
    return key


def make_sqlite(path, rows: int = 200, wal: bool = True):
    conn = sqlite3.connect(path)
    if wal:
        conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS item (id INTEGER PRIMARY KEY, name TEXT, blob BLOB)")
    conn.executemany(
        "INSERT INTO item (name, blob) VALUES (?, ?)",
        [(f"item {i}", os.urandom(64)) for i in range(rows)],
    )
    conn.commit()
    conn.close()
    return path


@pytest.fixture
def sqlite_db(tmp_path):
    return make_sqlite(tmp_path / "app.sqlite3")


def make_tree(root, files: int = 6, size: int = 20_000):
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub" / "deeper").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        folder = root if i % 2 else root / "sub"
        (folder / f"file{i}.bin").write_bytes(os.urandom(size))
    (root / "sub" / "deeper" / "notes.txt").write_text("hello\n" * 100)
    (root / "link").symlink_to("sub/deeper/notes.txt")
    return root


@pytest.fixture
def tree(tmp_path):
    return make_tree(tmp_path / "tree")


def psql(dsn: str, sql: str) -> str:
    out = subprocess.run(
        ["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", "--dbname", dsn, "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout


def databases_like(prefix: str) -> list[str]:
    import psycopg

    with psycopg.connect(PG_ADMIN) as conn:
        rows = conn.execute(
            "SELECT datname FROM pg_database WHERE starts_with(datname, %s)", (prefix,)
        ).fetchall()
    return [r[0] for r in rows]


def pg_dsn(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


@pytest.fixture
def pg_names():
    """Unique database names for this test; every database starting with them is dropped."""
    prefix = f"upk_bk_{uuid.uuid4().hex[:10]}"
    yield prefix
    for name in databases_like(prefix):
        psql(PG_ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_db(pg_names):
    name = f"{pg_names}_src"
    psql(PG_ADMIN, f'CREATE DATABASE "{name}"')
    dsn = pg_dsn(name)
    psql(
        dsn,
        "CREATE TABLE account (id serial PRIMARY KEY, owner text NOT NULL, "
        "balance numeric NOT NULL DEFAULT 0); "
        "CREATE TABLE entry (id serial PRIMARY KEY, account_id int REFERENCES account, "
        "amount numeric, note text); "
        "INSERT INTO account (owner, balance) SELECT 'owner ' || g, g FROM "
        "generate_series(1, 200) g; "
        "INSERT INTO entry (account_id, amount, note) SELECT 1 + g % 200, g, "
        "repeat('x', g % 50) FROM generate_series(1, 1000) g;",
    )
    return dsn


def read_tree(root) -> dict:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir",)
            else:
                with open(path, "rb") as fh:
                    out[rel] = ("file", fh.read())
    return out


def add(name: str, kind: str, location, **extra):
    from backups.registry import add_source

    return add_source(name=name, kind=kind, location=str(location), **extra)


def backup_now(source, backup_type: str = "full", *, hook=None, now=None):
    from backups.jobs import request_backup, run_backup

    backup = request_backup(source, backup_type=backup_type, enqueue=False)
    return run_backup(backup.pk, hook=hook, now=now)


def restore_now(backup, target="", *, fail_at=None, hook=None, user=None):
    from backups.restores import request_restore, run_restore

    restore = request_restore(backup, target=str(target), user=user, enqueue=False)
    return run_restore(restore.pk, fail_at=fail_at, hook=hook)
