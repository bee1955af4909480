"""The index_health and reindex job types run as real maintenance runs."""

from __future__ import annotations

import pytest

from dbhealth.models import Action, Report
from maintenance import jobtypes, runs
from maintenance.models import Job, RunState
from maintenance.tasks import execute_run
from tests.dbhealth.conftest import sql
from tests.maintenance.conftest import make_job


def _run(user, job_type, params):
    job = Job.objects.filter(name=f"{job_type}-job").first()
    job = job or make_job(f"{job_type}-job", job_type=job_type, params=params)
    run = runs.run_now(job, user)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_both_job_types_are_registered_with_runners():
    assert jobtypes.runnable("index_health").owner_area == "dbhealth"
    assert jobtypes.runnable("reindex").owner_area == "dbhealth"


def test_job_params_are_checked():
    with pytest.raises(jobtypes.ParamsError, match="bloat_percent must be between"):
        jobtypes.get("reindex").clean_params({"bloat_percent": 1})
    with pytest.raises(jobtypes.ParamsError, match="unknown params: nope"):
        jobtypes.get("index_health").clean_params({"nope": 1})


@pytest.mark.django_db
def test_index_health_on_a_sqlite_source_records_a_complete_report(alice, sqlite_source):
    run = _run(alice, "index_health", {"target": "shopdb", "full_integrity": True})
    report = Report.objects.get()
    assert run.state == RunState.SUCCEEDED, run.summary
    assert run.summary.startswith(f"complete: report #{report.pk}")
    assert report.findings["integrity"] == ["ok"] and report.run_ref == f"maintenance.run:{run.pk}"


@pytest.mark.django_db
def test_index_health_on_an_unknown_target_fails_the_run(alice):
    run = _run(alice, "index_health", {"target": "nowhere"})
    assert run.state == RunState.FAILED and "no database target named 'nowhere'" in run.summary


@pytest.mark.django_db
def test_index_health_on_the_console_database_reports_on_each_vendor(alice):
    run = _run(alice, "index_health", {})
    report = Report.objects.get()
    assert run.state == RunState.SUCCEEDED and report.status == Report.Status.COMPLETE
    assert report.counts["indexes"] > 10  # the console's own tables have indexes
    if report.vendor == "sqlite":
        assert report.findings["integrity"] == ["ok"]
    else:
        assert "stale" in report.findings and report.findings["snapshot_rows"] > 10


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_reindex_job_rebuilds_a_bloated_index_and_it_shrinks(alice, pg_schema):
    sql(
        "CREATE TABLE dbh_bloat (id int, v int) WITH (autovacuum_enabled = false)",
        "INSERT INTO dbh_bloat SELECT g, g FROM generate_series(1, 100000) g",
        "CREATE INDEX dbh_bloat_v ON dbh_bloat (v)",
        "DELETE FROM dbh_bloat WHERE v % 10 <> 0",
        "VACUUM ANALYZE dbh_bloat",
    )
    run = _run(alice, "reindex", {"bloat_percent": 50})
    rebuilt = Action.objects.get(kind=Action.Kind.REINDEX, index="dbh_bloat_v")
    assert rebuilt.status == Action.Status.SUCCEEDED and rebuilt.new_oid != rebuilt.old_oid
    assert rebuilt.size_after < rebuilt.size_before / 4
    # The invalid unique index cannot be rebuilt over duplicate data: the run says so.
    assert run.state == RunState.FAILED and "failed: public.dbh_child_email" in run.summary


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_next_reindex_run_drops_the_leftover_of_a_failed_one(alice, pg_schema):
    _run(alice, "reindex", {"bloat_percent": 50})
    run = _run(alice, "reindex", {"bloat_percent": 50})
    cleaned = Action.objects.filter(kind=Action.Kind.CLEAN_LEFTOVER)
    assert [a.index for a in cleaned] == ["dbh_child_email_ccnew"]
    assert cleaned.get().status == Action.Status.SUCCEEDED
    assert "1 leftovers dropped" in run.summary
