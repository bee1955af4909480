"""Measured bloat with pgstattuple, and an honest partial report when a check is refused."""

from __future__ import annotations

import pytest
from django.db import connection

from backups.registry import add_source
from dbhealth import analysis
from dbhealth.models import Report
from dbhealth.targets import console_target, get_target
from tests.dbhealth.conftest import by_name, sql

pytestmark = [pytest.mark.postgresql, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def pgstattuple(pg_schema):
    sql(
        "CREATE EXTENSION IF NOT EXISTS pgstattuple",
        "CREATE TABLE dbh_bloat (id int, v int) WITH (autovacuum_enabled = false)",
        "INSERT INTO dbh_bloat SELECT g, g FROM generate_series(1, 100000) g",
        "CREATE INDEX dbh_bloat_v ON dbh_bloat (v)",
        "DELETE FROM dbh_bloat WHERE v % 10 <> 0",
        "VACUUM ANALYZE dbh_bloat",
    )
    yield
    sql("DROP EXTENSION IF EXISTS pgstattuple")


@pytest.fixture
def limited_source(pgstattuple):
    """A source reached as a role that may not call pgstatindex()."""
    sql(
        "DROP ROLE IF EXISTS dbh_reader",
        "CREATE ROLE dbh_reader LOGIN",
    )
    db = connection.settings_dict
    add_source(
        name="limited",
        kind="postgres",
        location=f"postgres://dbh_reader@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/"
        f"{db['NAME']}",
    )
    yield
    sql("DROP ROLE IF EXISTS dbh_reader")


def test_with_pgstattuple_installed_bloat_is_measured(pgstattuple):
    index = by_name(analysis.analyse(console_target()))["dbh_bloat_v"]
    assert index["bloat_method"] == "pgstattuple" and index["bloat_percent"] >= 80
    assert index["verdicts"][-1].startswith("bloated ~")


def test_a_check_the_role_may_not_run_makes_the_report_partial_and_says_why(limited_source):
    report = analysis.analyse(get_target("limited"))
    assert report.status == Report.Status.PARTIAL
    assert [s["check"] for s in report.skipped] == ["bloat"]
    assert "InsufficientPrivilege" in report.skipped[0]["reason"]
    # The other checks still ran.
    assert by_name(report)["dbh_child_a_again"]["verdicts"] == ["duplicate of dbh_child_a"]


def test_the_index_health_run_says_partial_and_what_was_skipped(limited_source, alice):
    from maintenance import runs
    from maintenance.models import RunState
    from maintenance.tasks import execute_run
    from tests.maintenance.conftest import make_job

    job = make_job("limited-health", job_type="index_health", params={"target": "limited"})
    run = runs.run_now(job, alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.summary.startswith("partial: report #")
    assert "skipped: bloat (InsufficientPrivilege" in run.summary
