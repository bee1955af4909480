from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import database_from_url, envbool, envint, envlist


def test_envbool_reads_the_usual_spellings(monkeypatch):
    monkeypatch.setenv("FLAG", "Yes")
    assert envbool("FLAG", False) is True
    monkeypatch.setenv("FLAG", "0")
    assert envbool("FLAG", True) is False


def test_envbool_refuses_a_typo(monkeypatch):
    monkeypatch.setenv("FLAG", "ture")
    with pytest.raises(ImproperlyConfigured, match="FLAG"):
        envbool("FLAG", False)


def test_envint_refuses_words_and_values_below_the_minimum(monkeypatch):
    monkeypatch.setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured):
        envint("N", 1)
    monkeypatch.setenv("N", "0")
    with pytest.raises(ImproperlyConfigured, match="minimum"):
        envint("N", 1, minimum=1)


def test_envlist_splits_and_trims(monkeypatch):
    monkeypatch.setenv("HOSTS", " a.example, b.example ,")
    assert envlist("HOSTS", []) == ["a.example", "b.example"]


def test_sqlite_urls_are_relative_to_the_project_and_tuned_for_writers():
    db = database_from_url("sqlite:///var/x.sqlite3", base_dir=Path("/srv/upkeep"))
    assert db["NAME"] == "/srv/upkeep/var/x.sqlite3"
    assert db["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    assert "journal_mode=WAL" in db["OPTIONS"]["init_command"]


def test_sqlite_urls_may_be_absolute():
    db = database_from_url("sqlite:////tmp/y.sqlite3", base_dir=Path("/srv"))
    assert db["NAME"] == "/tmp/y.sqlite3"


def test_postgres_urls_become_psycopg_settings():
    db = database_from_url(
        "postgres://u:p%40ss@db.internal:6432/upkeep?sslmode=require", base_dir=Path("/")
    )
    assert (db["USER"], db["PASSWORD"], db["HOST"], db["PORT"], db["NAME"]) == (
        "u",
        "p@ss",
        "db.internal",
        "6432",
        "upkeep",
    )
    assert db["OPTIONS"] == {"sslmode": "require"}


def test_an_unknown_scheme_is_refused():
    with pytest.raises(ImproperlyConfigured, match="mysql"):
        database_from_url("mysql://x/y", base_dir=Path("/"))


def test_a_sqlite_connection_really_runs_in_wal_mode_with_immediate_writes(
    tmp_path, django_db_blocker
):
    from django.db.utils import ConnectionHandler

    handler = ConnectionHandler(
        {"default": database_from_url(f"sqlite:///{tmp_path}/wal.sqlite3", base_dir=tmp_path)}
    )
    connection = handler["default"]
    with django_db_blocker.unblock():
        try:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA journal_mode")
                assert cursor.fetchone()[0] == "wal"
            assert connection.transaction_mode == "IMMEDIATE"
        finally:
            connection.close()
