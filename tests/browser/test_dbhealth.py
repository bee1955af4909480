"""Database upkeep through the browser: from the nav to a target's findings and an action."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection
from playwright.sync_api import expect

from dbhealth import analysis
from dbhealth.targets import get_target
from tests.processes import env_for_test_database

pytestmark = pytest.mark.browser


@pytest.fixture
def sqlite_source(db, tmp_path):
    """A real SQLite file with a duplicate and a prefix-redundant index."""
    from backups.registry import add_source

    path = tmp_path / "shop.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.executescript(
            "CREATE TABLE item (id INTEGER PRIMARY KEY, shelf INT, bin INT);"
            "CREATE INDEX item_shelf ON item (shelf);"
            "CREATE INDEX item_shelf_bin ON item (shelf, bin);"
            "CREATE INDEX item_bin ON item (bin);"
            "CREATE INDEX item_bin_again ON item (bin);"
        )
    conn.close()
    return add_source(name="shopdb", kind="sqlite", location=str(path))


@pytest.fixture
def worker():
    """`manage.py qcluster` against the live server's database."""
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=settings.BASE_DIR,
        env=env_for_test_database(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def test_an_operator_finds_duplicate_indexes_and_an_analysis_runs_live(
    page, log_in, page_errors, carol, sqlite_source, worker
):
    analysis.analyse(get_target("shopdb"), full_integrity=True)
    log_in(carol)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Database").click()
    page.get_by_role("link", name="Source shopdb").click()
    expect(page.get_by_text("duplicate of item_bin", exact=True)).to_be_visible()
    expect(page.get_by_text("redundant: prefix of item_shelf_bin")).to_be_visible()
    if os.environ.get("UPKEEP_SCREENSHOT_DIR"):
        page.screenshot(path=f"{os.environ['UPKEEP_SCREENSHOT_DIR']}/dbhealth.png", full_page=True)
    page.get_by_role("button", name="Analyse now").click()
    expect(page.get_by_text("Analyse on shopdb queued.")).to_be_visible()
    # A real worker runs it; the polled actions list reloads the page once it is done.
    expect(page.get_by_role("link", name="#2", exact=True)).to_be_visible(timeout=30_000)
    expect(page.get_by_role("row").filter(has_text="Analyse")).to_contain_text("Succeeded")
    assert page_errors == []


@pytest.fixture
def duplicate_index(transactional_db):
    """A plain index on auth_user.username, which its unique constraint already indexes."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX dbh_user_name ON auth_user (username)")
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX dbh_user_name")


def test_the_console_database_page_shows_a_duplicate_of_a_constraint_index(
    page, log_in, page_errors, dave, duplicate_index
):
    analysis.analyse(get_target("console"))
    log_in(dave)
    page.goto("/dbhealth/console/")
    verdict = page.get_by_role("row").filter(has_text="dbh_user_name")
    keeper = "auth_user_username_key" if connection.vendor == "postgresql" else "sqlite_autoindex"
    expect(verdict).to_contain_text(f"duplicate of {keeper}")
    expect(page.get_by_role("button", name="Analyse now")).to_have_count(0)
    if os.environ.get("UPKEEP_SCREENSHOT_DIR"):
        shot = f"{os.environ['UPKEEP_SCREENSHOT_DIR']}/dbhealth-console-{connection.vendor}.png"
        page.screenshot(path=shot, full_page=True)
    assert page_errors == []
