"""What a release ships: packages from the lock and requirements files inside its bundle.

Read from the stored bundle (``releases.bundles.bundle_path``) entry by entry, in memory, never
extracted; the bundle was checked for traversal, symlinks and bombs when it was uploaded, and
each manifest read here is capped again.

- ``package-lock.json`` / ``npm-shrinkwrap.json``: lockfileVersion 2 and 3 ``packages`` (keys
  ``node_modules/…``; the root ``""`` and local workspace folders are not registry packages and
  are left out), lockfileVersion 1 ``dependencies`` (nested).
- ``requirements*.txt``: only exact pins (``name==version``) can be audited; every other
  requirement line (a range, no version, an editable or URL install, a line we cannot parse) is
  recorded as skipped with the reason. Option lines (``--hash``, ``-r``, ``--index-url``) are
  not packages.
"""

from __future__ import annotations

import json
import posixpath
import re
import zipfile
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from security import matching

MAX_MANIFEST_BYTES = 32 * 1024 * 1024
LOCK_NAMES = {"package-lock.json", "npm-shrinkwrap.json"}
REQUIREMENTS_GLOB = "requirements*.txt"


class ManifestError(ValueError):
    """A manifest or the bundle could not be read: the scan is an error, not a result."""


@dataclass(frozen=True)
class Package:
    ecosystem: str
    name: str
    version: str
    source_file: str
    skip_reason: str = ""  # non-empty: could not be checked, and why


def is_manifest(name: str) -> bool:
    base = posixpath.basename(name)
    if "node_modules/" in name:
        return False  # lock files of installed dependencies describe them, not the app
    return base in LOCK_NAMES or fnmatch(base, REQUIREMENTS_GLOB)


def _npm_package(name: str, version, source: str) -> Package:
    version = str(version or "")
    if not version:
        return Package("npm", name, "", source, "no version in the lock file")
    try:
        matching.parse("npm", version)
    except matching.InvalidVersion:
        return Package("npm", name, version, source, "version is not SemVer (a URL, tag or git?)")
    return Package("npm", name, version, source)


def parse_package_lock(data: bytes, source: str) -> list[Package]:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{source} is not valid JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ManifestError(f"{source} is not a JSON object")
    packages: list[Package] = []
    if isinstance(doc.get("packages"), dict):  # lockfileVersion 2 and 3
        for key, entry in doc["packages"].items():
            if not isinstance(entry, dict) or "node_modules/" not in f"{key}/" or key == "":
                continue
            if not key.startswith("node_modules/") and "/node_modules/" not in key:
                continue  # a workspace folder: local code, not a registry package
            if entry.get("link"):
                continue  # points at a workspace folder listed under its own key
            name = entry.get("name") or key.rsplit("node_modules/", 1)[1]
            packages.append(_npm_package(name, entry.get("version"), source))
        return packages
    if isinstance(doc.get("dependencies"), dict):  # lockfileVersion 1

        def walk(deps: dict) -> None:
            for name, entry in deps.items():
                if not isinstance(entry, dict):
                    continue
                packages.append(_npm_package(name, entry.get("version"), source))
                if isinstance(entry.get("dependencies"), dict):
                    walk(entry["dependencies"])

        walk(doc["dependencies"])
        return packages
    if doc.get("lockfileVersion") is None:
        raise ManifestError(f"{source} has neither 'packages' nor 'dependencies'")
    return packages


_OPTION = re.compile(r"^-{1,2}[A-Za-z]")


def _logical_lines(text: str) -> list[str]:
    lines, current = [], ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        lines.append(current + line)
        current = ""
    if current:
        lines.append(current)
    return lines


def parse_requirements(data: bytes, source: str) -> list[Package]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{source} is not UTF-8 text ({exc})") from None
    packages: list[Package] = []
    for line in _logical_lines(text):
        line = re.sub(r"(^|\s)#.*$", "", line).strip()
        if not line:
            continue
        if line.startswith(("-e ", "--editable")):
            packages.append(Package("PyPI", line, "", source, "editable install: no version"))
            continue
        if _OPTION.match(line):
            continue  # -r, -c, --hash, --index-url …: not a package
        line = re.split(r"\s+--?[A-Za-z]", line)[0].strip()  # trailing per-line options
        try:
            req = Requirement(line)
        except InvalidRequirement:
            packages.append(
                Package("PyPI", line[:200], "", source, "not a requirement we can parse")
            )
            continue
        name = matching.normalise_name("PyPI", req.name)
        if req.url:
            packages.append(Package("PyPI", name, "", source, "installed from a URL: no version"))
            continue
        specs = list(req.specifier)
        if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
            version = specs[0].version
            try:
                matching.parse("PyPI", version)
            except matching.InvalidVersion:
                packages.append(
                    Package("PyPI", name, version, source, "pinned version is not PEP 440")
                )
                continue
            packages.append(Package("PyPI", name, version, source))
        else:
            why = f"not pinned with == ({req.specifier or 'no version'})"
            packages.append(Package("PyPI", name, "", source, why))
    return packages


def read_bundle(path: Path) -> tuple[list[Package], list[str]]:
    """Packages in the bundle at ``path`` and the manifest files they came from.

    Raises ManifestError when the bundle or a manifest cannot be read."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise ManifestError(f"cannot open the bundle ({exc})") from None
    packages: list[Package] = []
    files: list[str] = []
    with archive:
        for info in archive.infolist():
            if info.is_dir() or not is_manifest(info.filename):
                continue
            if info.file_size > MAX_MANIFEST_BYTES:
                raise ManifestError(f"{info.filename} is larger than {MAX_MANIFEST_BYTES} bytes")
            try:
                with archive.open(info) as stream:
                    data = stream.read(MAX_MANIFEST_BYTES + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                raise ManifestError(f"cannot read {info.filename} ({exc})") from None
            files.append(info.filename)
            if posixpath.basename(info.filename) in LOCK_NAMES:
                packages.extend(parse_package_lock(data, info.filename))
            else:
                packages.extend(parse_requirements(data, info.filename))
    return packages, files
