"""Taking, checking and restoring backups, independent of the console's models.

``take_backup`` reads a source consistently and stores it; the caller writes the manifest
(``Repository.write_manifest``) and only then marks the row complete. ``restore_to`` rebuilds a
backup at a scratch location next to the target, checks it, and swaps it in atomically.
``verify_structure`` / ``verify_data`` are the two verification levels.

``hook(step)`` is called at named points (crash points in tests, progress in tasks); raising
from it aborts the work at that point exactly as a crash would.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from backups import chunking, sources
from backups.repository import CorruptObject, Repository, RepositoryError
from backups.sources import SourceError

Hook = Callable[[str], None]
ProgressFn = Callable[["Progress"], None]


class RestoreFailed(RuntimeError):
    pass


@dataclass
class Progress:
    bytes_total: int = 0
    bytes_read: int = 0
    bytes_new: int = 0
    files_done: int = 0
    files_total: int = 0
    objects: int = 0
    objects_new: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.bytes_read / elapsed if elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        rate = self.rate
        if rate <= 0 or self.bytes_total <= 0:
            return None
        return max(0.0, (self.bytes_total - self.bytes_read) / rate)


@dataclass
class SourceSpec:
    kind: str  # sqlite | postgres | directory
    location: str  # a path, or for postgres the full DSN
    name: str = ""


def _noop(_step: str) -> None:
    return None


class _Store:
    """Feeds chunks to the repository and keeps the counters."""

    def __init__(
        self,
        repo: Repository,
        progress: Progress,
        report: ProgressFn,
        hook: Hook,
        check_stored: bool = False,
    ):
        self.repo, self.progress, self.report, self.hook = repo, progress, report, hook
        self.check_stored = check_stored  # full backups read reused objects back first
        self._last_report = 0.0
        self._first = True

    def put(self, chunk: bytes) -> str:
        object_id, stored = self.repo.add(chunk, check_stored=self.check_stored)
        p = self.progress
        p.bytes_read += len(chunk)
        p.objects += 1
        if stored:
            p.bytes_new += stored
            p.objects_new += 1
            if self._first:
                self._first = False
                self.repo.flush_pack()
                self.hook("after-first-object")
        now = time.monotonic()
        if now - self._last_report >= 0.5:
            self._last_report = now
            self.report(p)
        return object_id


def tree_line(path: str, kind: str, size: int, digest: str, mode: int) -> bytes:
    return f"{path}\0{kind}\0{size}\0{digest}\0{mode:o}\n".encode()


def manifest_tree_hash(entries: list[dict]) -> str:
    h = hashlib.sha256()
    for e in sorted(entries, key=lambda e: e["path"]):
        digest = e.get("sha256") or e.get("target", "")
        h.update(tree_line(e["path"], e["type"], e["size"], digest, e["mode"]))
    return h.hexdigest()


def directory_tree_hash(root: Path) -> str:
    """The same hash computed from a directory on disk (contents re-read)."""
    entries, _ = sources.scan_tree(root)
    rows = []
    for e in entries:
        digest = ""
        if e.type == "file":
            h = hashlib.sha256()
            with open(root / e.path, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
        elif e.type == "symlink":
            digest = e.target
        rows.append(
            {"path": e.path, "type": e.type, "size": e.size, "sha256": digest, "mode": e.mode}
        )
    return manifest_tree_hash(rows)


def _store_stream(store: _Store, chunks, digest) -> list[str]:
    ids = []
    for chunk in chunks:
        digest.update(chunk)
        ids.append(store.put(chunk))
    return ids


def take_backup(
    repo: Repository,
    spec: SourceSpec,
    *,
    backup_type: str,
    parent: dict | None,
    scratch_dir: Path,
    progress: ProgressFn | None = None,
    hook: Hook | None = None,
) -> dict:
    """Read ``spec`` and store its data; return the manifest body (not yet written).

    ``parent`` is the parent backup's manifest (differential: the last full; incremental: the
    last backup): directory files whose size, mtime, ctime and inode match it, and that pass the
    guards, are taken from it without being read again. A full backup reads everything, and
    reuses an already stored object only after reading that stored copy back (decrypt,
    authenticate, decompress, re-hash, once per object per run); a missing or damaged copy is
    stored again and counted in ``stats.objects_repaired``. Differential and incremental backups
    trust the index (no read-back).
    """
    hook = hook or _noop
    prog = Progress()
    report = progress or (lambda p: None)
    repo.reset_checks()
    store = _Store(repo, prog, report, hook, check_stored=backup_type == "full")
    started = datetime.now(UTC)
    body: dict = {
        "format": 1,
        "source": {
            "kind": spec.kind,
            "name": spec.name,
            "location": sources.redact_dsn(spec.location)
            if spec.kind == "postgres"
            else spec.location,
        },
        "type": backup_type,
        "parent": parent["backup"] if parent else None,
        "started_at": started.isoformat(),
    }
    scratch_dir.mkdir(parents=True, exist_ok=True)
    if spec.kind == "sqlite":
        scratch = scratch_dir / f"snapshot-{os.getpid()}-{time.monotonic_ns()}.sqlite3"
        try:
            info = sources.sqlite_snapshot(spec.location, scratch)
            size = scratch.stat().st_size
            prog.bytes_total, prog.files_total = size, 1
            block = chunking.block_size_for(info["page_size"], size)
            digest = hashlib.sha256()
            with open(scratch, "rb") as fh:
                ids = _store_stream(store, chunking.fixed_blocks(fh, block), digest)
        finally:
            scratch.unlink(missing_ok=True)
        prog.files_done = 1
        body["entries"] = [
            {
                "path": "database.sqlite3",
                "type": "file",
                "size": size,
                "mode": 0o600,
                "sha256": digest.hexdigest(),
                "chunks": ids,
            }
        ]
        body["database"] = {
            "page_size": info["page_size"],
            "block_size": block,
            "row_counts": info["row_counts"],
            "sha256": digest.hexdigest(),
        }
    elif spec.kind == "postgres":
        dump = sources.PgDump(spec.location, scratch_dir / f"pg_dump-{time.monotonic_ns()}.err")
        stats = sources.DumpStats()
        digest = hashlib.sha256()
        ids: list[str] = []
        ok = False
        try:
            # A text dump shifts on any change of a row's length, so it is cut by content (see
            # README: fixed blocks would store everything after the first change again).
            for chunk in chunking.Chunker().chunks(dump.stdout):
                stats.feed(chunk)
                digest.update(chunk)
                ids.append(store.put(chunk))
            ok = True
        finally:
            dump.close(ok_so_far=ok)
        size = prog.bytes_read
        prog.files_done = prog.files_total = 1
        body["entries"] = [
            {
                "path": "dump.sql",
                "type": "file",
                "size": size,
                "mode": 0o600,
                "sha256": digest.hexdigest(),
                "chunks": ids,
            }
        ]
        body["database"] = {
            "row_counts": stats.counts,
            "sha256": stats.hexdigest(),
            "format": "pg_dump plain",
        }
    elif spec.kind == "directory":
        body.update(_backup_tree(store, Path(spec.location), backup_type, parent, prog))
    else:
        raise SourceError(f"unknown source kind {spec.kind!r}")
    report(prog)
    hook("before-index")
    repo.flush_index()
    hook("before-manifest")
    body["finished_at"] = datetime.now(UTC).isoformat()
    body["tree_hash"] = manifest_tree_hash(body["entries"])
    body["stats"] = {
        "source_bytes": prog.bytes_total or prog.bytes_read,
        "bytes_read": prog.bytes_read,
        "bytes_new": prog.bytes_new,
        "objects": prog.objects,
        "objects_new": prog.objects_new,
        "files": sum(1 for e in body["entries"] if e["type"] == "file"),
        "objects_checked": repo.objects_checked,
        "objects_repaired": repo.objects_repaired,
    }
    return body


def _backup_tree(
    store: _Store, root: Path, backup_type: str, parent: dict | None, prog: Progress
) -> dict:
    scan_started_ns = time.time_ns()
    entries, skipped = sources.scan_tree(root)
    files = [e for e in entries if e.type == "file"]
    prog.files_total = len(files)
    prog.bytes_total = sum(e.size for e in files)
    previous: dict[str, dict] = {}
    if parent and backup_type != "full":
        previous = {e["path"]: e for e in parent.get("entries", []) if e["type"] == "file"}
    parent_scan = parent.get("scan_started_ns", 0) if parent else 0
    chunker = chunking.Chunker()
    out: list[dict] = []
    reused = reread_guard = 0
    for e in entries:
        row = {
            "path": e.path,
            "type": e.type,
            "size": e.size,
            "mode": e.mode,
            "mtime_ns": e.mtime_ns,
            "ctime_ns": e.ctime_ns,
            "inode": e.inode,
        }
        if e.type == "symlink":
            row["target"] = e.target
        if e.type != "file":
            out.append(row)
            continue
        old = previous.get(e.path)
        unchanged = (
            old is not None
            and (old["size"], old["mtime_ns"], old["ctime_ns"], old["inode"]) == e.key()
        )
        # pgBackRest's guards: a timestamp in the future, or one within a second of the parent's
        # scan (it may have changed again in that same second), means the metadata cannot be
        # trusted and the content is compared.
        guard = e.mtime_ns > scan_started_ns or e.mtime_ns >= parent_scan - 1_000_000_000
        if unchanged and not guard and all(store.repo.has(c) for c in old["chunks"]):
            row["sha256"], row["chunks"] = old["sha256"], old["chunks"]
            prog.bytes_read += e.size
            reused += 1
        else:
            if unchanged and guard:
                reread_guard += 1
            row.update(_read_file(store, root / e.path, chunker))
            row["size"] = row.pop("read_size")
        prog.files_done += 1
        out.append(row)
    return {
        "entries": out,
        "skipped": skipped,
        "scan_started_ns": scan_started_ns,
        "files_unchanged": reused,
        "files_reread_by_guard": reread_guard,
    }


def _read_file(store: _Store, path: Path, chunker: chunking.Chunker) -> dict:
    digest = hashlib.sha256()
    for _attempt in range(2):
        before = os.stat(path)
        digest = hashlib.sha256()
        start = store.progress.bytes_read
        with open(path, "rb") as fh:
            ids = _store_stream(store, chunker.chunks(fh), digest)
        after = os.stat(path)
        size = store.progress.bytes_read - start
        if (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns):
            return {"sha256": digest.hexdigest(), "chunks": ids, "read_size": size}
    # Still changing after a second read: keep what was read and say so in the manifest.
    return {"sha256": digest.hexdigest(), "chunks": ids, "read_size": size, "unstable": True}


# ----- verification ---------------------------------------------------------------------------
@dataclass
class Problem:
    object_id: str
    problem: str
    pack: str = ""

    def as_dict(self) -> dict:
        return {"object": self.object_id, "problem": self.problem, "pack": self.pack}


def verify_structure(repo: Repository, manifest: dict) -> list[Problem]:
    """Manifest and index agree: every referenced object is indexed, its pack exists and is long
    enough, and each file's size is the sum of its objects' sizes. Reads no object data."""
    problems: list[Problem] = []
    pack_sizes: dict[str, int | None] = {}
    for entry in manifest.get("entries", []):
        if entry["type"] != "file":
            continue
        total = 0
        for object_id in entry["chunks"]:
            loc = repo.location(object_id)
            if loc is None:
                problems.append(Problem(object_id, "not in the index"))
                continue
            if loc.pack not in pack_sizes:
                path = repo.pack_path(loc.pack)
                pack_sizes[loc.pack] = path.stat().st_size if path.exists() else None
            size = pack_sizes[loc.pack]
            if size is None:
                problems.append(Problem(object_id, "its pack is missing", loc.pack))
            elif size < loc.offset + loc.length:
                problems.append(Problem(object_id, "its pack is truncated", loc.pack))
            total += loc.raw_length
        if total != entry["size"]:
            problems.append(
                Problem(
                    "",
                    f"{entry['path']}: objects add up to {total} bytes, "
                    f"the manifest says {entry['size']}",
                )
            )
    return problems


def pack_in_slice(pack: str, k: int, t: int) -> bool:
    return int(pack[:8], 16) % t == k - 1


def verify_pack(repo: Repository, pack: str, entries) -> list[Problem]:
    """Read a whole pack, check its name is its hash, then decode and re-hash every object."""
    path = repo.pack_path(pack)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return [Problem(i, "its pack is missing", pack) for i, _ in entries]
    problems = []
    if hashlib.sha256(data).hexdigest() != pack:
        problems.append(Problem("", "pack content does not match its name", pack))
    for object_id, loc in entries:
        stored = data[loc.offset : loc.offset + loc.length]
        if len(stored) != loc.length:
            problems.append(Problem(object_id, "its pack is truncated", pack))
            continue
        try:
            repo.decode(object_id, stored, loc.raw_length)
        except CorruptObject as exc:
            problems.append(Problem(object_id, exc.problem, pack))
    return problems


def objects_by_path(manifest: dict) -> dict[str, list[str]]:
    return {e["path"]: e["chunks"] for e in manifest.get("entries", []) if e["type"] == "file"}


# ----- restore --------------------------------------------------------------------------------
class Steps:
    """Restore progress as a fraction, with the injectable failure point used by tests."""

    def __init__(self, report: Callable[[float, str], None] | None, fail_at: float | None):
        self.report = report or (lambda f, s: None)
        self.fail_at = fail_at
        self.fraction = 0.0

    def at(self, fraction: float, step: str) -> None:
        if self.fail_at is not None and self.fraction < self.fail_at <= fraction:
            raise RestoreFailed(f"injected failure at {int(self.fail_at * 100)}% ({step})")
        self.fraction = fraction
        self.report(fraction, step)


def _write_objects(
    repo: Repository,
    chunks: list[str],
    write,
    steps: Steps,
    lo: float,
    hi: float,
    done_total: list[int],
    total: int,
) -> None:
    for object_id in chunks:
        data = repo.get(object_id)
        write(data)
        done_total[0] += len(data)
        steps.at(lo + (hi - lo) * done_total[0] / max(total, 1), "writing")


def restore_sqlite(
    repo: Repository,
    manifest: dict,
    target: Path,
    scratch: Path,
    steps: Steps,
    lo: float,
    hi: float,
) -> None:
    entry = manifest["entries"][0]
    done = [0]
    digest = hashlib.sha256()
    with open(scratch, "xb") as fh:

        def write(data: bytes) -> None:
            digest.update(data)
            fh.write(data)

        _write_objects(repo, entry["chunks"], write, steps, lo, hi, done, entry["size"])
        fh.flush()
        os.fsync(fh.fileno())
    if digest.hexdigest() != entry["sha256"]:
        raise RestoreFailed("restored database does not match the manifest's content hash")
    steps.at(hi + 0.01, "checking")
    result = sources.sqlite_integrity(scratch)
    if result != "ok":
        raise RestoreFailed(f"integrity_check on the restored database: {result}")
    counts = sources.sqlite_row_counts(scratch)
    expected = manifest.get("database", {}).get("row_counts")
    if expected is not None and counts != expected:
        raise RestoreFailed("row counts of the restored database differ from the manifest")


def restore_tree(
    repo: Repository, manifest: dict, scratch: Path, steps: Steps, lo: float, hi: float
) -> None:
    scratch.mkdir()
    total = sum(e["size"] for e in manifest["entries"] if e["type"] == "file")
    done = [0]
    dirs = []
    for e in manifest["entries"]:
        path = scratch / e["path"]
        if e["type"] == "dir":
            path.mkdir()
            dirs.append((path, e))
        elif e["type"] == "symlink":
            os.symlink(e["target"], path)
        else:
            with open(path, "xb") as fh:
                _write_objects(repo, e["chunks"], fh.write, steps, lo, hi, done, total)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(path, e["mode"])
            os.utime(path, ns=(e["mtime_ns"], e["mtime_ns"]))
    for path, e in reversed(dirs):
        os.chmod(path, e["mode"])
        os.utime(path, ns=(e["mtime_ns"], e["mtime_ns"]))
    steps.at(hi + 0.01, "checking")
    if directory_tree_hash(scratch) != manifest["tree_hash"]:
        raise RestoreFailed("restored tree hash differs from the manifest's")


def restore_postgres(
    repo: Repository,
    manifest: dict,
    admin_dsn: str,
    scratch_db: str,
    steps: Steps,
    lo: float,
    hi: float,
    scratch_dir: Path,
) -> None:
    sources.psql(admin_dsn, f"CREATE DATABASE {sources.pg_quote(scratch_db)}")
    dsn = sources.dsn_with_database(admin_dsn, scratch_db)
    loader = sources.PsqlLoader(dsn, scratch_dir / f"psql-{time.monotonic_ns()}.err")
    entry = manifest["entries"][0]
    ok = False
    try:
        _write_objects(repo, entry["chunks"], loader.write, steps, lo, hi, [0], entry["size"])
        ok = True
    finally:
        loader.close(ok_so_far=ok)
    steps.at(hi + 0.01, "checking")
    expected = manifest["database"]["row_counts"]
    counts = sources.pg_row_counts(dsn, list(expected))
    if counts != expected:
        diff = {t: (expected[t], counts.get(t)) for t in expected if counts.get(t) != expected[t]}
        raise RestoreFailed(f"row counts differ from the manifest: {diff}")
    stats = sources.DumpStats()
    dump = sources.PgDump(dsn, scratch_dir / f"pg_dump-{time.monotonic_ns()}.err")
    ok = False
    try:
        for block in iter(lambda: dump.stdout.read(1 << 20), b""):
            stats.feed(block)
        ok = True
    finally:
        dump.close(ok_so_far=ok)
    if stats.hexdigest() != manifest["database"]["sha256"]:
        raise RestoreFailed("a pg_dump of the restored database differs from the backup's")


def swap_postgres(admin_dsn: str, target: str, new: str, old: str | None) -> None:
    """Rename databases in one transaction: the target name always names a whole database."""
    q = sources.pg_quote
    names = f"{sources.pg_literal(target)}, {sources.pg_literal(new)}"
    terminate = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname IN (%s) "
    sources.psql(admin_dsn, terminate % names + "AND pid <> pg_backend_pid()")
    renames = f"ALTER DATABASE {q(new)} RENAME TO {q(target)};"
    if old:
        renames = f"ALTER DATABASE {q(target)} RENAME TO {q(old)}; " + renames
    sources.psql(admin_dsn, f"BEGIN; {renames} COMMIT;")


def drop_database(admin_dsn: str, name: str) -> None:
    sources.psql(admin_dsn, f"DROP DATABASE IF EXISTS {sources.pg_quote(name)} WITH (FORCE)")


def remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


__all__ = [
    "Progress",
    "RepositoryError",
    "RestoreFailed",
    "SourceError",
    "SourceSpec",
    "take_backup",
    "verify_pack",
    "verify_structure",
]
