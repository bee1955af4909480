"""Bundle storage (content-addressed by SHA-256) and zip validation.

Upload path: ``receive`` streams the upload into a temporary file inside the bundle directory
while hashing it (never the whole file in memory), fsyncs it, and validates the zip. Only then
does ``store`` move it to ``<BUNDLE_DIR>/<sha[:2]>/<sha>.zip`` with an atomic rename; a file
already there has the same bytes by construction and is kept. A rejected upload leaves nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

CHUNK = 1024 * 1024
MANIFEST = "app.json"


def _setting(name: str, default):
    return getattr(settings, name, default)


def limits() -> dict[str, int]:
    """Validation limits, overridable in settings (RELEASES_MAX_*)."""
    return {
        "max_upload_bytes": _setting("RELEASES_MAX_UPLOAD_BYTES", 100 * 1024 * 1024),
        "max_files": _setting("RELEASES_MAX_FILES", 5000),
        "max_uncompressed_bytes": _setting("RELEASES_MAX_UNCOMPRESSED_BYTES", 200 * 1024 * 1024),
        # Per file and overall: a 1 KiB entry inflating past 200 KiB is treated as a zip bomb.
        "max_ratio": _setting("RELEASES_MAX_COMPRESSION_RATIO", 200),
    }


def bundle_dir() -> Path:
    return Path(_setting("RELEASES_BUNDLE_DIR", settings.DATA_DIR / "bundles"))


def bundle_path(sha256: str) -> Path:
    return bundle_dir() / sha256[:2] / f"{sha256}.zip"


class BundleError(ValueError):
    """A bundle was refused; ``code`` is machine-readable (API error code)."""

    def __init__(self, code: str, detail: str):
        super().__init__(detail)
        self.code, self.detail = code, detail


@dataclass
class Received:
    """An upload written to a temporary file, hashed and validated, not yet stored."""

    temp_path: Path
    sha256: str
    size: int
    manifest: dict = field(default_factory=dict)

    def discard(self) -> None:
        self.temp_path.unlink(missing_ok=True)


def receive(chunks, *, max_bytes: int | None = None) -> Received:
    """Write ``chunks`` (an iterable of bytes, e.g. ``UploadedFile.chunks()``) to a temporary
    file while hashing it, then validate it as a bundle. Raises BundleError (nothing kept)."""
    max_bytes = max_bytes or limits()["max_upload_bytes"]
    tmp_dir = bundle_dir() / "tmp"
    tmp_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    size = 0
    fd, name = tempfile.mkstemp(dir=tmp_dir, suffix=".upload")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BundleError("too_large", f"the bundle is larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise BundleError("bad_zip", "the bundle is empty")
        manifest = validate(path)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return Received(temp_path=path, sha256=digest.hexdigest(), size=size, manifest=manifest)


def adopt(path: Path, sha256: str, size: int) -> Received:
    """A file the upload handler already wrote (and hashed) into the bundle folder, validated.
    Raises BundleError; the caller's file is then deleted with the request's files."""
    if size == 0:
        raise BundleError("bad_zip", "the bundle is empty")
    return Received(temp_path=Path(path), sha256=sha256, size=size, manifest=validate(Path(path)))


def store(received: Received) -> Path:
    """Move a received bundle to its content address (atomic rename, directory fsynced)."""
    target = bundle_path(received.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        received.discard()  # same hash, same bytes: keep the stored copy
        return target
    os.replace(received.temp_path, target)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return target


STALE_UPLOAD_SECONDS = 6 * 3600


def sweep_temporary(now) -> int:
    """Controller hook: delete upload files a crashed process left in ``<bundle dir>/tmp``.

    Only files older than STALE_UPLOAD_SECONDS (by mtime), so uploads in progress are safe; two
    controllers sweeping at once both just skip what the other deleted.
    """
    tmp = bundle_dir() / "tmp"
    if not tmp.exists():
        return 0
    cutoff = now.timestamp() - STALE_UPLOAD_SECONDS
    removed = 0
    for path in tmp.iterdir():
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            continue
    return removed


def _unsafe_name(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    parts = name.replace("\\", "/").split("/")
    if ".." in parts:
        return "a '..' component"
    return None


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    # Unix mode bits live in the high 16 bits of external_attr when the zip was made on Unix.
    return stat.S_ISLNK(info.external_attr >> 16)


def validate(path: Path) -> dict:
    """Check a zip on disk against every rule; returns the parsed manifest or BundleError."""
    lim = limits()
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BundleError("bad_zip", f"not a valid zip file ({exc})") from None
    with archive:
        infos = archive.infolist()
        files = [i for i in infos if not i.is_dir()]
        if len(files) > lim["max_files"]:
            raise BundleError(
                "too_many_files", f"{len(files)} files; the limit is {lim['max_files']}"
            )
        seen: set[str] = set()
        total = compressed = 0
        for info in infos:
            problem = _unsafe_name(info.filename)
            if problem:
                raise BundleError("unsafe_path", f"{info.filename!r} is {problem}")
            if _is_symlink(info):
                raise BundleError("symlink", f"{info.filename!r} is a symbolic link")
            normalised = posixpath.normpath(info.filename.replace("\\", "/"))
            if normalised in seen:
                raise BundleError("duplicate_name", f"{info.filename!r} appears twice")
            seen.add(normalised)
            total += info.file_size
            compressed += info.compress_size
            if (
                info.file_size > lim["max_uncompressed_bytes"]
                or total > lim["max_uncompressed_bytes"]
            ):
                raise BundleError(
                    "too_large_uncompressed",
                    f"uncompressed size exceeds {lim['max_uncompressed_bytes']} bytes",
                )
            if info.file_size > 1024 and info.file_size > lim["max_ratio"] * max(
                info.compress_size, 1
            ):
                raise BundleError(
                    "compression_ratio",
                    f"{info.filename!r} inflates {info.file_size // max(info.compress_size, 1)}x"
                    f"; the limit is {lim['max_ratio']}x (zip bomb?)",
                )
        if total > 1024 and total > lim["max_ratio"] * max(compressed, 1):
            raise BundleError(
                "compression_ratio",
                f"the bundle's overall compression ratio is over {lim['max_ratio']}x (zip bomb?)",
            )
        if MANIFEST not in seen:
            raise BundleError("no_manifest", f"the bundle has no {MANIFEST} at its root")
        try:
            manifest = json.loads(archive.read(MANIFEST))
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError("bad_manifest", f"{MANIFEST} is not valid JSON ({exc})") from None
        except (zipfile.BadZipFile, OSError, RuntimeError) as exc:
            raise BundleError("bad_zip", f"cannot read {MANIFEST} ({exc})") from None
        if not isinstance(manifest, dict):
            raise BundleError("bad_manifest", f"{MANIFEST} must be a JSON object")
        try:
            subpackage_roots(manifest)
        except ValueError as exc:
            raise BundleError("bad_manifest", str(exc)) from None
        # CRCs: a corrupt member must not pass as a valid bundle.
        try:
            bad = archive.testzip()
        except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
            raise BundleError("bad_zip", f"the zip is corrupt ({exc})") from None
        if bad is not None:
            raise BundleError("bad_zip", f"{bad!r} is corrupt (CRC mismatch)")
    return manifest


def subpackage_roots(manifest: dict) -> list[str]:
    """Subpackage roots from the manifest (``subpackages`` or WeChat's ``subPackages``: a list of
    ``{"root": "pkgA/"}`` or plain strings), each normalised to end with "/"."""
    entries = manifest.get("subpackages", manifest.get("subPackages", [])) or []
    if not isinstance(entries, list):
        raise ValueError("subpackages must be a list")
    roots = []
    for entry in entries:
        root = entry.get("root") if isinstance(entry, dict) else entry
        if not isinstance(root, str) or not root.strip("/"):
            raise ValueError(f"subpackage entry {entry!r} has no root")
        roots.append(root.strip("/") + "/")
    return roots
