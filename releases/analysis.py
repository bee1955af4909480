"""Bundle analysis: what is in a bundle, how big it is for clients, and how it changed.

``analyse(path, manifest)`` reads the zip member by member in chunks and measures each file raw,
gzip (level 6, what web servers use by default) and brotli (quality 5, a typical on-the-fly
setting; quality 11 would take minutes on a 20 MiB bundle). ``diff`` compares two analyses and
``check_budgets`` applies the app's size budgets. Sizes in budgets are raw (uncompressed) bytes,
the figure mini-program hosts limit.
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections import defaultdict
from pathlib import Path, PurePosixPath

import brotli

from releases.bundles import CHUNK, BundleError, subpackage_roots

TYPES = {
    "js": {".js", ".mjs", ".cjs", ".wxs", ".sjs"},
    "css": {".css", ".wxss", ".acss", ".ttss"},
    "images": {".png", ".jpg", ".jpeg", ".gif", ".svg", ".webp", ".avif", ".ico", ".bmp"},
}
MAIN = "main"
LARGEST = 10


def file_type(path: str) -> str:
    suffix = PurePosixPath(path).suffix.lower()
    for name, suffixes in TYPES.items():
        if suffix in suffixes:
            return name
    return "other"


def package_of(path: str, roots: list[str]) -> str:
    for root in roots:
        if path.startswith(root):
            return root.rstrip("/")
    return MAIN


def _measure(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int, int, str]:
    gz = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: gzip container, as served
    br = brotli.Compressor(quality=5)
    digest = hashlib.sha256()
    raw = gz_size = br_size = 0
    with archive.open(info) as member:
        while chunk := member.read(CHUNK):
            raw += len(chunk)
            digest.update(chunk)
            gz_size += len(gz.compress(chunk))
            br_size += len(br.process(chunk))
    gz_size += len(gz.flush())
    br_size += len(br.finish())
    return raw, gz_size, br_size, digest.hexdigest()


def analyse(path: Path, manifest: dict) -> dict:
    """The analysis document stored on the release (JSON)."""
    roots = subpackage_roots(manifest)
    files = []
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                if info.is_dir():
                    continue
                raw, gz, br, sha = _measure(archive, info)
                files.append(
                    {
                        "path": info.filename,
                        "type": file_type(info.filename),
                        "package": package_of(info.filename, roots),
                        "raw": raw,
                        "gzip": gz,
                        "brotli": br,
                        "sha256": sha,
                    }
                )
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise BundleError("bad_zip", f"cannot read the bundle ({exc})") from None
    return summarise(files, roots)


def _zero() -> dict[str, int]:
    return {"files": 0, "raw": 0, "gzip": 0, "brotli": 0}


def _add(total: dict, f: dict) -> None:
    total["files"] += 1
    for key in ("raw", "gzip", "brotli"):
        total[key] += f[key]


def summarise(files: list[dict], roots: list[str]) -> dict:
    totals = _zero()
    by_type = {name: _zero() for name in [*TYPES, "other"]}
    packages = {MAIN: _zero(), **{root.rstrip("/"): _zero() for root in roots}}
    by_hash: dict[str, list[str]] = defaultdict(list)
    for f in files:
        _add(totals, f)
        _add(by_type[f["type"]], f)
        _add(packages[f["package"]], f)
        by_hash[f["sha256"]].append(f["path"])
    sizes = {f["sha256"]: f["raw"] for f in files}
    duplicates = [
        {
            "sha256": sha,
            "paths": sorted(paths),
            "raw": sizes[sha],
            "wasted": sizes[sha] * (len(paths) - 1),
        }
        for sha, paths in by_hash.items()
        if len(paths) > 1
    ]
    duplicates.sort(key=lambda d: (-d["wasted"], d["paths"][0]))
    largest = sorted(files, key=lambda f: (-f["raw"], f["path"]))[:LARGEST]
    return {
        "files": sorted(files, key=lambda f: f["path"]),
        "totals": totals,
        "by_type": by_type,
        "packages": packages,
        "largest": [
            {"path": f["path"], "raw": f["raw"], "gzip": f["gzip"], "brotli": f["brotli"]}
            for f in largest
        ],
        "duplicates": duplicates,
    }


def diff(previous: dict | None, current: dict) -> dict | None:
    """Added, removed, grown and shrunk files against ``previous`` (None without one)."""
    if not previous or "files" not in previous:
        return None
    old = {f["path"]: f for f in previous["files"]}
    new = {f["path"]: f for f in current["files"]}
    added = [{"path": p, "raw": new[p]["raw"]} for p in sorted(new.keys() - old.keys())]
    removed = [{"path": p, "raw": old[p]["raw"]} for p in sorted(old.keys() - new.keys())]
    grown, shrunk = [], []
    for p in sorted(new.keys() & old.keys()):
        delta = new[p]["raw"] - old[p]["raw"]
        entry = {"path": p, "before": old[p]["raw"], "after": new[p]["raw"], "delta": delta}
        if delta > 0:
            grown.append(entry)
        elif delta < 0:
            shrunk.append(entry)
    grown.sort(key=lambda e: -e["delta"])
    shrunk.sort(key=lambda e: e["delta"])
    before, after = previous["totals"]["raw"], current["totals"]["raw"]
    return {
        "added": added,
        "removed": removed,
        "grown": grown,
        "shrunk": shrunk,
        "total_before": before,
        "total_after": after,
        "total_delta": after - before,
        "growth_pct": round((after - before) * 100 / before, 2) if before else None,
    }


def check_budgets(app, analysis: dict, change: dict | None) -> list[dict]:
    """Budget findings: each ``{"budget", "limit", "actual", "over"}``; any over → the release
    is over budget. Growth (only with a previous release) is ``flagged``, never ``over``."""
    kib = 1024
    findings = [
        {
            "budget": "main package",
            "limit": app.main_budget_kib * kib,
            "actual": analysis["packages"][MAIN]["raw"],
        }
    ]
    for name, total in analysis["packages"].items():
        if name != MAIN:
            findings.append(
                {
                    "budget": f"subpackage {name}",
                    "limit": app.subpackage_budget_kib * kib,
                    "actual": total["raw"],
                }
            )
    findings.append(
        {
            "budget": "total",
            "limit": app.total_budget_kib * kib,
            "actual": analysis["totals"]["raw"],
        }
    )
    for f in findings:
        f["over"] = f["actual"] > f["limit"]
    if change is not None and change["growth_pct"] is not None:
        # Growth is flagged for attention, not enforced: a 5% step of a small bundle is normal,
        # and blocking it would hold every such release at testers.
        findings.append(
            {
                "budget": "growth %",
                "limit": app.growth_budget_pct,
                "actual": change["growth_pct"],
                "over": False,
                "flagged": change["growth_pct"] > app.growth_budget_pct,
            }
        )
    return findings
