"""Consistent reads of the three source kinds, and writing restored data back.

SQLite: the online backup API into a scratch file (one step, so it is one read transaction:
committed WAL frames are included, and no raw copy of a live file is ever taken).
PostgreSQL: ``pg_dump`` in plain format, uncompressed (the repository compresses, and plain text
deduplicates across runs), exit status and stderr checked.
Directories: a sorted walk recording size, mtime, ctime and inode for change detection.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import os
import re
import sqlite3
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

PG_ENV = {"PGCONNECT_TIMEOUT": "10"}


class SourceError(RuntimeError):
    """Reading or writing a source failed; the message says why (shown to people)."""


# ----- SQLite ---------------------------------------------------------------------------------
def sqlite_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def sqlite_snapshot(path: str | Path, scratch: Path) -> dict:
    """Copy a consistent snapshot of the database at ``path`` to ``scratch``; describe it."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"SQLite database {path} does not exist")
    src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    dst = sqlite3.connect(scratch)
    try:
        src.backup(dst)  # pages=-1: the whole database in one step, one read transaction
        dst.commit()
        page_size = dst.execute("PRAGMA page_size").fetchone()[0]
        tables = [
            r[0]
            for r in dst.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' "
                "ORDER BY name"
            )
        ]
        counts = {
            t: dst.execute(f"SELECT count(*) FROM {sqlite_quote(t)}").fetchone()[0]  # noqa: S608 - quoted identifier
            for t in tables
        }
    except sqlite3.DatabaseError as exc:
        raise SourceError(f"SQLite backup of {path} failed: {exc}") from None
    finally:
        dst.close()
        src.close()
    return {"page_size": page_size, "row_counts": counts}


def sqlite_integrity(path: Path) -> str:
    # Read-write on purpose: these run on our own scratch copies, and the last read-write
    # connection to close removes the -wal and -shm files a read-only one would leave behind.
    conn = sqlite3.connect(path)
    try:
        rows = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    except sqlite3.DatabaseError as exc:
        return str(exc)
    finally:
        conn.close()
    return "ok" if rows == ["ok"] else "; ".join(rows[:5])


def sqlite_row_counts(path: Path) -> dict[str, int]:
    conn = sqlite3.connect(path)
    try:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return {
            t: conn.execute(f"SELECT count(*) FROM {sqlite_quote(t)}").fetchone()[0]  # noqa: S608 - quoted identifier
            for t in tables
        }
    finally:
        conn.close()


def sqlite_release_wal(path: Path) -> None:
    """Before a restored file replaces ``path``: fold its WAL into it and empty the WAL file, so
    no stale frame can be replayed onto the new database."""
    if not path.exists():
        return
    conn = sqlite3.connect(path, timeout=30)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()


# ----- PostgreSQL -----------------------------------------------------------------------------
def redact_dsn(dsn: str) -> str:
    """The DSN without its password, for display (the full DSN is stored sealed)."""
    parts = urlsplit(dsn)
    if parts.password is None:
        return dsn
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


def split_password(dsn: str) -> tuple[str, str | None]:
    """The DSN without its password, and the password (``None`` if it has none).

    Commands get the first on their command line and the second in ``PGPASSWORD``, so the
    password never shows in a process listing."""
    parts = urlsplit(dsn)
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None:
        host = parts.netloc.rsplit("@", 1)[-1]
        user = parts.netloc.rsplit("@", 1)[0].split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}@{host}" if user else host)
    if parts.query:
        query = parse_qsl(parts.query, keep_blank_values=True)
        kept = [(k, v) for k, v in query if k != "password"]
        for k, v in query:
            if k == "password" and password is None:
                password = v
        parts = parts._replace(query=urlencode(kept))
    return urlunsplit(parts), password


def pg_command(
    program: str, dsn: str, options: tuple[str, ...] = (), after: tuple[str, ...] = ()
) -> tuple[list[str], dict[str, str]]:
    """(argv, env) for a PostgreSQL client: the password goes in the environment only."""
    bare, password = split_password(dsn)
    env = {**os.environ, **PG_ENV}
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    return [program, "--no-password", *options, "--dbname", bare, *after], env


def dsn_with_database(dsn: str, dbname: str) -> str:
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + dbname))


def dsn_database(dsn: str) -> str:
    name = urlsplit(dsn).path.lstrip("/")
    if not name:
        raise SourceError("the PostgreSQL DSN names no database")
    return name


class PgDump:
    """``pg_dump`` streaming plain SQL; ``close()`` checks exit status and stderr."""

    def __init__(self, dsn: str, stderr_path: Path):
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        try:
            argv, env = pg_command("pg_dump", dsn, ("--format=plain", "--no-sync"))
            self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=self._stderr, env=env)
        except FileNotFoundError:
            self._stderr.close()
            raise SourceError("pg_dump is not installed") from None
        self.stdout = self.proc.stdout

    def close(self, ok_so_far: bool = True) -> None:
        if not ok_so_far and self.proc.poll() is None:
            self.proc.kill()
        rc = self.proc.wait()
        self._stderr.close()
        err = self.stderr_path.read_text(errors="replace").strip()
        self.stderr_path.unlink(missing_ok=True)
        if ok_so_far and rc != 0:
            raise SourceError(f"pg_dump exited with status {rc}: {err[-2000:]}")
        if ok_so_far and err:
            # pg_dump prints nothing on stderr when all is well; anything there is a warning
            # we refuse to ignore (django-dbbackup's silent partial dumps).
            raise SourceError(f"pg_dump reported: {err[-2000:]}")


_COPY = re.compile(rb"^COPY ([^ ]+) \(.*\) FROM stdin;$")


_RANDOM_LINES = (b"\\restrict ", b"\\unrestrict ")


class DumpStats:
    """Counts rows per table in a plain dump as it streams past (COPY blocks end with ``\\.``),
    and hashes its content. The content hash skips the ``\\restrict KEY`` lines that newer
    pg_dump releases add with a random key on every run, so two dumps of equal databases hash
    the same."""

    def __init__(self):
        self.counts: dict[str, int] = {}
        self._table: str | None = None
        self._carry = b""
        self._digest = hashlib.sha256()

    def hexdigest(self) -> str:
        if self._carry and not self._carry.startswith(_RANDOM_LINES):
            self._digest.update(self._carry)
        self._carry = b""
        return self._digest.hexdigest()

    def feed(self, data: bytes) -> None:
        lines = (self._carry + data).split(b"\n")
        self._carry = lines.pop()
        for line in lines:
            if not line.startswith(_RANDOM_LINES):
                self._digest.update(line + b"\n")
            if self._table is not None:
                if line == b"\\.":
                    self._table = None
                else:
                    self.counts[self._table] += 1
            else:
                m = _COPY.match(line)
                if m:
                    self._table = m.group(1).decode()
                    self.counts[self._table] = 0


def psql(dsn: str, sql: str) -> str:
    argv, env = pg_command("psql", dsn, ("-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"), ("-c", sql))
    proc = subprocess.run(argv, capture_output=True, env=env, text=True)
    if proc.returncode != 0:
        raise SourceError(f"psql failed: {proc.stderr.strip()[-2000:]}")
    return proc.stdout


def pg_database_exists(dsn: str, name: str) -> bool:
    admin = dsn_with_database(dsn, "postgres")
    out = psql(admin, f"SELECT 1 FROM pg_database WHERE datname = {pg_literal(name)}")  # noqa: S608
    return out.strip() == "1"


def pg_quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def pg_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def check_database_name(name: str) -> str:
    """Restore targets are plain names (letters, digits, underscores; at most 63 characters)."""
    if not DB_NAME.match(name):
        raise SourceError(f"{name!r} is not a plain PostgreSQL database name")
    return name


def pg_row_counts(dsn: str, tables: list[str]) -> dict[str, int]:
    counts = {}
    for table in tables:
        # ``table`` comes from pg_dump's own COPY line, where it is already a quoted identifier.
        counts[table] = int(psql(dsn, f"SELECT count(*) FROM {table}").strip())  # noqa: S608
    return counts


class PsqlLoader:
    """Feeds a plain dump to ``psql`` with ON_ERROR_STOP in one transaction."""

    def __init__(self, dsn: str, stderr_path: Path):
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "wb")  # noqa: SIM115 - closed in close()
        argv, env = pg_command(
            "psql",
            dsn,
            ("-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"),
            ("-f", "-"),
        )
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr, env=env
        )

    def write(self, data: bytes) -> None:
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            self.close()
            raise SourceError("psql stopped reading the dump") from None

    def close(self, ok_so_far: bool = True) -> None:
        if self.proc.stdin and not self.proc.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        if not ok_so_far:
            self.proc.kill()
        rc = self.proc.wait()
        self._stderr.close()
        err = self.stderr_path.read_text(errors="replace").strip()
        self.stderr_path.unlink(missing_ok=True)
        if ok_so_far and rc != 0:
            raise SourceError(f"psql restore failed (status {rc}): {err[-2000:]}")


# ----- Directories ----------------------------------------------------------------------------
@dataclass
class TreeEntry:
    path: str  # relative, "/"-separated
    type: str  # dir | file | symlink
    size: int
    mode: int
    mtime_ns: int
    ctime_ns: int
    inode: int
    target: str = ""

    def key(self) -> tuple:
        return (self.size, self.mtime_ns, self.ctime_ns, self.inode)


def scan_tree(root: str | Path) -> tuple[list[TreeEntry], list[str]]:
    """Every directory, regular file and symlink under ``root``, sorted by path; plus what was
    skipped (sockets, devices, unreadable directories) so the manifest can say so."""
    root = Path(root)
    if not root.is_dir():
        raise SourceError(f"directory {root} does not exist")
    entries: list[TreeEntry] = []
    skipped: list[str] = []

    def walk(rel: str) -> None:
        try:
            with os.scandir(root / rel if rel else root) as it:
                children = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            skipped.append(f"{rel or '.'}: {exc.strerror}")
            return
        for child in children:
            path = f"{rel}/{child.name}" if rel else child.name
            st = child.stat(follow_symlinks=False)
            common = dict(
                path=path,
                size=st.st_size,
                mode=stat.S_IMODE(st.st_mode),
                mtime_ns=st.st_mtime_ns,
                ctime_ns=st.st_ctime_ns,
                inode=st.st_ino,
            )
            if stat.S_ISLNK(st.st_mode):
                entries.append(TreeEntry(type="symlink", target=os.readlink(child.path), **common))
            elif stat.S_ISDIR(st.st_mode):
                entries.append(TreeEntry(type="dir", **{**common, "size": 0}))
                walk(path)
            elif stat.S_ISREG(st.st_mode):
                entries.append(TreeEntry(type="file", **common))
            else:
                skipped.append(f"{path}: not a regular file")

    walk("")
    return entries, skipped


def iter_files(root: Path) -> Iterator[Path]:
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            yield Path(dirpath) / name


_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
RENAME_EXCHANGE = 2
AT_FDCWD = -100


def exchange_paths(a: Path, b: Path) -> None:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE): at every instant each name
    points at a complete tree, the old or the new."""
    fn = getattr(_libc, "renameat2", None)
    if fn is None:
        raise SourceError("atomic exchange (renameat2) is not available on this system")
    res = fn(AT_FDCWD, os.fsencode(a), AT_FDCWD, os.fsencode(b), RENAME_EXCHANGE)
    if res != 0:
        err = ctypes.get_errno()
        raise SourceError(f"atomic exchange failed: {os.strerror(err)}")
