"""PostgreSQL analysis of the console's own database over real tables and indexes."""

from __future__ import annotations

import pytest

from dbhealth import analysis
from dbhealth.models import IndexSnapshot, Report
from dbhealth.targets import console_target
from tests.dbhealth.conftest import by_name, eight_days_ago, flush_stats, sql, use_index

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def judged(pg_schema):
    """A snapshot eight days ago (the daily job, time injected), scans since, then today."""
    analysis.analyse(console_target(), now=eight_days_ago())
    use_index("SELECT count(*) FROM dbh_child WHERE b = 5 AND c = 3", times=3)
    return by_name(analysis.analyse(console_target()))


def test_an_index_never_scanned_over_the_window_is_unused(judged):
    verdicts = judged["dbh_child_a"]["verdicts"]
    assert len(verdicts) == 1 and verdicts[0].startswith("unused: 0 scans since")


def test_an_index_scanned_in_the_window_is_ok(judged):
    assert judged["dbh_child_b_c"]["verdicts"] == ["ok"]
    assert judged["dbh_child_b_c"]["scans_in_window"] == 3


def test_an_identical_index_is_a_duplicate_of_the_older_one(judged):
    assert judged["dbh_child_a_again"]["verdicts"] == ["duplicate of dbh_child_a"]
    assert judged["dbh_child_a_again"]["droppable"] is True


def test_a_prefix_of_another_index_is_redundant(judged):
    assert judged["dbh_child_b"]["verdicts"] == ["redundant: prefix of dbh_child_b_c"]


def test_an_index_left_by_a_failed_concurrent_build_is_invalid(judged):
    assert judged["dbh_child_email"]["verdicts"] == ["invalid"]
    assert judged["dbh_child_email"]["rebuildable"] is True


def test_foreign_key_unique_primary_and_tiny_indexes_are_not_called_unused(judged):
    for name, why in (
        ("dbh_child_parent", "backs a foreign key"),
        ("dbh_child_id_a", "unique"),
        ("dbh_child_pkey", "primary key"),
        ("dbh_parent_code", "small"),
    ):
        assert judged[name]["verdicts"] == ["ok"], name
        assert why in judged[name]["notes"][0], name


def test_without_a_window_of_statistics_usage_is_insufficient_data(pg_schema):
    found = by_name(analysis.analyse(console_target()))
    assert found["dbh_child_a"]["verdicts"][0].startswith("insufficient data")
    assert IndexSnapshot.objects.filter(index="dbh_child_a").count() == 1


def test_an_index_newer_than_the_window_is_insufficient_data(pg_schema):
    analysis.analyse(console_target(), now=eight_days_ago())
    sql("CREATE INDEX dbh_child_c ON dbh_child (c, a)")
    found = by_name(analysis.analyse(console_target()))
    assert found["dbh_child_c"]["verdicts"] == [
        "insufficient data: index newer than the 7-day window"
    ]


def test_the_report_is_complete_and_counts_what_it_found(judged):
    report = Report.objects.for_target("console").first()
    assert report.status == Report.Status.COMPLETE and report.skipped == []
    assert report.counts["invalid"] >= 1 and report.counts["duplicate"] >= 2


def test_tables_changed_past_the_autovacuum_threshold_have_stale_statistics(pg_schema):
    sql("UPDATE dbh_child SET c = c + 1 WHERE id <= 20000")
    flush_stats()
    stale = analysis.analyse(console_target()).findings["stale"]
    row = next(t for t in stale if t["table"] == "dbh_child")
    assert row["changes"] >= 20000 and row["threshold"] == 50 + 6000


def test_a_big_table_read_by_sequential_scans_gets_a_missing_index_hint(pg_schema):
    sql(
        "CREATE TABLE dbh_log (id bigserial PRIMARY KEY, v int)",
        "INSERT INTO dbh_log (v) SELECT g % 100 FROM generate_series(1, 20000) g",
        "ANALYZE dbh_log",
    )
    for _ in range(60):
        sql("SELECT count(*) FROM dbh_log WHERE v = 3")
    flush_stats()
    hints = analysis.analyse(console_target()).findings["hints"]
    row = next(h for h in hints if h["table"] == "dbh_log")
    assert row["seq_scan"] >= 60 and row["rows"] >= 20000


def test_a_btree_index_left_sparse_by_deletes_is_estimated_bloated(pg_schema):
    sql(
        "CREATE TABLE dbh_bloat (id int, v int) WITH (autovacuum_enabled = false)",
        "INSERT INTO dbh_bloat SELECT g, g FROM generate_series(1, 100000) g",
        "CREATE INDEX dbh_bloat_v ON dbh_bloat (v)",
        "DELETE FROM dbh_bloat WHERE v % 10 <> 0",
        "VACUUM ANALYZE dbh_bloat",
    )
    index = by_name(analysis.analyse(console_target()))["dbh_bloat_v"]
    assert index["bloat_method"] == "estimate" and index["bloat_percent"] >= 80
    assert index["verdicts"][-1].startswith("bloated ~")
