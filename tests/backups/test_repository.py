import hashlib
import os

import pytest

from backups.crypto import KeyProblem, Keys, parse_key
from backups.repository import CorruptObject, Repository, RepositoryError


def test_objects_round_trip_and_are_stored_once(tmp_path):
    repo = Repository.init(tmp_path / "repo")
    data = os.urandom(5000)
    first, stored = repo.add(data)
    again, stored_again = repo.add(data)
    repo.flush_index()
    assert Repository(tmp_path / "repo").get(first) == data
    assert (again, stored_again) == (first, 0) and stored > 0


def test_a_plain_repository_names_objects_by_their_sha256(tmp_path):
    repo = Repository.init(tmp_path / "repo")
    object_id, _ = repo.add(b"hello")
    assert object_id == hashlib.sha256(b"hello").hexdigest()


def test_encryption_is_visible_in_the_raw_repository_bytes(tmp_path, backup_key):
    key = parse_key(backup_key)
    repo = Repository.init(tmp_path / "repo", key)
    secret = b"TOP-SECRET-CUSTOMER-LIST " * 200
    object_id, _ = repo.add(secret)
    repo.write_manifest("m1", {"entries": [{"path": "customers.csv", "chunks": [object_id]}]})
    raw = b"".join(p.read_bytes() for p in (tmp_path / "repo").rglob("*") if p.is_file())
    plain_id = hashlib.sha256(secret).hexdigest()
    assert b"TOP-SECRET" not in raw and b"customers.csv" not in raw
    assert plain_id.encode() not in raw and object_id != plain_id


def test_an_encrypted_repository_refuses_a_missing_or_wrong_key(tmp_path, backup_key):
    Repository.init(tmp_path / "repo", parse_key(backup_key))
    with pytest.raises(KeyProblem, match="encrypted"):
        Repository(tmp_path / "repo")
    with pytest.raises(KeyProblem, match="does not open"):
        Repository(tmp_path / "repo", b"w" * 32)


def test_a_manifest_that_was_altered_fails_its_checksum(tmp_path):
    repo = Repository.init(tmp_path / "repo")
    repo.write_manifest("m1", {"entries": [], "note": "original"})
    path = repo.manifest_path("m1")
    import zstandard

    text = zstandard.ZstdDecompressor().decompress(path.read_bytes(), max_output_size=1 << 20)
    path.unlink()
    path.write_bytes(zstandard.ZstdCompressor().compress(text.replace(b"original", b"altered!")))
    with pytest.raises(RepositoryError, match="checksum"):
        repo.read_manifest("m1")


def test_files_are_written_once_and_never_replaced(tmp_path):
    repo = Repository.init(tmp_path / "repo")
    repo.write_manifest("m1", {"entries": []})
    with pytest.raises(RepositoryError, match="already exists"):
        repo.write_manifest("m1", {"entries": [], "other": True})
    assert list((tmp_path / "repo" / "tmp").iterdir()) == []


def test_a_flipped_byte_is_reported_as_a_corrupt_object(tmp_path):
    repo = Repository.init(tmp_path / "repo")
    object_id, _ = repo.add(os.urandom(3000))
    repo.flush_index()
    loc = repo.location(object_id)
    pack = repo.pack_path(loc.pack)
    data = bytearray(pack.read_bytes())
    data[loc.offset + 10] ^= 0xFF
    pack.chmod(0o644)
    pack.write_bytes(bytes(data))
    with pytest.raises(CorruptObject):
        repo.get(object_id)


def test_prune_drops_unreferenced_objects_and_rewrites_mostly_empty_packs(tmp_path):
    repo = Repository.init(tmp_path / "repo")
    keep, _ = repo.add(os.urandom(1000))
    drop = [repo.add(os.urandom(50_000))[0] for _ in range(3)]
    repo.flush_index()
    report = repo.prune({keep})
    fresh = Repository(tmp_path / "repo")
    assert fresh.object_ids() == {keep} and fresh.get(keep)
    assert report.packs_rewritten == 1 and report.bytes_freed > 100_000
    assert drop[0] not in fresh.object_ids()


def test_keys_derive_distinct_subkeys():
    keys = Keys(b"m" * 32)
    assert len({keys.data, keys.id, keys.secret}) == 3


def test_a_new_pack_folder_is_made_durable_in_the_packs_directory(tmp_path, monkeypatch):
    repo = Repository.init(tmp_path / "repo")
    synced = set()
    real_fsync = os.fsync

    def observed_fsync(fd):
        synced.add(os.fstat(fd).st_ino)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", observed_fsync)
    repo.add(os.urandom(5000))
    repo.flush_index()
    packs = tmp_path / "repo" / "packs"
    assert [p for p in packs.iterdir() if p.is_dir()]
    assert packs.stat().st_ino in synced
