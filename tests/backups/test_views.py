import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from backups.models import Backup, Restore, Source
from tests.backups.conftest import add, backup_now, restore_now


@pytest.fixture
def source(db, sqlite_db):
    return add("app-db", "sqlite", sqlite_db)


@pytest.mark.django_db
def test_the_sources_page_registers_the_console_database_and_shows_health(login, dave, source):
    backup_now(source)
    response = login(dave).get("/backups/")
    assert Source.objects.filter(name="console").exists()
    assert b"backed up and verified" in response.content and b"no backups yet" in response.content


@pytest.mark.django_db
def test_the_sources_page_query_count_does_not_grow_with_sources(login, dave, tmp_path):
    from tests.backups.conftest import make_sqlite

    client = login(dave)
    client.get("/backups/")  # registers the console source
    for i in range(2):
        backup_now(add(f"s{i}", "sqlite", make_sqlite(tmp_path / f"s{i}.sqlite3", rows=5)))
    with CaptureQueriesContext(connection) as few:
        client.get("/backups/")
    for i in range(2, 5):
        backup_now(add(f"s{i}", "sqlite", make_sqlite(tmp_path / f"s{i}.sqlite3", rows=5)))
    with CaptureQueriesContext(connection) as many:
        client.get("/backups/")
    assert len(many) == len(few) <= 12


@pytest.mark.django_db
def test_adding_a_source_redirects_to_it_and_bad_input_rerenders(login, carol, sqlite_db):
    client = login(carol)
    ok = client.post(
        "/backups/sources/add/", {"name": "db2", "kind": "sqlite", "location": str(sqlite_db)}
    )
    bad = client.post(
        "/backups/sources/add/", {"name": "db3", "kind": "sqlite", "location": "relative/path"}
    )
    assert ok.status_code == 302 and Source.objects.filter(name="db2").exists()
    assert bad.status_code == 400 and b"absolute path" in bad.content


@pytest.mark.django_db
def test_starting_a_backup_queues_it_and_opens_its_page(login, carol, source):
    response = login(carol).post(f"/backups/sources/{source.pk}/backup/", {"type": "differential"})
    backup = Backup.objects.get()
    assert response["Location"] == f"/backups/backups/{backup.pk}/"
    assert (backup.status, backup.requested_type) == ("queued", "differential")


@pytest.mark.django_db
def test_the_backup_page_polls_while_running_and_the_fragment_is_the_progress(login, dave, source):
    backup = Backup.objects.create(source=source, status="queued")
    client = login(dave)
    page = client.get(f"/backups/backups/{backup.pk}/")
    fragment = client.get(f"/backups/backups/{backup.pk}/", HTTP_HX_REQUEST="true")
    assert b'hx-trigger="every 2s"' in page.content and b"<h1>" in page.content
    assert b"<h1>" not in fragment.content and b"backup-progress" in fragment.content


@pytest.mark.django_db
def test_a_complete_backup_page_shows_statistics_and_stops_polling(login, dave, source):
    backup = backup_now(source)
    response = login(dave).get(f"/backups/backups/{backup.pk}/")
    assert (
        b"Deduplication ratio" in response.content
        and b"rows per table: item 200" in response.content
    )
    assert b"every 2s" not in response.content


@pytest.mark.django_db
def test_the_restore_wizard_previews_then_restores_on_confirmation(login, carol, source, tmp_path):
    backup = backup_now(source)
    client = login(carol)
    target = str(tmp_path / "copy.sqlite3")
    preview = client.get(f"/backups/backups/{backup.pk}/restore/", {"target": target})
    done = client.post(
        f"/backups/backups/{backup.pk}/restore/", {"target": target, "confirm": "on"}
    )
    assert b"What will happen" in preview.content and b"does not exist yet" in preview.content
    assert done.status_code == 302 and Restore.objects.get().status == "queued"


@pytest.mark.django_db
def test_the_restore_wizard_refuses_without_confirmation(login, carol, source):
    backup = backup_now(source)
    response = login(carol).post(f"/backups/backups/{backup.pk}/restore/", {"target": ""})
    assert response.status_code == 400 and not Restore.objects.exists()


@pytest.mark.django_db
def test_a_production_restore_from_the_wizard_asks_for_approval(login, carol, sqlite_db):
    source = add("prod", "sqlite", sqlite_db, production=True)
    backup = backup_now(source)
    login(carol).post(f"/backups/backups/{backup.pk}/restore/", {"target": "", "confirm": "on"})
    restore = Restore.objects.get()
    assert restore.status == "awaiting_approval" and restore.change_request_id


@pytest.mark.django_db
def test_the_restore_page_and_its_fragment(login, dave, source, tmp_path):
    restore = restore_now(backup_now(source), tmp_path / "copy.sqlite3")
    client = login(dave)
    page = client.get(f"/backups/restores/{restore.pk}/")
    fragment = client.get(f"/backups/restores/{restore.pk}/", HTTP_HX_REQUEST="true")
    assert b"<h1>" in page.content and b"Succeeded" in page.content
    assert b"<h1>" not in fragment.content and b"restore-progress" in fragment.content


@pytest.mark.django_db
def test_the_retention_preview_gives_a_reason_for_every_backup(login, dave, source):
    for _ in range(2):
        backup_now(source, "full")
    response = login(dave).get(f"/backups/sources/{source.pk}/retention/")
    assert b"last 3 (newest); daily" in response.content
    assert response.content.count(b"<td>last 3</td>") == 1


@pytest.mark.django_db
def test_pinning_a_backup_is_recorded(login, carol, source):
    backup = backup_now(source)
    login(carol).post(f"/backups/backups/{backup.pk}/pin/", {"pinned": "1"})
    backup.refresh_from_db()
    assert backup.pinned


@pytest.mark.django_db
def test_a_bad_verification_slice_is_refused_with_a_message(login, carol, source):
    from backups.models import VerifyRun

    response = login(carol).post(
        f"/backups/sources/{source.pk}/verify/", {"level": "data", "slice": "4/3"}, follow=True
    )
    assert b"1 \xe2\x89\xa4 K \xe2\x89\xa4 T" in response.content
    assert not VerifyRun.objects.exists()


@pytest.mark.django_db
def test_the_source_page_shows_backups_and_the_size_chart(login, dave, source):
    backup_now(source, "full")
    backup_now(source, "full")
    response = login(dave).get(f"/backups/sources/{source.pk}/")
    assert b"<svg" in response.content and b"Last proven restorable" in response.content


@pytest.mark.django_db
def test_the_dashboard_card_and_the_nav_item(login, dave, source):
    backup_now(source)
    response = login(dave).get("/")
    assert b"Backups" in response.content and b"Last proven restorable" in response.content


@pytest.mark.django_db
def test_the_restore_wizard_rejects_a_relative_target(login, carol, source):
    backup = backup_now(source)
    response = login(carol).get(f"/backups/backups/{backup.pk}/restore/", {"target": "rel/x"})
    assert response.status_code == 400 and b"absolute path" in response.content
