import os
import random

import pytest

from backups.engine import directory_tree_hash
from backups.jobs import repository_for
from tests.backups.conftest import add, backup_now, read_tree, restore_now


def manifest(backup):
    return repository_for(backup.source).read_manifest(backup.manifest_name)


def age(path, seconds=120):
    """Move a file's mtime into the past so the timestamp guards do not force a re-read."""
    st = os.stat(path, follow_symlinks=False)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9), follow_symlinks=False)


def age_tree(root):
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            age(os.path.join(dirpath, name))


@pytest.mark.django_db
def test_a_directory_restores_to_an_identical_tree(tree, tmp_path):
    backup = backup_now(add("site", "directory", tree))
    restore = restore_now(backup, tmp_path / "copy")
    assert restore.status == "succeeded", restore.error
    assert read_tree(tmp_path / "copy") == read_tree(tree)
    assert directory_tree_hash(tmp_path / "copy") == manifest(backup)["tree_hash"]


@pytest.mark.django_db
def test_an_incremental_takes_unchanged_files_from_its_parent_without_reading_them(tree):
    age_tree(tree)
    source = add("site", "directory", tree)
    backup_now(source)
    (tree / "file1.bin").write_bytes(os.urandom(20_000))
    second = backup_now(source, "incremental")
    m = manifest(second)
    assert m["files_unchanged"] == 6  # 7 files, one rewritten
    assert 20_000 <= second.new_bytes < 30_000


@pytest.mark.django_db
def test_a_full_backup_reads_every_file_again(tree):
    age_tree(tree)
    source = add("site", "directory", tree)
    backup_now(source)
    full = backup_now(source, "full")
    assert manifest(full)["files_unchanged"] == 0
    assert full.parent_id is None and full.new_bytes == 0


@pytest.mark.django_db
def test_a_size_change_with_the_same_mtime_is_detected(tree):
    age_tree(tree)
    source = add("site", "directory", tree)
    backup_now(source)
    path = tree / "file3.bin"
    st = path.stat()
    path.write_bytes(b"same mtime, different size")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    second = backup_now(source, "incremental")
    entry = next(e for e in manifest(second)["entries"] if e["path"] == "file3.bin")
    assert entry["size"] == len(b"same mtime, different size")


@pytest.mark.django_db
def test_files_touched_around_the_parent_scan_are_read_again_by_the_guard(tree):
    source = add("site", "directory", tree)  # files written just now: within the guard second
    backup_now(source)
    second = backup_now(source, "incremental")
    m = manifest(second)
    assert m["files_reread_by_guard"] == 7 and m["files_unchanged"] == 0
    assert second.new_bytes == 0


@pytest.mark.django_db
def test_a_differential_compares_with_the_last_full_not_the_last_backup(tree):
    age_tree(tree)
    source = add("site", "directory", tree)
    full = backup_now(source, "full")
    backup_now(source, "incremental")
    diff = backup_now(source, "differential")
    assert diff.parent_id == full.pk and diff.type == "differential"


@pytest.mark.django_db
def test_an_incremental_without_any_parent_is_promoted_to_full(tree):
    backup = backup_now(add("site", "directory", tree), "incremental")
    assert (backup.type, backup.requested_type) == ("full", "incremental")


@pytest.mark.django_db
def test_a_byte_inserted_at_the_start_of_a_large_file_stores_little(tmp_path):
    root = tmp_path / "big"
    root.mkdir()
    data = random.Random(9).randbytes(6 * 1024 * 1024)
    (root / "large.bin").write_bytes(data)
    age_tree(root)
    source = add("big", "directory", root)
    first = backup_now(source)
    (root / "large.bin").write_bytes(b"!" + data)
    second = backup_now(source, "incremental")
    assert first.new_bytes > 6_000_000
    assert second.new_bytes < 2_500_000
