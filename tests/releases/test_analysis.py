"""Analysis numbers against a fixture bundle whose sizes are known."""

import gzip

import brotli
import pytest

from tests.releases.conftest import publish

MAIN_JS = b"".join(b"function f%03d() { return %03d; }\n" % (i, i) for i in range(200))
VENDOR = b"/* vendor */ var v = 1;\n" * 100  # 2400 bytes
STYLE = b".a { color: red; }\n" * 50  # 950 bytes
LOGO = bytes(range(256)) * 8  # 2048 bytes, barely compressible
MANIFEST = {"name": "shop", "subpackages": [{"root": "pkgA/"}]}


@pytest.fixture
def release(app):
    return publish(
        app,
        "1.0.0",
        {
            "index.js": MAIN_JS,
            "style.css": STYLE,
            "img/logo.png": LOGO,
            "pkgA/page.js": VENDOR,
            "pkgA/copy.js": VENDOR,
        },
        manifest=MANIFEST,
    )


def _file(release, path):
    return next(f for f in release.analysis["files"] if f["path"] == path)


def test_each_file_has_its_raw_gzip_and_brotli_size(release):
    entry = _file(release, "index.js")
    assert (entry["raw"], entry["gzip"]) == (6400, len(gzip.compress(MAIN_JS, 6, mtime=0)))
    assert entry["brotli"] == len(brotli.compress(MAIN_JS, quality=5))


def test_totals_are_split_by_type(release):
    by_type = release.analysis["by_type"]
    assert (by_type["js"]["raw"], by_type["css"]["raw"]) == (6400 + 2 * 2400, 950)
    assert (by_type["images"]["raw"], by_type["other"]["files"]) == (2048, 1)  # app.json


def test_subpackages_come_from_the_manifests_roots(release):
    packages = release.analysis["packages"]
    assert packages["pkgA"]["raw"] == 4800
    assert packages["main"]["files"] == 4


def test_the_largest_files_come_first(release):
    assert [f["path"] for f in release.analysis["largest"][:2]] == ["index.js", "pkgA/copy.js"]


def test_identical_files_at_two_paths_are_reported_as_duplicates(release):
    [dup] = release.analysis["duplicates"]
    assert dup["paths"] == ["pkgA/copy.js", "pkgA/page.js"]
    assert dup["wasted"] == 2400


def test_the_diff_lists_added_removed_grown_and_shrunk_files(app, release):
    second = publish(
        app,
        "1.1.0",
        {
            "index.js": MAIN_JS * 2,
            "style.css": STYLE[:100],
            "img/logo.png": LOGO,
            "pkgA/page.js": VENDOR,
            "new.js": b"x",
        },
        manifest=MANIFEST,
    )
    change = second.analysis["diff"]
    assert ([a["path"] for a in change["added"]], [r["path"] for r in change["removed"]]) == (
        ["new.js"],
        ["pkgA/copy.js"],
    )
    assert (change["grown"][0]["delta"], change["shrunk"][0]["path"]) == (6400, "style.css")


def test_the_first_release_has_no_diff(release):
    assert release.analysis["diff"] is None
