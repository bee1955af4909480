"""PostgreSQL passwords reach pg_dump and psql through the environment, never the argv."""

import pytest

from backups import sources
from tests.backups.conftest import PG_ADMIN


@pytest.mark.parametrize(
    "dsn",
    [
        "postgres://app:s3cr%40t@db.example:5433/shop",
        "postgres://app@db.example/shop?password=s3cr%40t&sslmode=require",
    ],
)
def test_the_command_line_of_a_postgres_client_carries_no_password(dsn):
    argv, env = sources.pg_command("pg_dump", dsn, ("--format=plain",))
    assert not any("s3cr" in arg for arg in argv)
    assert env["PGPASSWORD"] == "s3cr@t"


def test_the_command_line_still_names_user_host_port_and_database():
    argv, _ = sources.pg_command("psql", "postgres://app:pw@db.example:5433/shop", (), ("-c", "x"))
    assert "postgres://app@db.example:5433/shop" in argv
    assert argv[-2:] == ["-c", "x"]


def test_a_dsn_without_password_leaves_any_inherited_pgpassword_out(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "from-the-worker")
    _, env = sources.pg_command("psql", "postgres://app@db.example/shop")
    assert "PGPASSWORD" not in env


def test_psql_with_a_password_in_the_dsn_still_connects():
    dsn = PG_ADMIN.replace("postgres@", "postgres:unused-on-trust@", 1)
    assert sources.psql(dsn, "SELECT 41 + 1").strip() == "42"
