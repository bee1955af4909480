"""Backup engine benchmark: full, incremental after 1% changes, restore; restic for comparison.

    .venv/bin/python bench/backup/run.py                 # 256 MiB directory + 256 MiB SQLite
    .venv/bin/python bench/backup/run.py --size-mb 1024  # the issue's 1 GiB of each

Generates a directory tree of mixed files (a few large binaries, many small binaries, compressible
text) and a SQLite database, then measures with the real engine (encrypted repository):
full backup throughput; an incremental after changing 1% of the directory's bytes (contiguous
edits plus one byte inserted at the start of a large file) and after rewriting 1% of the
database's pages at random; restore throughput. restic (system package, installed with apt if
missing) backs up the same directory in the same run. Prints and saves results.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from backups import engine  # noqa: E402
from backups.crypto import new_key_text, parse_key  # noqa: E402
from backups.repository import Repository  # noqa: E402

MiB = 1024 * 1024


def make_tree(root: Path, size: int, rng: random.Random) -> list[Path]:
    root.mkdir(parents=True)
    large = []
    written = 0
    # 40%: four large binaries; 35%: small binaries (16-512 KiB); 25%: text.
    for i in range(4):
        path = root / "large" / f"blob{i}.bin"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(rng.randbytes(size * 10 // 100))
        large.append(path)
        written += size * 10 // 100
    n = 0
    while written < size * 75 // 100:
        path = root / "small" / f"d{n % 37:02d}" / f"f{n}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        k = rng.randint(16 * 1024, 512 * 1024)
        path.write_bytes(rng.randbytes(k))
        written += k
        n += 1
    words = [rng.randbytes(rng.randint(3, 9)).hex().encode() for _ in range(5000)]
    n = 0
    while written < size:
        path = root / "text" / f"doc{n}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        k = rng.randint(64 * 1024, 4 * MiB)
        data = b" ".join(rng.choice(words) for _ in range(k // 8))[:k]
        path.write_bytes(data)
        written += len(data)
        n += 1
    return large


def tree_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def change_tree(root: Path, large: list[Path], size: int, rng: random.Random) -> int:
    """Overwrite contiguous ranges totalling ~1% of the tree, and insert one byte at the start
    of a large file. Returns the bytes changed."""
    budget = size // 100
    # Contiguous edits of 1-4 MiB (the "contiguous edits") in files that can hold them.
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.stat().st_size >= MiB)
    changed = 0
    while changed < budget:
        path = rng.choice(files)
        length = min(budget - changed, rng.randint(MiB, 4 * MiB), path.stat().st_size)
        offset = rng.randint(0, path.stat().st_size - length)
        with open(path, "r+b") as fh:
            fh.seek(offset)
            fh.write(rng.randbytes(length))
        changed += length
    data = large[0].read_bytes()
    large[0].write_bytes(b"!" + data)
    return changed + 1


def make_db(path: Path, size: int, rng: random.Random) -> int:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, payload BLOB)")
    rows = size // 1100
    batch = 5000
    for start in range(0, rows, batch):
        conn.executemany(
            "INSERT INTO t (id, payload) VALUES (?, ?)",
            [(i, rng.randbytes(1000)) for i in range(start, min(rows, start + batch))],
        )
        conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return rows


def change_db(path: Path, rows: int, rng: random.Random) -> int:
    """Rewrite rows on 1% of the database's pages, chosen at random (about 3 rows per page)."""
    conn = sqlite3.connect(path)
    pages = conn.execute("PRAGMA page_count").fetchone()[0]
    targets = rng.sample(range(rows), max(1, pages // 100))
    conn.executemany(
        "UPDATE t SET payload = ? WHERE id = ?", [(rng.randbytes(1000), i) for i in targets]
    )
    conn.commit()
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return len(targets)


def timed_backup(repo, spec, backup_type, parent, scratch):
    t0 = time.perf_counter()
    body = engine.take_backup(
        repo, spec, backup_type=backup_type, parent=parent, scratch_dir=scratch
    )
    name = f"m{time.time_ns()}"
    body["backup"] = name
    repo.write_manifest(name, body)
    return body, time.perf_counter() - t0


def ensure_restic() -> str | None:
    path = shutil.which("restic")
    if path:
        return path
    print("restic missing: installing the system package with apt-get", flush=True)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", "restic"], check=False, stdout=subprocess.DEVNULL
    )
    return shutil.which("restic")


def restic_full(tree: Path, work: Path) -> dict | None:
    restic = ensure_restic()
    if restic is None:
        return None
    env = {
        **os.environ,
        "RESTIC_REPOSITORY": str(work / "restic"),
        "RESTIC_PASSWORD": "bench",
        "RESTIC_CACHE_DIR": str(work / "restic-cache"),
    }
    subprocess.run([restic, "init"], env=env, check=True, capture_output=True)
    t0 = time.perf_counter()
    subprocess.run([restic, "backup", "--quiet", str(tree)], env=env, check=True)
    seconds = time.perf_counter() - t0
    version = subprocess.run([restic, "version"], capture_output=True, text=True).stdout.strip()
    return {"version": version, "seconds": round(seconds, 2)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    size = args.size_mb * MiB
    rng = random.Random(20261125)
    work = Path(args.work or tempfile.mkdtemp(prefix="upkeep-bench-backup-"))
    work.mkdir(parents=True, exist_ok=True)
    results: dict = {"size_mb": args.size_mb, "cpu_count": os.cpu_count()}
    try:
        print(
            f"generating {args.size_mb} MiB tree and {args.size_mb} MiB SQLite in {work}",
            flush=True,
        )
        tree = work / "tree"
        large = make_tree(tree, size, rng)
        db = work / "db.sqlite3"
        rows = make_db(db, size, rng)
        key = parse_key(new_key_text())
        scratch = work / "scratch"

        repo = Repository.init(work / "repo-tree", key)
        spec = engine.SourceSpec("directory", str(tree), "tree")
        src = tree_bytes(tree)
        full, t_full = timed_backup(repo, spec, "full", None, scratch)
        size_after_full = repo.size()
        # Age the files past the guard second so the incremental trusts unchanged metadata.
        time.sleep(1.1)
        changed = change_tree(tree, large, src, rng)
        inc, t_inc = timed_backup(repo, spec, "incremental", full, scratch)
        results["directory"] = {
            "source_bytes": src,
            "full_seconds": round(t_full, 2),
            "full_MBps": round(src / MiB / t_full, 1),
            "full_stored_bytes": full["stats"]["bytes_new"],
            "changed_bytes": changed,
            "incremental_seconds": round(t_inc, 2),
            "incremental_new_bytes": inc["stats"]["bytes_new"],
            "incremental_new_pct": round(100 * inc["stats"]["bytes_new"] / src, 2),
            "incremental_repo_growth_bytes": repo.size() - size_after_full,
        }
        target = work / "restored-tree"
        t0 = time.perf_counter()
        engine.restore_tree(repo, inc, target, engine.Steps(None, None), 0, 1)
        t_restore = time.perf_counter() - t0
        results["directory"]["restore_seconds"] = round(t_restore, 2)
        results["directory"]["restore_MBps"] = round(tree_bytes(tree) / MiB / t_restore, 1)
        shutil.rmtree(target)

        repo_db = Repository.init(work / "repo-db", key)
        dspec = engine.SourceSpec("sqlite", str(db), "db")
        dfull, t_dfull = timed_backup(repo_db, dspec, "full", None, scratch)
        db_size_after_full = repo_db.size()
        touched = change_db(db, rows, rng)
        dinc, t_dinc = timed_backup(repo_db, dspec, "incremental", dfull, scratch)
        dsize = db.stat().st_size
        results["sqlite"] = {
            "source_bytes": dsize,
            "full_seconds": round(t_dfull, 2),
            "full_MBps": round(dsize / MiB / t_dfull, 1),
            "rows_rewritten": touched,
            "block_size": dfull["database"]["block_size"],
            "incremental_seconds": round(t_dinc, 2),
            "incremental_new_bytes": dinc["stats"]["bytes_new"],
            "incremental_new_pct": round(100 * dinc["stats"]["bytes_new"] / dsize, 2),
            "incremental_repo_growth_bytes": repo_db.size() - db_size_after_full,
        }
        t0 = time.perf_counter()
        engine.restore_sqlite(
            repo_db, dinc, db, work / "restored.sqlite3", engine.Steps(None, None), 0, 1
        )
        t_drestore = time.perf_counter() - t0
        results["sqlite"]["restore_seconds_with_checks"] = round(t_drestore, 2)
        results["sqlite"]["restore_MBps"] = round(dsize / MiB / t_drestore, 1)

        # restic on the same (original-state) amount of data: a fresh copy of the changed tree.
        r = restic_full(tree, work)
        if r:
            r["full_MBps"] = round(tree_bytes(tree) / MiB / r["seconds"], 1)
            r["ours_vs_restic_time"] = round(t_full / r["seconds"], 2)
        results["restic"] = r or "not available"
        results["targets"] = {
            "directory_incremental_le_3pct": results["directory"]["incremental_new_pct"] <= 3,
            "sqlite_incremental_le_5pct": results["sqlite"]["incremental_new_pct"] <= 5,
            "full_within_1_5x_restic": bool(r) and r["ours_vs_restic_time"] <= 1.5,
        }
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(results, indent=2)
    print(text)
    (Path(__file__).parent / f"results-{args.size_mb}mb.json").write_text(text + "\n")


if __name__ == "__main__":
    main()
