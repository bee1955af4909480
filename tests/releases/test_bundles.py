"""Every zip attack the issue lists is refused before anything is stored."""

import io
import json
import stat
import warnings
import zipfile

import pytest

from releases import bundles
from tests.releases.conftest import make_zip


def _zip_with(infos: list[tuple[zipfile.ZipInfo | str, bytes]], manifest=True) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names; that is the point
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
            if manifest:
                z.writestr("app.json", "{}")
            for info, data in infos:
                z.writestr(info, data)
    return buffer.getvalue()


def _refusal(data: bytes) -> str:
    with pytest.raises(bundles.BundleError) as caught:
        bundles.receive([data])
    return caught.value.code


def _left_behind() -> list:
    return [p for p in bundles.bundle_dir().rglob("*") if p.is_file()]


def test_a_valid_bundle_is_hashed_and_its_manifest_read():
    data = make_zip({"index.js": "x"}, manifest={"name": "shop"})
    received = bundles.receive([data[:10], data[10:]])
    import hashlib

    assert received.sha256 == hashlib.sha256(data).hexdigest()
    assert received.manifest == {"name": "shop"}


def test_stored_bundles_are_named_by_their_hash():
    received = bundles.receive([make_zip()])
    path = bundles.store(received)
    assert path.name == f"{received.sha256}.zip"
    assert not received.temp_path.exists()


def test_something_that_is_not_a_zip_is_refused_and_nothing_is_kept():
    assert _refusal(b"not a zip at all") == "bad_zip"
    assert _left_behind() == []


def test_an_empty_upload_is_refused():
    assert _refusal(b"") == "bad_zip"


def test_absolute_paths_are_refused():
    assert _refusal(_zip_with([("/etc/passwd", b"x")])) == "unsafe_path"


def test_parent_directory_components_are_refused():
    assert _refusal(_zip_with([("pages/../../escape.js", b"x")])) == "unsafe_path"


def test_windows_drive_paths_are_refused():
    assert _refusal(_zip_with([("C:/evil.js", b"x")])) == "unsafe_path"


def test_symbolic_links_are_refused():
    link = zipfile.ZipInfo("link")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    assert _refusal(_zip_with([(link, b"/etc/passwd")])) == "symlink"


def test_duplicate_names_are_refused():
    assert _refusal(_zip_with([("a.js", b"1"), ("a.js", b"2")])) == "duplicate_name"


def test_more_files_than_the_limit_are_refused(settings):
    settings.RELEASES_MAX_FILES = 3
    assert _refusal(_zip_with([(f"f{i}.js", b"x") for i in range(3)])) == "too_many_files"


def test_a_bundle_inflating_past_the_size_limit_is_refused(settings):
    settings.RELEASES_MAX_UNCOMPRESSED_BYTES = 10_000
    assert _refusal(_zip_with([("big.bin", bytes(range(256)) * 50)])) == "too_large_uncompressed"


def test_a_zip_bomb_is_refused_by_its_compression_ratio():
    assert _refusal(_zip_with([("bomb.txt", b"\0" * 5_000_000)])) == "compression_ratio"


def test_an_upload_over_the_byte_limit_is_refused_while_streaming(settings):
    settings.RELEASES_MAX_UPLOAD_BYTES = 100
    assert _refusal(make_zip({"a.js": "x" * 50})) == "too_large"
    assert _left_behind() == []


def test_a_bundle_without_a_manifest_is_refused():
    assert _refusal(make_zip({"index.js": "x"}, with_manifest=False)) == "no_manifest"


def test_a_manifest_that_is_not_json_is_refused():
    assert _refusal(_zip_with([("app.json", b"{nope")], manifest=False)) == "bad_manifest"


def test_subpackage_roots_come_from_either_manifest_spelling():
    manifest = {"subPackages": [{"root": "pkgA"}, "pkgB/"]}
    assert bundles.subpackage_roots(manifest) == ["pkgA/", "pkgB/"]
    assert bundles.subpackage_roots(json.loads('{"subpackages": []}')) == []


def test_the_sweep_deletes_only_stale_upload_files():
    import os
    from datetime import UTC, datetime, timedelta

    tmp = bundles.bundle_dir() / "tmp"
    tmp.mkdir(parents=True)
    stale, fresh = tmp / "old.upload", tmp / "new.upload"
    stale.write_bytes(b"x")
    fresh.write_bytes(b"x")
    now = datetime.now(UTC)
    old = (now - timedelta(hours=7)).timestamp()
    os.utime(stale, (old, old))
    assert bundles.sweep_temporary(now) == 1
    assert [p.name for p in tmp.iterdir()] == ["new.upload"]
