"""The content-addressed repository: packs, indexes, manifests. Format in backups/README.md.

Writes follow one order so that a crash at any point leaves a consistent repository:
data packs → the index file naming them → the manifest. Every file is written once, under a
temporary name, fsynced, linked to its final name (never overwriting) and its directory fsynced.
A pack without an index, or indexed objects no manifest references, are garbage that ``prune``
removes; they never make a backup look complete.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import zstandard

from backups.crypto import AuthenticationError, KeyProblem, Keys

FORMAT = 1
PACK_MAGIC = b"UPKPACK1"
PACK_TARGET = 16 * 1024 * 1024
ZSTD_LEVEL = 3
CHUNKER = "trigram-run11-blake2b-v1"


class RepositoryError(RuntimeError):
    pass


class CorruptObject(RepositoryError):
    def __init__(self, object_id: str, problem: str):
        super().__init__(f"object {object_id[:16]}…: {problem}")
        self.object_id = object_id
        self.problem = problem


@dataclass(frozen=True)
class Location:
    pack: str
    offset: int
    length: int  # bytes stored in the pack
    raw_length: int  # plaintext bytes


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def mkdir_durably(folder: Path) -> None:
    """Create ``folder`` and any missing parents, fsyncing each new folder's parent so the new
    entry (say a two-character pack folder under ``packs/``) survives a power cut."""
    missing = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir()
        fsync_dir(d.parent)


def write_once(path: Path, data: bytes, tmp_dir: Path) -> bool:
    """Write ``data`` durably at ``path`` unless it exists. Returns False if it already existed.

    The temporary file is fsynced before it gets its name, and the directory after, so the name
    never points at a partly written file, even after a power cut.
    """
    if path.exists():
        return False
    mkdir_durably(path.parent)
    tmp = tmp_dir / f"{path.name}.{secrets.token_hex(6)}.tmp"
    with open(tmp, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    try:
        os.link(tmp, path)  # unlike rename, link never replaces an existing file
    except FileExistsError:
        return False
    finally:
        tmp.unlink()
    fsync_dir(path.parent)
    return True


def replace_durably(path: Path, data: bytes, tmp_dir: Path) -> None:
    """For the one mutable file (verification state): temp, fsync, rename over, fsync dir."""
    tmp = tmp_dir / f"{path.name}.{secrets.token_hex(6)}.tmp"
    with open(tmp, "xb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def manifest_bytes(body: dict) -> bytes:
    """Canonical JSON, then a last line with the SHA-256 of everything before it."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode()).hexdigest()
    return f"{text}\nsha256 {digest}\n".encode()


def parse_manifest(data: bytes) -> dict:
    try:
        text, last, trailer = data.decode().rsplit("\n", 2)
    except (UnicodeDecodeError, ValueError):
        raise RepositoryError("manifest is not in the expected format") from None
    if trailer != "" or not last.startswith("sha256 "):
        raise RepositoryError("manifest has no checksum line")
    if hashlib.sha256(text.encode()).hexdigest() != last[7:]:
        raise RepositoryError("manifest checksum does not match its content")
    return json.loads(text)


class Repository:
    def __init__(self, path: Path | str, master_key: bytes | None = None):
        self.path = Path(path)
        config_path = self.path / "config.json"
        if not config_path.exists():
            raise RepositoryError(f"no repository at {self.path}")
        self.config = json.loads(config_path.read_text())
        if self.config.get("format") != FORMAT:
            raise RepositoryError(f"unsupported repository format {self.config.get('format')}")
        self.encrypted = bool(self.config.get("encrypted"))
        self.keys: Keys | None = None
        if self.encrypted:
            if master_key is None:
                raise KeyProblem("this repository is encrypted: set UPKEEP_BACKUP_KEY")
            self.keys = Keys(master_key)
            if self.keys.check_value() != self.config.get("key_check"):
                raise KeyProblem("UPKEEP_BACKUP_KEY does not open this repository")
        self.tmp = self.path / "tmp"
        self._cctx = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._dctx = zstandard.ZstdDecompressor()
        self._lock = threading.Lock()
        self._index: dict[str, Location] = {}
        self._index_files: dict[str, list[str]] = {}  # index file name -> packs it names
        self._pending: list[tuple[str, bytes, int]] = []  # (id, stored, raw length), unpacked
        self._pending_ids: set[str] = set()
        self._pending_size = 0
        self._unindexed: dict[str, list[tuple[str, int, int, int]]] = {}
        # Full-backup check of reused objects (see add(check_stored=True)): per object, whether
        # its stored copy read back good in this run, so each is read at most once per run.
        self._checked: dict[str, bool] = {}
        self._superseding: set[str] = set()  # re-stored ids whose new copy must win in the index
        self.objects_checked = 0
        self.objects_repaired = 0
        self.load_index()

    # ----- creation -----------------------------------------------------------------------------
    @classmethod
    def init(cls, path: Path | str, master_key: bytes | None = None) -> Repository:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        for sub in ("packs", "index", "manifests", "tmp", "state"):
            (path / sub).mkdir(exist_ok=True)
        config = {
            "format": FORMAT,
            "id": secrets.token_hex(16),
            "created_at": datetime.now(UTC).isoformat(),
            "hash": "hmac-sha256" if master_key else "sha256",
            "compression": "zstd",
            "cipher": "chacha20-poly1305" if master_key else "none",
            "encrypted": master_key is not None,
            "chunker": CHUNKER,
        }
        if master_key is not None:
            config["key_check"] = Keys(master_key).check_value()
        write_once(path / "config.json", json.dumps(config, indent=2).encode(), path / "tmp")
        return cls(path, master_key)

    @classmethod
    def open_or_init(cls, path: Path | str, master_key: bytes | None = None) -> Repository:
        if (Path(path) / "config.json").exists():
            return cls(path, master_key)
        return cls.init(path, master_key)

    # ----- index --------------------------------------------------------------------------------
    def load_index(self) -> None:
        """Read every index file, oldest first (by its ``written_ns``; files without one count as
        oldest). An id indexed twice resolves to the newest entry: a full backup that found a
        stored copy damaged writes a fresh copy, and that copy must win for later backups."""
        self._index.clear()
        self._index_files.clear()
        loaded = []
        for idx in (self.path / "index").glob("*.idx"):
            data = json.loads(self._dctx.decompress(idx.read_bytes()))
            loaded.append((int(data.get("written_ns", 0)), idx.name, data))
        for _, name, data in sorted(loaded, key=lambda t: (t[0], t[1])):
            self._index_files[name] = list(data["packs"])
            for pack, entries in data["packs"].items():
                for object_id, offset, length, raw_length in entries:
                    self._index[object_id] = Location(pack, offset, length, raw_length)

    def pack_path(self, pack: str) -> Path:
        return self.path / "packs" / pack[:2] / pack

    def object_id(self, plaintext: bytes) -> str:
        if self.keys is not None:
            return self.keys.object_id(plaintext)
        return hashlib.sha256(plaintext).hexdigest()

    def has(self, object_id: str) -> bool:
        return object_id in self._index or object_id in self._pending_ids

    def location(self, object_id: str) -> Location | None:
        return self._index.get(object_id)

    def object_ids(self) -> set[str]:
        return set(self._index)

    def packs(self) -> dict[str, list[tuple[str, Location]]]:
        by_pack: dict[str, list[tuple[str, Location]]] = {}
        for object_id, loc in self._index.items():
            by_pack.setdefault(loc.pack, []).append((object_id, loc))
        for entries in by_pack.values():
            entries.sort(key=lambda e: e[1].offset)
        return by_pack

    # ----- writing ------------------------------------------------------------------------------
    def _encode(self, object_id: str, plaintext: bytes) -> bytes:
        stored = self._cctx.compress(plaintext)
        if self.keys is not None:
            stored = self.keys.seal(stored, object_id.encode())
        return stored

    def reset_checks(self) -> None:
        """Start a new backup run: forget which stored copies were read back, zero the counts."""
        self._checked.clear()
        self.objects_checked = 0
        self.objects_repaired = 0

    def stored_copy_ok(self, object_id: str) -> bool:
        """Read the indexed copy of ``object_id`` back (decrypt, authenticate, decompress,
        re-hash), once per run: later calls answer from the run's cache."""
        if object_id not in self._checked:
            try:
                self.get(object_id)
                ok = True
            except (CorruptObject, OSError):
                ok = False
            self._checked[object_id] = ok
            self.objects_checked += 1
        return self._checked[object_id]

    def add(
        self, plaintext: bytes, object_id: str | None = None, *, check_stored: bool = False
    ) -> tuple[str, int]:
        """Store one object unless present. Returns (id, bytes newly stored: 0 if deduplicated).

        With ``check_stored`` (full backups), an already indexed object is reused only if its
        stored copy reads back good; otherwise a fresh copy is written to a new pack and the index
        points at it from then on (``objects_repaired`` counts these).
        """
        object_id = object_id or self.object_id(plaintext)
        if object_id in self._pending_ids:
            return object_id, 0
        if object_id in self._index:
            if not check_stored or self.stored_copy_ok(object_id):
                return object_id, 0
            self._superseding.add(object_id)
            self._checked[object_id] = True  # the fresh copy is written from the source bytes
            self.objects_repaired += 1
        elif check_stored:
            self._checked[object_id] = True
        stored = self._encode(object_id, plaintext)
        self._pending.append((object_id, stored, len(plaintext)))
        self._pending_ids.add(object_id)
        self._pending_size += len(stored)
        if self._pending_size >= PACK_TARGET:
            self.flush_pack()
        return object_id, len(stored)

    def flush_pack(self) -> str | None:
        """Write pending objects as one pack file (data first; its index comes later)."""
        if not self._pending:
            return None
        parts = [PACK_MAGIC]
        entries = []
        offset = len(PACK_MAGIC)
        for object_id, stored, raw_length in self._pending:
            parts.append(stored)
            entries.append((object_id, offset, len(stored), raw_length))
            offset += len(stored)
        data = b"".join(parts)
        pack = hashlib.sha256(data).hexdigest()
        write_once(self.pack_path(pack), data, self.tmp)
        self._unindexed[pack] = entries
        for object_id, off, length, raw_length in entries:
            loc = Location(pack, off, length, raw_length)
            if object_id in self._superseding:
                self._index[object_id] = loc
                self._superseding.discard(object_id)
            else:
                self._index.setdefault(object_id, loc)
        self._pending.clear()
        self._pending_ids.clear()
        self._pending_size = 0
        return pack

    def flush_index(self) -> str | None:
        """Make written packs known: one new index file naming them (after the packs)."""
        self.flush_pack()
        if not self._unindexed:
            return None
        name = self._write_index({p: [list(e) for e in es] for p, es in self._unindexed.items()})
        self._unindexed.clear()
        return name

    def _write_index(self, packs: dict[str, list]) -> str:
        body = {"packs": packs, "written_ns": time.time_ns()}
        data = self._cctx.compress(json.dumps(body, sort_keys=True).encode())
        name = hashlib.sha256(data).hexdigest() + ".idx"
        write_once(self.path / "index" / name, data, self.tmp)
        self._index_files[name] = list(packs)
        return name

    # ----- reading ------------------------------------------------------------------------------
    def decode(self, object_id: str, stored: bytes, raw_length: int) -> bytes:
        """Authenticate, decompress and re-hash one stored object; raise CorruptObject if bad."""
        if self.keys is not None:
            try:
                stored = self.keys.open(stored, object_id.encode())
            except AuthenticationError as exc:
                raise CorruptObject(object_id, str(exc)) from None
        try:
            plaintext = self._dctx.decompress(stored, max_output_size=max(raw_length, 1))
        except zstandard.ZstdError as exc:
            raise CorruptObject(object_id, f"does not decompress ({exc})") from None
        if len(plaintext) != raw_length:
            raise CorruptObject(object_id, "wrong length")
        if self.object_id(plaintext) != object_id:
            raise CorruptObject(object_id, "content does not match its id")
        return plaintext

    def get(self, object_id: str) -> bytes:
        loc = self._index.get(object_id)
        if loc is None:
            raise CorruptObject(object_id, "not in the index")
        try:
            with open(self.pack_path(loc.pack), "rb") as fh:
                fh.seek(loc.offset)
                stored = fh.read(loc.length)
        except FileNotFoundError:
            raise CorruptObject(object_id, f"pack {loc.pack[:16]}… is missing") from None
        if len(stored) != loc.length:
            raise CorruptObject(object_id, f"pack {loc.pack[:16]}… is truncated")
        return self.decode(object_id, stored, loc.raw_length)

    # ----- manifests ----------------------------------------------------------------------------
    def manifest_path(self, name: str) -> Path:
        return self.path / "manifests" / name

    def write_manifest(self, name: str, body: dict) -> str:
        """Write the manifest, last; returns its SHA-256 (of the checksummed plaintext)."""
        self.flush_index()
        data = manifest_bytes(body)
        stored = self._cctx.compress(data)
        if self.keys is not None:
            stored = self.keys.seal(stored, f"manifest:{name}".encode())
        if not write_once(self.manifest_path(name), stored, self.tmp):
            raise RepositoryError(f"manifest {name} already exists")
        return hashlib.sha256(data).hexdigest()

    def read_manifest(self, name: str) -> dict:
        path = self.manifest_path(name)
        try:
            stored = path.read_bytes()
        except FileNotFoundError:
            raise RepositoryError(f"manifest {name} is missing") from None
        if self.keys is not None:
            try:
                stored = self.keys.open(stored, f"manifest:{name}".encode())
            except AuthenticationError:
                raise RepositoryError(f"manifest {name} fails authentication") from None
        try:
            data = self._dctx.decompress(stored, max_output_size=1 << 31)
        except zstandard.ZstdError:
            raise RepositoryError(f"manifest {name} does not decompress") from None
        return parse_manifest(data)

    def manifest_names(self) -> list[str]:
        return sorted(p.name for p in (self.path / "manifests").iterdir() if p.is_file())

    def delete_manifest(self, name: str) -> None:
        path = self.manifest_path(name)
        if path.exists():
            path.unlink()
            fsync_dir(path.parent)

    # ----- verification state (the one rewritten file: facts about checks, never data) --------
    def verified_state(self) -> dict[str, str]:
        path = self.path / "state" / "verified.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def record_verified(self, state: dict[str, str]) -> None:
        replace_durably(self.path / "state" / "verified.json", json.dumps(state).encode(), self.tmp)

    def failed_state(self) -> dict[str, str]:
        """{packid: ISO time of its last failing data check}, for packs not checked good since."""
        path = self.path / "state" / "failed.json"
        return json.loads(path.read_text()) if path.exists() else {}

    def record_pack_check(self, pack: str, at: str, ok: bool) -> None:
        """Record one pack's data check: a pass dates it in ``verified.json`` and clears an
        earlier failure; a failure removes its pass date and is kept in ``failed.json``, so no
        later run that skips the pack can count it as verified."""
        verified, failed = self.verified_state(), self.failed_state()
        if ok:
            verified[pack] = at
            failed.pop(pack, None)
        else:
            verified.pop(pack, None)
            failed[pack] = at
        # failed.json first: a crash between the two writes leaves the pack failed, never good.
        replace_durably(self.path / "state" / "failed.json", json.dumps(failed).encode(), self.tmp)
        self.record_verified(verified)

    # ----- garbage ------------------------------------------------------------------------------
    def prune(
        self,
        live_ids: Iterable[str],
        repack_ratio: float = 0.5,
        hook: Callable[[str], None] | None = None,
    ) -> PruneReport:
        """Remove objects no kept manifest references; rewrite packs that are mostly garbage.

        The caller holds the source's lease (no backup or restore of it is running), and passes
        the object ids referenced by every manifest that stays. Order: new packs → a new index
        covering every live object → old index files removed → unreferenced packs removed. A
        crash at any step leaves an index that names only packs that exist.
        """
        hook = hook or (lambda step: None)
        live = set(live_ids)
        report = PruneReport()
        before = self.size()
        by_pack = self.packs()
        on_disk = {p.name for p in (self.path / "packs").glob("*/*") if p.is_file()}
        keep_entries: dict[str, list[list]] = {}
        for pack, entries in by_pack.items():
            path = self.pack_path(pack)
            if pack not in on_disk:
                continue
            live_entries = [(i, loc) for i, loc in entries if i in live]
            total = sum(loc.length for _, loc in entries)
            live_bytes = sum(loc.length for _, loc in live_entries)
            if not live_entries:
                continue
            if live_bytes >= total * repack_ratio:
                keep_entries[pack] = [
                    [i, loc.offset, loc.length, loc.raw_length] for i, loc in live_entries
                ]
                continue
            # Mostly garbage: copy the live objects (stored bytes as they are) to a new pack.
            blob = path.read_bytes()
            for object_id, loc in live_entries:
                self._pending.append(
                    (object_id, blob[loc.offset : loc.offset + loc.length], loc.raw_length)
                )
                self._pending_ids.add(object_id)
                self._pending_size += loc.length
            report.packs_rewritten += 1
        hook("prune:packs-rewritten")
        self.flush_pack()
        for pack, entries in self._unindexed.items():
            keep_entries[pack] = [list(e) for e in entries]
        self._unindexed.clear()
        old_indexes = set(self._index_files)
        new_index = self._write_index(keep_entries) if keep_entries else None
        hook("prune:index-written")
        for name in old_indexes - {new_index}:
            (self.path / "index" / name).unlink(missing_ok=True)
            self._index_files.pop(name, None)
        fsync_dir(self.path / "index")
        hook("prune:old-indexes-removed")
        for pack_file in (self.path / "packs").glob("*/*"):
            if pack_file.name not in keep_entries and pack_file.is_file():
                report.packs_removed += 1
                pack_file.unlink()
        for leftover in self.tmp.iterdir():
            leftover.unlink()
        self.load_index()
        report.objects_kept = len(self._index)
        report.bytes_after = self.size()
        report.bytes_freed = max(0, before - report.bytes_after)
        return report

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())


@dataclass
class PruneReport:
    packs_removed: int = 0
    packs_rewritten: int = 0
    bytes_freed: int = 0
    objects_kept: int = 0
    bytes_after: int = 0
    problems: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "packs_removed": self.packs_removed,
            "packs_rewritten": self.packs_rewritten,
            "bytes_freed": self.bytes_freed,
            "objects_kept": self.objects_kept,
            "bytes_after": self.bytes_after,
        }
