import pytest

from backups import repository
from backups.engine import pack_in_slice
from backups.jobs import Crash, repository_for, request_verify, run_verify
from backups.models import Backup, VerifyRun
from tests.backups.conftest import add, backup_now, read_tree, restore_now


def verify(source, level="data", k=1, t=1, hook=None):
    run = request_verify(source, level=level, slice_k=k, slice_t=t, enqueue=False)
    return run_verify(run.pk, hook=hook)


@pytest.fixture
def many_packs(monkeypatch):
    monkeypatch.setattr(repository, "PACK_TARGET", 30_000)


@pytest.fixture
def backed_up(tree, many_packs):
    source = add("site", "directory", tree)
    return source, backup_now(source)


def damage(source, how):
    repo = repository_for(source)
    pack = sorted(repo.packs())[0]
    path = repo.pack_path(pack)
    data = bytearray(path.read_bytes())
    path.unlink()
    if how == "flip":
        data[len(data) // 2] ^= 0x01
        path.write_bytes(bytes(data))
    elif how == "truncate":
        path.write_bytes(bytes(data[: len(data) - 100]))
    return pack


@pytest.mark.django_db
def test_data_verification_passes_and_dates_each_backup(backed_up):
    source, backup = backed_up
    run = verify(source)
    backup.refresh_from_db()
    assert run.status == VerifyRun.Status.PASSED and run.objects_checked > 1
    assert backup.data_verified_at is not None


@pytest.mark.django_db
def test_a_structural_check_never_claims_the_data_was_verified(backed_up):
    source, backup = backed_up
    verify(source, level="structure")
    backup.refresh_from_db()
    assert backup.structure_verified_at is not None and backup.data_verified_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_damaged_objects_are_reported_with_the_affected_backups_and_paths(backed_up, how):
    source, backup = backed_up
    damage(source, how)
    run = verify(source)
    backup.refresh_from_db()
    assert run.status == VerifyRun.Status.FAILED
    assert any(backup.pk in p["backups"] and p["paths"] for p in run.problems)
    assert backup.verify_problem and backup.data_verified_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("how", ["flip", "truncate", "delete"])
def test_restoring_a_damaged_backup_fails_without_touching_the_target(backed_up, how, tmp_path):
    source, backup = backed_up
    target = tmp_path / "target"
    target.mkdir()
    (target / "old.txt").write_text("old contents")
    before = read_tree(target)
    damage(source, how)
    restore = restore_now(backup, target)
    assert restore.status == "rolled_back" and read_tree(target) == before
    assert "target left untouched" in restore.error


@pytest.mark.django_db
def test_a_flipped_byte_found_while_rebuilding_keeps_the_pre_restore_backup(backed_up, tmp_path):
    source, backup = backed_up
    target = tmp_path / "target"
    target.mkdir()
    (target / "old.txt").write_text("old contents")
    damage(source, "flip")
    restore = restore_now(backup, target)
    assert restore.status == "rolled_back"
    assert restore.pre_restore_backup.status == Backup.Status.COMPLETE


@pytest.mark.django_db
def test_slices_together_cover_every_pack(backed_up):
    source, backup = backed_up
    total = len(repository_for(source).packs())
    runs = [verify(source, k=k, t=3) for k in (1, 2, 3)]
    backup.refresh_from_db()
    assert sum(r.packs_total for r in runs) == total
    assert backup.data_verified_at is not None


@pytest.mark.django_db
def test_one_slice_alone_does_not_date_the_backup_as_data_verified(backed_up):
    source, backup = backed_up
    verify(source, k=1, t=3)
    backup.refresh_from_db()
    assert backup.data_verified_at is None


@pytest.mark.django_db
def test_an_interrupted_data_check_resumes_where_it_stopped(backed_up):
    source, _ = backed_up

    def stop_after_two(step):
        if step == "verified-pack:2":
            raise Crash(step)

    run = request_verify(source, level="data", enqueue=False)
    with pytest.raises(Crash):
        run_verify(run.pk, hook=stop_after_two)
    run.refresh_from_db()
    assert len(run.packs_done) == 2
    from datetime import timedelta

    from django.utils import timezone

    from backups.models import Lease

    seen = []
    run = run_verify(
        run.pk, hook=seen.append, now=timezone.now() + Lease.TTL + timedelta(seconds=1)
    )
    assert run.status == VerifyRun.Status.PASSED
    assert seen[0] == "verified-pack:3"


# A pack that failed its data check counts as unverified until it passes one again.
def other_half(pack):
    return 2 if pack_in_slice(pack, 1, 2) else 1


@pytest.mark.django_db
def test_a_slice_that_skips_a_corrupt_pack_does_not_date_the_backup_again(backed_up):
    source, backup = backed_up
    verify(source)
    bad = damage(source, "flip")
    assert verify(source).status == VerifyRun.Status.FAILED
    verify(source, k=other_half(bad), t=2)
    backup.refresh_from_db()
    assert backup.data_verified_at is None
    assert backup.verify_problem


@pytest.mark.django_db
def test_a_structural_check_keeps_a_data_problem_on_the_backup(backed_up):
    source, backup = backed_up
    damage(source, "flip")
    verify(source)
    verify(source, level="structure")
    backup.refresh_from_db()
    assert backup.verify_problem


@pytest.mark.django_db
def test_a_pack_that_passes_again_after_a_failure_dates_the_backup_again(backed_up):
    from backups.jobs import repository_for

    source, backup = backed_up
    repo = repository_for(source)
    pack = sorted(repo.packs())[0]
    original = repo.pack_path(pack).read_bytes()
    damage(source, "flip")
    verify(source)
    repo.pack_path(pack).write_bytes(original)
    assert verify(source).status == VerifyRun.Status.PASSED
    backup.refresh_from_db()
    assert backup.data_verified_at is not None and not backup.verify_problem
