"""SQLite targets: a real database file registered as a backup source (runs on both vendors)."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pytest
from django.utils import timezone

from backups.models import Lease
from dbhealth import actions, analysis
from dbhealth.models import Action, Report
from dbhealth.targets import get_target

pytestmark = pytest.mark.django_db


def _verdicts(report) -> dict[str, list[str]]:
    return {i["name"]: i["verdicts"] for i in report.findings["indexes"]}


def test_integrity_check_of_a_healthy_file_says_ok(sqlite_source):
    report = analysis.analyse(get_target("shopdb"), full_integrity=True)
    assert report.status == Report.Status.COMPLETE
    assert report.findings["integrity"] == ["ok"] and report.counts["integrity_errors"] == 0


def test_deleted_rows_show_as_reclaimable_free_pages(sqlite_source):
    space = analysis.analyse(get_target("shopdb")).findings["space"]
    assert space["freelist_count"] > 50
    assert space["reclaimable_bytes"] == space["freelist_count"] * space["page_size"]


def test_identical_and_prefix_indexes_are_found(sqlite_source):
    verdicts = _verdicts(analysis.analyse(get_target("shopdb")))
    assert verdicts["item_bin_again"] == ["duplicate of item_bin"]
    assert verdicts["item_shelf"] == ["redundant: prefix of item_shelf_bin"]
    assert verdicts["item_sku_plain"] == ["duplicate of sqlite_autoindex_item_1"]
    assert verdicts["item_shelf_bin"] == ["ok"] and verdicts["sqlite_autoindex_item_1"] == ["ok"]


def test_a_damaged_file_fails_its_integrity_check(sqlite_source, sqlite_file):
    db = sqlite3.connect(sqlite_file)
    db.execute("PRAGMA writable_schema = ON")
    # Point the index at the table's root page: every lookup through it now reads garbage.
    table_root = db.execute("SELECT rootpage FROM sqlite_master WHERE name = 'item'").fetchone()
    db.execute("UPDATE sqlite_master SET rootpage = ? WHERE name = 'item_shelf_bin'", table_root)
    db.commit()
    db.close()
    report = analysis.analyse(get_target("shopdb"), full_integrity=True)
    assert report.counts["integrity_errors"] > 0 and report.findings["integrity"] != ["ok"]


def test_a_missing_file_gives_a_failed_report_not_a_clean_one(sqlite_source, sqlite_file):
    sqlite_file.unlink()
    report = analysis.analyse(get_target("shopdb"))
    assert report.status == Report.Status.FAILED and "does not exist" in report.error


def test_vacuum_returns_the_free_pages(sqlite_source, carol):
    action = actions.request(get_target("shopdb"), Action.Kind.VACUUM, carol, queue=False)
    action = actions.execute(action.pk)
    assert action.status == Action.Status.SUCCEEDED, action.detail
    assert action.size_after < action.size_before
    assert analysis.analyse(get_target("shopdb")).findings["space"]["freelist_count"] == 0


def test_vacuum_is_refused_while_a_backup_holds_the_source_lease(sqlite_source, carol):
    Lease.objects.create(
        source=sqlite_source, token=1, holder="backup #1",
        expires_at=timezone.now() + timedelta(minutes=1),
    )  # fmt: skip
    action = actions.request(get_target("shopdb"), Action.Kind.VACUUM, carol, queue=False)
    action = actions.execute(action.pk)
    assert action.status == Action.Status.FAILED and "holds this source's lease" in action.detail


def test_optimize_runs(sqlite_source, carol):
    action = actions.request(get_target("shopdb"), Action.Kind.OPTIMIZE, carol, queue=False)
    assert actions.execute(action.pk).status == Action.Status.SUCCEEDED


def test_postgresql_only_actions_are_refused_on_sqlite(sqlite_source, carol):
    with pytest.raises(actions.ActionRefused, match="not available on sqlite"):
        actions.request(get_target("shopdb"), Action.Kind.REINDEX, carol, index="item_bin")
    with pytest.raises(actions.ActionRefused, match="PostgreSQL targets"):
        actions.request_drop(get_target("shopdb"), carol, schema="main", index="x", reason="r")


def test_a_damaged_file_notifies_and_a_healthy_one_does_not(sqlite_source, sqlite_file):
    from notifications.models import Notification

    analysis.analyse(get_target("shopdb"), full_integrity=True)
    assert not Notification.objects.filter(event="dbhealth.integrity_failed").exists()
    sqlite_file.write_bytes(b"this is not a database" * 100)
    report = analysis.analyse(get_target("shopdb"), full_integrity=True)
    sent = Notification.objects.get(event="dbhealth.integrity_failed")
    assert sent.payload["report"] == report.pk and "is damaged" in sent.subject


def test_a_failed_action_notifies(sqlite_source, carol):
    from notifications.models import Notification

    Lease.objects.create(
        source=sqlite_source, token=1, holder="backup #1",
        expires_at=timezone.now() + timedelta(minutes=1),
    )  # fmt: skip
    action = actions.request(get_target("shopdb"), Action.Kind.VACUUM, carol, queue=False)
    actions.execute(action.pk)
    assert Notification.objects.get(event="dbhealth.action_failed").payload["action"] == action.pk
