import pytest

from backups.jobs import repository_for, run_retention
from backups.models import Backup, RetentionRun
from tests.backups.conftest import add, backup_now


@pytest.fixture
def three_fulls(tree):
    source = add(
        "site", "directory", tree, keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0
    )
    backups = []
    for i in range(3):
        (tree / f"v{i}.bin").write_bytes(bytes([i + 1]) * 200_000)
        backups.append(backup_now(source, "full"))
        (tree / f"v{i}.bin").unlink()
    return source, backups


@pytest.mark.django_db
def test_retention_removes_backups_and_reports_the_space_reclaimed(three_fulls):
    source, backups = three_fulls
    size_before = repository_for(source).size()
    run = run_retention(source.pk)
    statuses = [Backup.objects.get(pk=b.pk).status for b in backups]
    assert statuses == ["deleted", "deleted", "complete"]
    assert run.removed == 2 and run.bytes_freed > 0
    assert repository_for(source).size() == size_before - run.bytes_freed


@pytest.mark.django_db
def test_a_dry_run_changes_nothing_and_records_the_reasons(three_fulls):
    source, _ = three_fulls
    run = run_retention(source.pk, dry_run=True)
    assert run.dry_run and [d["keep"] for d in run.decisions] == [True, False, False]
    assert Backup.objects.complete().filter(source=source).count() == 3


@pytest.mark.django_db
def test_a_pinned_backup_survives_retention(three_fulls):
    from audit.trail import transition

    source, backups = three_fulls
    transition(
        backups[0],
        action="backups.backup.pinned",
        expect={"pinned": False},
        changes={"pinned": True},
    )
    run_retention(source.pk)
    assert Backup.objects.get(pk=backups[0].pk).status == "complete"


@pytest.mark.django_db
def test_retention_waits_when_another_job_holds_the_source(three_fulls):
    from backups import leases

    source, _ = three_fulls
    leases.acquire(source.pk, "someone else")
    run = run_retention(source.pk)
    assert "another job" in run.error
    assert RetentionRun.objects.get().removed == 0


@pytest.mark.django_db
def test_a_backup_with_a_recorded_problem_is_not_kept_as_the_newest_verified(three_fulls):
    from audit.trail import transition

    source, backups = three_fulls
    newest = Backup.objects.get(pk=backups[2].pk)
    assert newest.structure_verified_at or newest.data_verified_at
    transition(
        newest,
        action="backups.backup.verification_failed",
        expect={"status": newest.status},
        changes={"verify_problem": "object abc: hash mismatch"},
    )
    run = run_retention(source.pk, dry_run=True)
    kept = {d["backup"]: d["reasons"] for d in run.decisions if d["keep"]}
    assert backups[1].pk in kept
    assert "newest verified backup" in kept[backups[1].pk]


@pytest.mark.django_db
def test_pre_restore_backups_of_another_place_are_pruned_as_their_own_series(three_fulls, tmp_path):
    from tests.backups.conftest import restore_now

    source, backups = three_fulls
    elsewhere = tmp_path / "staging"
    elsewhere.mkdir()
    (elsewhere / "old.txt").write_text("what staging held")
    restore_now(backups[-1], target=elsewhere)
    restore_now(backups[-1], target=elsewhere)
    pre = list(
        Backup.objects.complete().filter(source=source, trigger="pre_restore").order_by("pk")
    )
    assert [b.location for b in pre] == [str(elsewhere)] * 2
    run_retention(source.pk)
    assert Backup.objects.get(pk=pre[0].pk).status == "deleted"
    assert Backup.objects.get(pk=pre[1].pk).status == "complete"
    assert Backup.objects.get(pk=backups[-1].pk).status == "complete"
