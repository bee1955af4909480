"""Backups in a real browser: start a backup, watch the HTMX progress panel turn complete, then
restore it through the wizard and watch that finish too."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.backups.conftest import make_sqlite
from tests.conftest import make_user

pytestmark = pytest.mark.browser


@pytest.fixture
def operator(transactional_db, settings, tmp_path):
    from accounts.roles import OPERATOR

    settings.DATA_DIR = tmp_path / "data"
    settings.DATA_DIR.mkdir()
    return make_user("carol", OPERATOR)


def test_a_backup_and_a_restore_are_followed_live(page, page_errors, log_in, operator, tmp_path):
    from backups.jobs import run_backup
    from backups.models import Backup, Restore
    from backups.registry import add_source
    from backups.restores import run_restore

    db = make_sqlite(tmp_path / "app.sqlite3")
    add_source(name="app-db", kind="sqlite", location=str(db))
    log_in(operator)
    page.get_by_role("link", name="Backups").first.click()
    page.get_by_role("link", name="app-db").click()
    page.get_by_label("Back up now").select_option("full")
    page.get_by_role("button", name="Start backup").click()
    expect(page.locator("#backup-progress")).to_contain_text("Queued")
    run_backup(Backup.objects.get().pk)  # what the worker would do
    expect(page.locator("#backup-progress")).to_contain_text("Complete", timeout=8_000)

    page.reload()
    page.get_by_role("link", name="Restore…").click()
    page.get_by_label("Target").fill(str(tmp_path / "copy.sqlite3"))
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("What will happen")).to_be_visible()
    page.get_by_label("I have read the preview").check()
    page.get_by_role("button", name="Restore").click()
    expect(page).to_have_url(re.compile(r"/backups/restores/\d+/$"))
    run_restore(Restore.objects.get().pk)
    expect(page.locator("#restore-progress")).to_contain_text("Succeeded", timeout=8_000)
    assert page_errors == []
