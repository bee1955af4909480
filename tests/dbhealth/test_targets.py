"""Targets: the console database first, sources by kind, unreachable ones reported as failed."""

from __future__ import annotations

import pytest
from django.db import connection

from backups.registry import add_source, ensure_console_source
from dbhealth import analysis
from dbhealth.models import Report
from dbhealth.targets import TargetError, all_targets, get_target

pytestmark = pytest.mark.django_db


def test_the_console_database_comes_first_and_directories_are_not_targets(tmp_path):
    ensure_console_source()  # the backups app's own entry for this database is not listed twice
    add_source(name="files", kind="directory", location=str(tmp_path))
    add_source(name="shop", kind="sqlite", location=str(tmp_path / "shop.sqlite3"))
    assert [(t.key, t.vendor) for t in all_targets()] == [
        ("console", connection.vendor),
        ("shop", "sqlite"),
    ]


def test_an_unknown_target_is_an_error():
    with pytest.raises(TargetError, match="no database target named 'x'"):
        get_target("x")


def test_an_unreachable_postgresql_source_gives_a_failed_report():
    add_source(name="gone", kind="postgres", location="postgres://postgres@127.0.0.1:1/nowhere")
    report = analysis.analyse(get_target("gone"))
    assert report.status == Report.Status.FAILED and report.error.startswith("cannot connect")


def test_the_controller_takes_one_usage_snapshot_a_day_of_postgresql_targets(sqlite_source):
    from dbhealth.models import IndexSnapshot

    first = analysis.snapshot_due()
    if connection.vendor == "postgresql":
        assert first.startswith("snapshots console: ")
        count = IndexSnapshot.objects.filter(target="console").count()
        assert count > 10 and int(first.split(": ")[1]) == count
    else:  # the console database and the source are SQLite: no usage counters to read
        assert first == "nothing due" and not IndexSnapshot.objects.exists()
    assert analysis.snapshot_due() == "nothing due"
