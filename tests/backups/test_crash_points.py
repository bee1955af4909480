"""A crash at any point leaves a consistent repository and a next run that just works."""

from datetime import timedelta

import pytest
from django.utils import timezone

from backups import engine
from backups.jobs import Crash, reap, repository_for, run_retention
from backups.models import Backup, Lease
from tests.backups.conftest import add, backup_now, restore_now


def crash_at(step):
    def hook(name):
        if name == step:
            raise Crash(step)

    return hook


def all_complete_backups_verify(source):
    repo = repository_for(source)
    for b in Backup.objects.complete().filter(source=source):
        manifest = repo.read_manifest(b.manifest_name)
        assert engine.verify_structure(repo, manifest) == []
        for pack, entries in repo.packs().items():
            assert engine.verify_pack(repo, pack, entries) == []


@pytest.mark.django_db
@pytest.mark.parametrize(
    "step", ["after-first-object", "before-index", "before-manifest", "before-complete"]
)
def test_a_crash_leaves_no_complete_backup_and_the_next_run_succeeds(tree, step):
    source = add("site", "directory", tree)
    with pytest.raises(Crash):
        backup_now(source, hook=crash_at(step))
    crashed = Backup.objects.get()
    assert crashed.status == Backup.Status.RUNNING
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)
    assert reap(now=later) == 1
    nxt = backup_now(source, now=later)
    crashed.refresh_from_db()
    assert (crashed.status, nxt.status) == ("failed", "complete")
    all_complete_backups_verify(source)


@pytest.mark.django_db
def test_retention_after_a_crash_removes_the_orphaned_manifest_and_data(tree):
    source = add("site", "directory", tree)
    with pytest.raises(Crash):
        backup_now(source, hook=crash_at("before-complete"))
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)
    reap(now=later)
    ok = backup_now(source, now=later)
    (tree / "extra.bin").write_bytes(b"x" * 5000)
    run_retention(source.pk, now=later)
    repo = repository_for(source)
    assert repo.manifest_names() == [ok.manifest_name]
    all_complete_backups_verify(source)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "step",
    [
        "prune:packs-rewritten",
        "prune:index-written",
        "prune:old-indexes-removed",
        "retention:manifest-deleted",
    ],
)
def test_a_crash_during_retention_leaves_every_kept_backup_whole(tree, step):
    source = add(
        "site", "directory", tree, keep_last=1, keep_daily=0, keep_weekly=0, keep_monthly=0
    )
    first = backup_now(source)
    for i in range(3):
        (tree / f"new{i}.bin").write_bytes(bytes([i]) * 40_000)
        backup_now(source, "full")
    (tree / "file1.bin").unlink()
    backup_now(source, "full")
    with pytest.raises(Crash):
        run_retention(source.pk, hook=crash_at(step))
    all_complete_backups_verify(source)
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)
    run_retention(source.pk, now=later)
    first.refresh_from_db()
    assert first.status == "deleted"
    all_complete_backups_verify(source)


@pytest.mark.django_db
def test_a_crash_just_before_the_restore_swap_leaves_the_target_and_is_rolled_back(tree, tmp_path):
    from tests.backups.conftest import read_tree

    source = add("site", "directory", tree)
    backup = backup_now(source)
    target = tmp_path / "target"
    target.mkdir()
    (target / "keep.txt").write_text("precious")
    before = read_tree(target)
    with pytest.raises(Crash):
        restore_now(backup, target, hook=crash_at("before-swap"))
    later = timezone.now() + Lease.TTL + timedelta(seconds=1)
    reap(now=later)
    restore = backup.restores.get()
    assert restore.status == "rolled_back" and read_tree(target) == before
    assert not (tmp_path / f".target.restore-{restore.pk}").exists()
