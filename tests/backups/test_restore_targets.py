"""Restore targets are compared by where they lead, not by how they are spelled."""

import os

import pytest

from backups.models import Restore
from tests.backups.conftest import add, backup_now, make_sqlite


def spellings(path):
    folder, name = os.path.split(str(path))
    return [
        f"{folder}/./{name}",
        f"{folder}//{name}",
        f"/{folder}/sub/../{name}",
        f"{folder}/link/{name}",
    ]


@pytest.fixture
def spelled(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "link").symlink_to(tmp_path)
    return spellings


@pytest.mark.django_db
@pytest.mark.parametrize("way", range(4))
def test_another_spelling_of_a_production_source_still_needs_approval(
    sqlite_db, spelled, carol, way
):
    from backups.restores import request_restore

    backup = backup_now(add("app-db", "sqlite", sqlite_db, production=True))
    restore = request_restore(backup, target=spelled(sqlite_db)[way], user=carol, enqueue=False)
    assert restore.status == Restore.Status.AWAITING_APPROVAL
    assert restore.target_is_source


@pytest.mark.django_db
@pytest.mark.parametrize("way", range(4))
def test_another_spelling_of_a_different_source_is_refused(sqlite_db, tmp_path, spelled, way):
    from backups.restores import RestoreRefused, request_restore

    other = make_sqlite(tmp_path / "other.sqlite3")
    add("other-db", "sqlite", other, production=True)
    backup = backup_now(add("app-db", "sqlite", sqlite_db))
    with pytest.raises(RestoreRefused, match="other-db"):
        request_restore(backup, target=spelled(other)[way], enqueue=False)
    assert not Restore.objects.exists()


@pytest.mark.django_db
def test_the_console_database_is_refused_as_a_target_of_another_source(tmp_path, request):
    from backups.registry import console_source_spec
    from backups.restores import RestoreRefused, request_restore
    from backups.sources import dsn_database

    kind, location = console_source_spec()
    if kind == "sqlite":
        backup = backup_now(add("app-db", "sqlite", make_sqlite(tmp_path / "a.sqlite3")))
        folder, name = os.path.split(location)
        target = f"{folder}/./{name}"
    else:
        backup = backup_now(add("app-db", "postgres", request.getfixturevalue("pg_db")))
        target = dsn_database(location)
    with pytest.raises(RestoreRefused, match="console's own database"):
        request_restore(backup, target=target, enqueue=False)


@pytest.mark.django_db
def test_the_wizard_shows_the_refusal_for_a_respelled_other_source(
    client, login, alice, sqlite_db, tmp_path
):
    other = make_sqlite(tmp_path / "other.sqlite3")
    add("other-db", "sqlite", other, production=True)
    backup = backup_now(add("app-db", "sqlite", sqlite_db))
    login(alice)
    response = client.post(
        f"/backups/backups/{backup.pk}/restore/",
        {"target": f"{tmp_path}//other.sqlite3", "confirm": "on"},
    )
    assert response.status_code == 400
    assert not Restore.objects.exists()


@pytest.mark.parametrize(
    "a, b",
    [
        ("postgres://u@localhost:5432/app", "postgres://u@127.0.0.1/app"),
        ("postgres://u@127.0.0.1:5432/app", "postgres://u@[::1]:5432/app"),
        ("postgres://u@/app?host=/run/postgresql", "postgres://u@LOCALHOST/app"),
    ],
)
def test_spellings_of_one_local_postgres_server_are_one_place(a, b):
    from backups.restores import _pg_place

    assert _pg_place(a) == _pg_place(b)


def test_other_ports_databases_and_servers_stay_apart():
    from backups.restores import _pg_place

    here = _pg_place("postgres://u@localhost:5432/app")
    assert here != _pg_place("postgres://u@localhost:5433/app")
    assert here != _pg_place("postgres://u@localhost:5432/other")
    assert here != _pg_place("postgres://u@192.0.2.10:5432/app")


@pytest.mark.django_db
def test_a_source_spelled_with_localhost_is_still_refused_as_a_target(pg_db):
    """The restoring source is registered as 127.0.0.1, the other as localhost: one server."""
    from backups.restores import RestoreRefused, request_restore
    from backups.sources import dsn_database

    other_dsn = pg_db.replace("127.0.0.1", "localhost") + "_other"
    assert "localhost" in other_dsn
    add("other-db", "postgres", other_dsn)
    backup = backup_now(add("app-db", "postgres", pg_db))
    with pytest.raises(RestoreRefused, match="other-db"):
        request_restore(backup, target=dsn_database(other_dsn), enqueue=False)
    assert not Restore.objects.exists()
