"""Packages read from real bundles: package-lock v1/v2/v3 and requirements files."""

import json

import pytest

from security import manifests
from tests.security.conftest import bundle, lock_v3


def _read(tmp_path, files):
    path = tmp_path / "b.zip"
    path.write_bytes(bundle(files))
    return manifests.read_bundle(path)


def _pairs(packages):
    return sorted((p.ecosystem, p.name, p.version, p.skip_reason) for p in packages)


def test_lockfile_v3_packages_are_read_without_the_root_or_workspaces(tmp_path):
    lock = {
        "lockfileVersion": 3,
        "packages": {
            "": {"name": "demo", "version": "1.0.0"},
            "node_modules/lodash": {"version": "4.17.20"},
            "node_modules/a/node_modules/@scope/b": {"version": "2.0.0-beta.1"},
            "packages/local": {"version": "0.1.0"},
            "node_modules/local": {"resolved": "packages/local", "link": True},
            "node_modules/aliased": {"name": "real-name", "version": "1.0.0"},
        },
    }
    packages, files = _read(tmp_path, {"package-lock.json": json.dumps(lock)})
    assert files == ["package-lock.json"]
    assert _pairs(packages) == [
        ("npm", "@scope/b", "2.0.0-beta.1", ""),
        ("npm", "lodash", "4.17.20", ""),
        ("npm", "real-name", "1.0.0", ""),
    ]


def test_lockfile_v1_dependencies_are_walked_recursively(tmp_path):
    lock = {
        "lockfileVersion": 1,
        "dependencies": {
            "express": {"version": "4.17.1", "dependencies": {"qs": {"version": "6.7.0"}}},
            "gitdep": {"version": "github:user/repo#abc"},
        },
    }
    packages, _ = _read(tmp_path, {"app/package-lock.json": json.dumps(lock)})
    assert _pairs(packages)[:2] == [
        ("npm", "express", "4.17.1", ""),
        ("npm", "gitdep", "github:user/repo#abc", "version is not SemVer (a URL, tag or git?)"),
    ]
    assert ("npm", "qs", "6.7.0", "") in _pairs(packages)


def test_requirements_keep_pins_and_record_everything_else_as_skipped(tmp_path):
    text = "\n".join(
        [
            "# comment",
            "Django==4.2.0  # pinned",
            "requests>=2.0",
            "flask",
            "numpy==1.*",
            "attrs==23.1.0 \\",
            "    --hash=sha256:abc",
            "-r other.txt",
            "--index-url http://127.0.0.1/simple",
            "-e ./local",
            "pkg @ file:///tmp/pkg.whl",
            "!!! what",
            'tomli==2.0.1; python_version < "3.11"',
        ]
    )
    packages, files = _read(tmp_path, {"server/requirements-prod.txt": text})
    assert files == ["server/requirements-prod.txt"]
    checked = [(p.name, p.version) for p in packages if not p.skip_reason]
    assert checked == [("django", "4.2.0"), ("attrs", "23.1.0"), ("tomli", "2.0.1")]
    skipped = {p.name: p.skip_reason for p in packages if p.skip_reason}
    assert skipped["requests"].startswith("not pinned with ==")
    assert skipped["flask"] == "not pinned with == (no version)"
    assert skipped["numpy"].startswith("not pinned")
    assert skipped["-e ./local"] == "editable install: no version"
    assert skipped["pkg"] == "installed from a URL: no version"
    assert skipped["!!! what"] == "not a requirement we can parse"


def test_files_inside_node_modules_and_other_files_are_ignored(tmp_path):
    files = {
        "node_modules/x/package-lock.json": lock_v3({"y": "1.0.0"}),
        "requirements.in": "django",
        "notes.txt": "x",
    }
    packages, names = _read(tmp_path, files)
    assert (packages, names) == ([], [])


def test_an_unreadable_lock_file_is_an_error(tmp_path):
    with pytest.raises(manifests.ManifestError, match="not valid JSON"):
        _read(tmp_path, {"package-lock.json": "{"})


def test_a_missing_bundle_is_an_error(tmp_path):
    with pytest.raises(manifests.ManifestError, match="cannot open"):
        manifests.read_bundle(tmp_path / "missing.zip")
