"""A full backup reads reused stored objects back and stores a fresh copy of any damaged one."""

import pytest

from audit.models import AuditEvent
from backups.jobs import repository_for, request_verify, run_verify
from backups.models import Backup, Restore, VerifyRun
from tests.backups.conftest import add, backup_now, read_tree, restore_now


def flip_a_byte(source) -> str:
    """Flip one byte in the middle of the pack holding most objects (one object damaged, the
    rest of that pack intact)."""
    repo = repository_for(source)
    packs = repo.packs()
    pack = max(packs, key=lambda p: len(packs[p]))
    path = repo.pack_path(pack)
    data = bytearray(path.read_bytes())
    path.unlink()
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    return pack


def stats(backup) -> dict:
    return repository_for(backup.source).read_manifest(backup.manifest_name)["stats"]


def verify(source, backup):
    run = request_verify(source, level="data", backup=backup, enqueue=False)
    return run_verify(run.pk)


@pytest.fixture
def damaged(tree):
    source = add("site", "directory", tree)
    first = backup_now(source)
    flip_a_byte(source)
    return source, first


@pytest.mark.django_db
def test_a_full_backup_after_damage_completes_and_counts_the_repaired_object(damaged):
    source, _ = damaged
    second = backup_now(source)
    assert second.status == Backup.Status.COMPLETE, second.error
    assert stats(second)["objects_repaired"] >= 1 and stats(second)["objects_checked"] >= 1


@pytest.mark.django_db
def test_the_completion_summary_names_the_repaired_objects(damaged):
    source, _ = damaged
    second = backup_now(source)
    entry = AuditEvent.objects.filter(action="backups.backup.completed", object_id=str(second.pk))
    assert "repaired" in entry.get().reason


@pytest.mark.django_db
def test_a_clean_full_backup_checks_stored_objects_and_repairs_none(tree):
    source = add("site", "directory", tree)
    backup_now(source)
    second = backup_now(source)
    assert stats(second)["objects_checked"] >= 1 and stats(second)["objects_repaired"] == 0
    entry = AuditEvent.objects.filter(action="backups.backup.completed", object_id=str(second.pk))
    assert entry.get().reason == ""


@pytest.mark.django_db
def test_the_repairing_full_backup_restores_to_exactly_the_source(damaged, tree, tmp_path):
    source, _ = damaged
    second = backup_now(source)
    target = tmp_path / "target"
    target.mkdir()
    restore = restore_now(second, target)
    assert restore.status == Restore.Status.SUCCEEDED, restore.error
    assert read_tree(target) == read_tree(tree)


@pytest.mark.django_db
def test_data_verification_of_the_first_backup_still_reports_the_damaged_pack(damaged):
    source, first = damaged
    pack = repository_for(source).packs()
    backup_now(source)
    run = verify(source, first)
    assert run.status == VerifyRun.Status.FAILED
    assert any(p["pack"] in pack for p in run.problems)


@pytest.mark.django_db
def test_later_backups_and_a_reopened_repository_use_the_good_copy(damaged, tmp_path):
    source, _ = damaged
    backup_now(source)
    third = backup_now(source, "incremental")
    repo = repository_for(source)  # a fresh instance reads the index files from disk
    for entry in repo.read_manifest(third.manifest_name)["entries"]:
        for object_id in entry.get("chunks", []):
            repo.get(object_id)  # raises CorruptObject if it resolved to the damaged copy
    assert stats(third)["objects_repaired"] == 0


@pytest.mark.django_db
def test_each_stored_object_is_read_back_at_most_once_per_full_backup(tree):
    for name in ("a.bin", "b.bin"):
        (tree / name).write_bytes(b"same" * 5000)
    source = add("site", "directory", tree)
    backup_now(source)
    second = backup_now(source)
    s = stats(second)
    assert s["objects_checked"] == len(repository_for(source).object_ids())
    assert s["objects_checked"] < s["objects"]


@pytest.mark.django_db
def test_an_incremental_after_damage_does_not_read_stored_objects_back(damaged):
    source, _ = damaged
    incremental = backup_now(source, "incremental")
    assert stats(incremental)["objects_checked"] == 0
    assert stats(incremental)["objects_repaired"] == 0
    assert verify(source, incremental).status == VerifyRun.Status.FAILED


@pytest.mark.django_db
def test_an_encrypted_repository_is_repaired_the_same_way(backup_key, tree, tmp_path):
    source = add("site", "directory", tree)
    backup_now(source)
    flip_a_byte(source)
    second = backup_now(source)
    target = tmp_path / "target"
    target.mkdir()
    assert stats(second)["objects_repaired"] >= 1
    assert restore_now(second, target).status == Restore.Status.SUCCEEDED
