"""Import an OSV export (the per-ecosystem ``all.zip``: one JSON advisory per file), offline.

The zip is never extracted: its directory is checked first (entry names, symlinks, sizes,
compression ratio, entry count), then each entry is read into memory on its own, parsed and
reduced to what matching needs. Any bad entry rejects the whole file before the database is
touched; the import itself is one transaction (all or nothing) with one audit row.

Re-importing is idempotent: a record whose ``modified`` is not newer than the stored one is left
alone. Withdrawn records are skipped (and a stored copy removed). Records are grouped through
their ids and aliases: the first record of a group creates its canonical ``Advisory``; a record
that links two groups merges them into the older one (findings follow).
"""

from __future__ import annotations

import hashlib
import json
import posixpath
import stat
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from audit.trail import record
from security import matching, severity
from security.models import (
    SEVERITY_RANK,
    Advisory,
    AdvisoryAlias,
    AdvisoryRecord,
    AffectedPackage,
    Ecosystem,
    Finding,
    OsvImport,
)

SUPPORTED = {e.value for e in Ecosystem}


def limits() -> dict[str, int]:
    """Overridable in settings (SECURITY_OSV_*)."""
    return {
        "max_zip_bytes": getattr(settings, "SECURITY_OSV_MAX_ZIP_BYTES", 512 * 1024 * 1024),
        "max_entries": getattr(settings, "SECURITY_OSV_MAX_ENTRIES", 500_000),
        "max_entry_bytes": getattr(settings, "SECURITY_OSV_MAX_ENTRY_BYTES", 4 * 1024 * 1024),
        "max_total_bytes": getattr(settings, "SECURITY_OSV_MAX_TOTAL_BYTES", 4 * 1024**3),
        "max_ratio": getattr(settings, "SECURITY_OSV_MAX_RATIO", 100),
    }


class ImportRejected(ValueError):
    """The file was refused; nothing was stored."""


@dataclass
class Reduced:
    osv_id: str
    aliases: list[str]
    modified: datetime
    published: datetime | None
    summary: str
    severity: str
    ecosystem: str
    affected: list[dict] = field(default_factory=list)
    withdrawn: bool = False


def _unsafe(name: str) -> str | None:
    if not name or "\x00" in name:
        return "an empty name"
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        return "an absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "a '..' component"
    return None


def _check_directory(archive: zipfile.ZipFile) -> list[zipfile.ZipInfo]:
    lim = limits()
    infos = archive.infolist()
    if len(infos) > lim["max_entries"]:
        raise ImportRejected(f"{len(infos)} entries; the limit is {lim['max_entries']}")
    total = 0
    for info in infos:
        problem = _unsafe(info.filename)
        if problem:
            raise ImportRejected(f"entry {info.filename!r} is {problem}")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ImportRejected(f"entry {info.filename!r} is a symbolic link")
        if info.file_size > lim["max_entry_bytes"]:
            raise ImportRejected(
                f"entry {info.filename!r} is {info.file_size} bytes; the limit is "
                f"{lim['max_entry_bytes']}"
            )
        if info.file_size > 1024 and info.file_size > lim["max_ratio"] * max(info.compress_size, 1):
            raise ImportRejected(f"entry {info.filename!r} inflates too much (zip bomb?)")
        total += info.file_size
        if total > lim["max_total_bytes"]:
            raise ImportRejected(f"the export inflates past {lim['max_total_bytes']} bytes")
    return [i for i in infos if not i.is_dir() and i.filename.lower().endswith(".json")]


def _when(value, name: str, osv_id: str) -> datetime:
    at = parse_datetime(str(value)) if value else None
    if at is None:
        raise ImportRejected(f"{osv_id}: {name} is missing or not a timestamp ({value!r})")
    if timezone.is_naive(at):
        at = at.replace(tzinfo=UTC)
    return at


def reduce(doc: object, entry: str) -> Reduced | None:
    """The parts of one OSV document we keep; None for a withdrawn one or one of another
    ecosystem. Raises ImportRejected when the document is not OSV."""
    if not isinstance(doc, dict) or not isinstance(doc.get("id"), str) or not doc["id"]:
        raise ImportRejected(f"{entry}: not an OSV document (no id)")
    osv_id = doc["id"][:100]
    modified = _when(doc.get("modified"), "modified", osv_id)
    if doc.get("withdrawn"):
        return Reduced(osv_id, [], modified, None, "", "", "", withdrawn=True)
    affected = []
    for entry_doc in doc.get("affected") or []:
        if not isinstance(entry_doc, dict):
            raise ImportRejected(f"{osv_id}: affected entries must be objects")
        package = entry_doc.get("package") or {}
        ecosystem = package.get("ecosystem")
        if ecosystem not in SUPPORTED or not package.get("name"):
            continue
        ranges = [r for r in entry_doc.get("ranges") or [] if isinstance(r, dict)]
        affected.append(
            {
                "ecosystem": ecosystem,
                "name": matching.normalise_name(ecosystem, str(package["name"]))[:214],
                "ranges": [
                    {"type": r.get("type"), "events": r.get("events") or []} for r in ranges
                ],
                "versions": [str(v) for v in entry_doc.get("versions") or []],
                "fixed": matching.fixed_versions(ranges),
            }
        )
    if not affected:
        return None
    aliases = [str(a)[:100] for a in doc.get("aliases") or [] if a]
    published = doc.get("published")
    return Reduced(
        osv_id=osv_id,
        aliases=aliases,
        modified=modified,
        published=_when(published, "published", osv_id) if published else None,
        summary=str(doc.get("summary") or doc.get("details") or "")[:2000],
        severity=severity.of_record(doc),
        ecosystem=affected[0]["ecosystem"],
        affected=affected,
    )


def read_export(fileobj: IO[bytes], size: int) -> tuple[list[Reduced], dict[str, int]]:
    """Check and parse the whole export in memory, entry by entry; nothing is stored."""
    lim = limits()
    if size > lim["max_zip_bytes"]:
        raise ImportRejected(f"the file is {size} bytes; the limit is {lim['max_zip_bytes']}")
    if size == 0:
        raise ImportRejected("the file is empty")
    try:
        archive = zipfile.ZipFile(fileobj)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ImportRejected(f"not a valid zip file ({exc})") from None
    counts = {"entries": 0, "withdrawn": 0, "other_ecosystems": 0}
    docs: list[Reduced] = []
    with archive:
        entries = _check_directory(archive)
        if not entries:
            raise ImportRejected("the zip holds no .json advisories")
        for info in entries:
            try:
                with archive.open(info) as stream:
                    raw = stream.read(lim["max_entry_bytes"] + 1)
            except (zipfile.BadZipFile, OSError, RuntimeError, EOFError) as exc:
                raise ImportRejected(f"entry {info.filename!r} cannot be read ({exc})") from None
            if len(raw) > lim["max_entry_bytes"]:
                raise ImportRejected(f"entry {info.filename!r} is larger than it claims")
            try:
                doc = json.loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                raise ImportRejected(f"entry {info.filename!r} is not JSON ({exc})") from None
            counts["entries"] += 1
            reduced = reduce(doc, info.filename)
            if reduced is None:
                counts["other_ecosystems"] += 1
            else:
                counts["withdrawn"] += int(reduced.withdrawn)
                docs.append(reduced)
    return docs, counts


# ---------------------------------------------------------------- storing


def _merge(keeper: Advisory, other: Advisory) -> None:
    """Fold ``other``'s group into ``keeper``; a finding both have keeps the keeper's row."""
    AdvisoryAlias.objects.filter(advisory=other).update(advisory=keeper)
    AdvisoryRecord.objects.filter(advisory=other).update(advisory=keeper)
    for finding in Finding.objects.filter(advisory=other):
        clash = Finding.objects.filter(
            app_id=finding.app_id,
            ecosystem=finding.ecosystem,
            package=finding.package,
            advisory=keeper,
        ).exists()
        if clash:
            record(
                "security.finding_merged",
                finding,
                before={"advisory": other.key, "state": finding.state},
                after={"merged_into_advisory": keeper.key},
                reason="the same vulnerability under another id (aliases)",
            )
            finding.delete()  # an instance delete: the audit row above names it
        else:
            Finding.objects.filter(pk=finding.pk)._audited_update(advisory=keeper)
            record(
                "security.finding_rekeyed",
                finding,
                before={"advisory": other.key},
                after={"advisory": keeper.key},
                reason="advisories merged through their aliases",
            )
    other.delete()


def group_for(ids: list[str], *, key: str, source: str = "osv") -> tuple[Advisory, bool]:
    """The canonical advisory of these ids (created, or merged when they span groups)."""
    found = list(
        Advisory.objects.filter(aliases__alias__in=ids).distinct().order_by("created_at", "pk")
    )
    created = False
    if not found:
        keeper = Advisory.objects.create(key=_free_key(key), source=source)
        created = True
    else:
        keeper = found[0]
        for other in found[1:]:
            _merge(keeper, other)
    known = set(AdvisoryAlias.objects.filter(alias__in=ids).values_list("alias", flat=True))
    AdvisoryAlias.objects.bulk_create(
        [AdvisoryAlias(alias=i, advisory=keeper) for i in dict.fromkeys(ids) if i not in known]
    )
    return keeper, created


def _free_key(key: str) -> str:
    # Keys are unique; an id already used as another group's key (possible after merges) gets
    # a suffix rather than failing the import.
    candidate, n = key, 1
    while Advisory.objects.filter(key=candidate).exists():
        n += 1
        candidate = f"{key}~{n}"
    return candidate


def refresh_group(advisory: Advisory) -> None:
    records = list(advisory.records.all())
    if not records:
        return
    best = max(records, key=lambda r: SEVERITY_RANK.get(r.severity, 0))
    advisory.severity = best.severity
    advisory.summary = next((r.summary for r in records if r.summary), "")
    advisory.modified = max(r.modified for r in records)
    advisory.source = "osv"
    advisory.save(update_fields=["severity", "summary", "modified", "source"])


def _store(doc: Reduced, counts: dict[str, int]) -> None:
    existing = AdvisoryRecord.objects.filter(osv_id=doc.osv_id).first()
    if doc.withdrawn:
        if existing is not None:
            group = existing.advisory
            existing.delete()
            refresh_group(group)
            counts["removed_withdrawn"] += 1
        return
    if existing is not None and existing.modified >= doc.modified:
        counts["unchanged"] += 1
        return
    advisory, created = group_for([doc.osv_id, *doc.aliases], key=doc.osv_id)
    counts["advisories_created"] += int(created)
    values = {
        "advisory": advisory,
        "ecosystem": doc.ecosystem,
        "aliases": doc.aliases,
        "summary": doc.summary,
        "severity": doc.severity,
        "modified": doc.modified,
        "published": doc.published,
    }
    if existing is None:
        rec = AdvisoryRecord.objects.create(osv_id=doc.osv_id, **values)
        counts["records_created"] += 1
    else:
        rec = existing
        for name, value in values.items():
            setattr(rec, name, value)
        rec.save()
        rec.affected.all().delete()
        counts["records_updated"] += 1
    AffectedPackage.objects.bulk_create(
        [
            AffectedPackage(
                record=rec,
                ecosystem=a["ecosystem"],
                name=a["name"],
                ranges=a["ranges"],
                versions=a["versions"],
                fixed=a["fixed"],
            )
            for a in doc.affected
        ]
    )
    refresh_group(advisory)


def import_export(
    fileobj: IO[bytes], *, filename: str, size: int, user=None, now=None
) -> OsvImport:
    """Check, parse and store an OSV export. Raises ImportRejected (nothing stored)."""
    fileobj.seek(0)
    digest = hashlib.sha256()
    for chunk in iter(lambda: fileobj.read(1024 * 1024), b""):
        digest.update(chunk)
    fileobj.seek(0)
    docs, counts = read_export(fileobj, size)
    counts.update(
        {
            "records_created": 0,
            "records_updated": 0,
            "unchanged": 0,
            "advisories_created": 0,
            "removed_withdrawn": 0,
        }
    )
    with transaction.atomic():
        for doc in docs:
            _store(doc, counts)
        imp = OsvImport.objects.create(
            filename=posixpath.basename(filename.replace("\\", "/"))[:300],
            sha256=digest.hexdigest(),
            size=size,
            status=OsvImport.Status.DONE,
            ecosystems=sorted({d.ecosystem for d in docs if d.ecosystem}),
            counts=counts,
            imported_by=user,
            at=now or timezone.now(),
        )
        record("security.osv_imported", imp, after={"counts": counts, "sha256": imp.sha256})
    return imp


def data_ecosystems() -> set[str]:
    """Ecosystems we hold advisory data for (a scan without data for one cannot check it)."""
    return set(AdvisoryRecord.objects.values_list("ecosystem", flat=True).distinct())
