"""The backup, verify_backups and restore_drill maintenance job types, run through the real
maintenance path: a Job and its Run, then ``maintenance.tasks.execute_run`` in this process."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from audit.models import AuditEvent
from backups import leases
from backups.models import Backup, VerifyRun
from maintenance import jobtypes, runs
from maintenance.models import RunState
from maintenance.tasks import execute_run
from tests.backups.conftest import add, backup_now, make_sqlite
from tests.backups.test_verify import damage
from tests.maintenance.conftest import make_job

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    # These runs take well under a second; the heartbeat thread (another connection, which on
    # PostgreSQL cannot see this test's transaction) must not beat in the middle of one.
    settings.MAINTENANCE_HEARTBEAT_SECONDS = 60


def run_job(user, job_type: str, params: dict, name: str = "job", **extra):
    run = runs.run_now(make_job(name, job_type=job_type, params=params, **extra), user)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def app_db(sqlite_db):
    return add("app-db", "sqlite", sqlite_db)


# ---------------------------------------------------------------- params


@pytest.mark.parametrize(
    ("job_type", "params", "message"),
    [
        ("backup", {"type": "full"}, "source must name a backup source"),
        ("backup", {"source": "nope", "type": "full"}, "no backup source named 'nope'"),
        ("backup", {"source": "app-db", "type": "weekly"}, "type must be one of: full, diff"),
        ("backup", {"source": "app-db", "level": "data"}, "unknown params: level"),
        ("verify_backups", {"level": "deep"}, "level must be one of: structure, data"),
        ("verify_backups", {"level": "data", "slice": "5/4"}, "slice must look like K/T"),
        ("verify_backups", {"level": "data", "slice": "half"}, "slice must look like K/T"),
        ("verify_backups", {"level": "structure", "slice": "1/2"}, "slice applies only to"),
        ("verify_backups", {"source": "nope"}, "no backup source named 'nope'"),
        ("restore_drill", {}, "source must name a backup source"),
        ("restore_drill", {"source": "nope"}, "no backup source named 'nope'; sources: app-db"),
    ],
)
def test_bad_params_are_refused_with_a_message_that_says_why(app_db, job_type, params, message):
    with pytest.raises(jobtypes.ParamsError, match=re.escape(message)):
        jobtypes.get(job_type).clean_params(params)


def test_good_params_are_accepted_and_completed_with_defaults(app_db):
    assert jobtypes.get("backup").clean_params({"source": "app-db"}) == {
        "source": "app-db",
        "type": "incremental",
    }
    assert jobtypes.get("verify_backups").clean_params({"level": "data", "slice": "2/7"}) == {
        "level": "data",
        "slice": "2/7",
    }


def test_the_three_types_are_runnable_and_owned_by_backups():
    types = [jobtypes.runnable(n) for n in ("backup", "verify_backups", "restore_drill")]
    assert all(t.owner_area == "backups" for t in types)
    assert types[0].resolve_runner().__module__ == "backups.maintenance_jobs"


# ---------------------------------------------------------------- backup


def test_a_backup_job_takes_a_verified_backup_in_the_run_and_sums_it_up(alice, app_db):
    run = run_job(alice, "backup", {"source": "app-db", "type": "full"})
    backup = Backup.objects.get()
    assert run.state == RunState.SUCCEEDED and backup.status == Backup.Status.COMPLETE
    assert re.fullmatch(
        rf"full backup #{backup.pk} of app-db: [\d.]+ KiB read, [\d.]+ KiB new, "
        r"verified \(structural\)",
        run.summary,
    ), run.summary


def test_what_the_backup_does_is_audited_as_the_maintenance_run(alice, app_db):
    run = run_job(alice, "backup", {"source": "app-db", "type": "full"})
    event = AuditEvent.objects.get(action="backups.backup.completed")
    assert event.run_ref == f"maintenance.run:{run.pk}"
    assert event.actor_id == alice.pk and Backup.objects.get().requested_by == alice


def test_a_full_backup_job_that_repairs_stored_objects_says_so(alice, app_db):
    from tests.backups.test_full_repairs import flip_a_byte

    run_job(alice, "backup", {"source": "app-db", "type": "full"}, name="first")
    flip_a_byte(Backup.objects.get().source)
    run = run_job(alice, "backup", {"source": "app-db", "type": "full"}, name="second")
    assert run.state == RunState.SUCCEEDED
    assert "stored again (repaired)" in run.summary


def test_an_incremental_job_without_a_parent_says_it_took_a_full_backup(alice, app_db):
    run = run_job(alice, "backup", {"source": "app-db", "type": "incremental"})
    assert "full backup #" in run.summary
    assert "(incremental requested, no parent yet)" in run.summary


def test_a_directory_incremental_after_a_full_stores_little_new(alice, tree):
    add("site", "directory", tree)
    run_job(alice, "backup", {"source": "site", "type": "full"}, name="full")
    (tree / "new.txt").write_text("one new file\n")
    run = run_job(alice, "backup", {"source": "site", "type": "incremental"}, name="incr")
    assert run.state == RunState.SUCCEEDED
    assert run.summary.startswith("incremental backup #") and " B new" in run.summary


def test_a_backup_skipped_because_the_source_is_busy_fails_the_run(alice, app_db):
    held = leases.acquire(app_db.pk, "restore #99")
    run = run_job(alice, "backup", {"source": "app-db", "type": "full"})
    leases.release(held)
    assert run.state == RunState.FAILED and Backup.objects.get().status == Backup.Status.SKIPPED
    assert "was not taken: skipped: already running (restore #99)" in run.summary


def test_a_backup_that_fails_fails_the_run_with_the_backups_reason(alice, app_db):
    Path(app_db.location).unlink()
    run = run_job(alice, "backup", {"source": "app-db", "type": "full"})
    backup = Backup.objects.get()
    assert run.state == RunState.FAILED and backup.status == Backup.Status.FAILED
    assert run.summary.startswith(f"BackupNotTaken: backup #{backup.pk} of app-db failed: ")


def test_a_backup_that_reaches_the_runs_deadline_stops_and_times_the_run_out(alice, app_db):
    run = run_job(
        alice,
        "backup",
        {"source": "app-db", "type": "full"},
        max_duration=timedelta(microseconds=1),
    )
    backup = Backup.objects.get()
    assert run.state == RunState.TIMED_OUT and run.summary == "stopped: deadline passed"
    assert backup.status == Backup.Status.FAILED and "deadline passed" in backup.error


def test_a_backup_of_a_source_deleted_after_the_job_was_saved_fails_with_the_reason(alice, app_db):
    job = make_job("nightly", job_type="backup", params={"source": "app-db", "type": "full"})
    app_db.delete()
    run = runs.run_now(job, alice)
    execute_run(run.pk)
    run.refresh_from_db()
    assert run.state == RunState.FAILED
    assert "no backup source named 'app-db'" in run.summary


# ---------------------------------------------------------------- verification


def test_verifying_every_source_checks_each_and_reports_no_problems(alice, app_db, tree):
    backup_now(app_db)
    backup_now(add("site", "directory", tree))
    run = run_job(alice, "verify_backups", {"level": "structure"})
    assert run.state == RunState.SUCCEEDED
    assert run.summary == (
        "structure verification of 2 sources: 2 backups checked, no problems found"
    )


def test_a_sliced_data_verification_of_one_source_passes(alice, app_db):
    backup_now(app_db)
    run = run_job(alice, "verify_backups", {"source": "app-db", "level": "data", "slice": "1/1"})
    assert run.state == RunState.SUCCEEDED
    assert re.fullmatch(
        r"data verification of app-db: \d+ objects checked, no problems found", run.summary
    )


def test_data_verification_that_finds_a_corrupted_pack_fails_the_run(alice, app_db):
    backup = backup_now(app_db)
    damage(app_db, "flip")
    run = run_job(alice, "verify_backups", {"source": "app-db", "level": "data"})
    assert run.state == RunState.FAILED and VerifyRun.objects.get().status == "failed"
    assert run.summary.startswith("VerificationFailed: data verification of app-db: 2 problem(s)")
    assert f"backups #{backup.pk} — database.sqlite3" in run.summary


def test_verifying_a_source_that_has_no_backup_fails_rather_than_passing_on_nothing(alice, app_db):
    run = run_job(alice, "verify_backups", {"source": "app-db", "level": "structure"})
    assert run.state == RunState.FAILED
    assert run.summary.endswith("of app-db: no complete backups to verify")


def test_a_verification_stopped_by_the_deadline_leaves_no_lease_or_running_row(
    alice, app_db, monkeypatch
):
    from backups import repository

    monkeypatch.setattr(repository, "PACK_TARGET", 30_000)
    make_sqlite(app_db.location, rows=2000)
    backup_now(app_db)
    run = run_job(
        alice,
        "verify_backups",
        {"source": "app-db", "level": "data"},
        max_duration=timedelta(microseconds=1),
    )
    verify = VerifyRun.objects.get()
    assert run.state == RunState.TIMED_OUT and verify.status == VerifyRun.Status.ERROR
    assert leases.holder_of(app_db.pk) == "" and "stopped by maintenance run" in verify.error


# ---------------------------------------------------------------- restore drill


def test_a_drill_job_proves_the_newest_backup_restorable(alice, app_db):
    backup = backup_now(app_db)
    run = run_job(alice, "restore_drill", {"source": "app-db"})
    app_db.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and app_db.proven_restorable_at is not None
    assert run.summary.startswith(
        f"app-db proven restorable at {app_db.proven_restorable_at:%Y-%m-%d %H:%M:%S} UTC: "
        f"backup #{backup.pk} rebuilt and checked"
    )


def test_a_drill_job_without_any_backup_fails_the_run(alice, app_db):
    run = run_job(alice, "restore_drill", {"source": "app-db"})
    assert run.state == RunState.FAILED
    assert run.summary == "DrillFailed: app-db: no complete backup to restore"


def test_a_drill_of_a_damaged_backup_fails_the_run_and_the_source_records_it(alice, app_db):
    backup_now(app_db)
    damage(app_db, "delete")
    run = run_job(alice, "restore_drill", {"source": "app-db"})
    app_db.refresh_from_db()
    assert run.state == RunState.FAILED and "restore drill of app-db" in run.summary
    assert app_db.last_drill_ok is False and app_db.proven_restorable_at is None


def test_a_retry_continues_a_stopped_data_verification_from_its_finished_packs(
    alice, app_db, monkeypatch
):
    from backups import repository
    from maintenance.models import Run

    monkeypatch.setattr(repository, "PACK_TARGET", 30_000)
    make_sqlite(app_db.location, rows=2000)
    backup_now(app_db)
    params = {"source": "app-db", "level": "data"}
    first = run_job(alice, "verify_backups", params, max_duration=timedelta(microseconds=1))
    job = first.job
    job.max_duration = timedelta(minutes=10)
    job.save()
    retry = Run.objects.create(
        occurrence=first.occurrence, job=job, attempt=2, checkpoint=first.checkpoint
    )
    execute_run(retry.pk)
    retry.refresh_from_db()
    stopped, resumed = VerifyRun.objects.order_by("pk")
    assert retry.state == RunState.SUCCEEDED and resumed.status == VerifyRun.Status.PASSED
    assert set() < set(stopped.packs_done) < set(resumed.packs_done)
    assert retry.log.count("pack(s) checked") == resumed.packs_total - len(stopped.packs_done)


def test_the_readme_example_jobs_import(app_db, tmp_path):
    from django.core.management import call_command

    from maintenance.models import Job

    readme = (Path(__file__).parents[2] / "backups" / "README.md").read_text()
    section = readme.split("## Scheduling with maintenance jobs", 1)[1]
    example = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "jobs.yaml").write_text(example)
    call_command("jobs", "import", str(tmp_path / "jobs.yaml"))
    assert set(Job.objects.values_list("job_type", flat=True)) == {
        "backup",
        "verify_backups",
        "restore_drill",
    }
