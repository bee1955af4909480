"""Dependency scans: of a release's bundle (matched here against imported OSV data) or of an
uploaded pip-audit / npm audit report; each stored with its honest status, then reconciled
into findings (``security.findings.reconcile``).

Status: ``error`` when the bundle, a manifest or the report could not be read; ``incomplete``
when any package was skipped (unpinned, unparsable version, no advisory data for its ecosystem,
a tool's skip) or nothing at all was checked; ``complete`` only when every package was checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from audit.trail import record
from security import manifests, matching, osv, reports
from security.models import Advisory, AdvisoryAlias, AffectedPackage, Scan, ScanPackage


@dataclass
class Observation:
    """A vulnerable package seen by a scan: what ``reconcile`` opens or keeps open."""

    ecosystem: str
    package: str
    version: str
    advisory: Advisory
    fixed: list[str] = field(default_factory=list)


@dataclass
class ScanResult:
    scan: Scan
    observations: list[Observation]


def _bundle_path(release):
    from releases.bundles import bundle_path

    return bundle_path(release.bundle_sha256)


LOOKUP_CHUNK = 500


def _affected_for(packages: list[manifests.Package]) -> dict[tuple[str, str], list]:
    """Every affected entry naming one of ``packages``, in a query per 500 names (uses the
    (ecosystem, name) index), keyed by (ecosystem, name)."""
    names: dict[str, set[str]] = {}
    for pkg in packages:
        if not pkg.skip_reason:
            names.setdefault(pkg.ecosystem, set()).add(pkg.name)
    found: dict[tuple[str, str], list] = {}
    for ecosystem, wanted in names.items():
        ordered = sorted(wanted)
        for start in range(0, len(ordered), LOOKUP_CHUNK):
            chunk = ordered[start : start + LOOKUP_CHUNK]
            for affected in AffectedPackage.objects.filter(
                ecosystem=ecosystem, name__in=chunk
            ).select_related("record__advisory"):
                found.setdefault((ecosystem, affected.name), []).append(affected)
    return found


def _match(packages: list[manifests.Package]) -> tuple[list[dict], list[Observation]]:
    """Rows for ScanPackage and the observations, for already-deduplicated packages."""
    have_data = osv.data_ecosystems()
    affected_by_name = _affected_for(packages)
    rows, observations = [], []
    for pkg in packages:
        row = {
            "ecosystem": pkg.ecosystem,
            "name": pkg.name,
            "version": pkg.version,
            "source_file": pkg.source_file,
            "skip_reason": pkg.skip_reason,
            "advisories": [],
        }
        rows.append(row)
        if pkg.skip_reason:
            continue
        if pkg.ecosystem not in have_data:
            row["skip_reason"] = f"no {pkg.ecosystem} advisory data imported"
            continue
        candidates = affected_by_name.get((pkg.ecosystem, pkg.name), [])
        matched: dict[int, Observation] = {}
        try:
            for affected in candidates:
                if matching.is_affected(
                    pkg.ecosystem, pkg.version, affected.ranges, affected.versions
                ):
                    advisory = affected.record.advisory
                    obs = matched.setdefault(
                        advisory.pk,
                        Observation(pkg.ecosystem, pkg.name, pkg.version, advisory),
                    )
                    obs.fixed = sorted(set(obs.fixed) | set(affected.fixed))
        except matching.InvalidVersion as exc:
            row["skip_reason"] = str(exc)
            continue
        row["advisories"] = sorted(o.advisory.key for o in matched.values())
        observations.extend(matched.values())
    return rows, observations


def _status(rows: list[dict], error: str, coverage_known: bool = True) -> tuple[str, str]:
    if error:
        return Scan.Status.ERROR, error
    skipped = sum(1 for r in rows if r["skip_reason"])
    if not coverage_known:
        return Scan.Status.INCOMPLETE, "the report does not say how many packages were audited"
    if not rows:
        return Scan.Status.INCOMPLETE, "no packages found to check"
    if skipped:
        return Scan.Status.INCOMPLETE, f"{skipped} of {len(rows)} packages could not be checked"
    return Scan.Status.COMPLETE, ""


def _save(scan: Scan, rows: list[dict]) -> Scan:
    with transaction.atomic():
        scan.finished_at = timezone.now()
        scan.save()
        ScanPackage.objects.bulk_create(
            [
                ScanPackage(
                    scan=scan,
                    status=ScanPackage.Status.SKIPPED
                    if r["skip_reason"]
                    else ScanPackage.Status.CHECKED,
                    **r,
                )
                for r in rows
            ]
        )
        record(
            "security.scan_recorded",
            scan,
            after={
                "source": scan.source,
                "status": scan.status,
                "checked": scan.packages_checked,
                "skipped": scan.packages_skipped,
                "vulnerable": scan.vulnerable,
                "release": scan.release_id,
            },
            reason=scan.detail,
        )
    return scan


def scan_release(release, *, channel=None, user=None, run_id=None) -> ScanResult:
    """Audit what ``release``'s bundle ships; the scan is stored, findings are not touched."""
    scan = Scan(
        app_id=release.app_id,
        release=release,
        channel=channel,
        source=Scan.Source.BUNDLE,
        requested_by=user,
        run_id=run_id,
    )
    error, rows, observations = "", [], []
    try:
        packages, files = manifests.read_bundle(_bundle_path(release))
        scan.files = files
        unique = list(dict.fromkeys(packages))
        rows, observations = _match(unique)
    except manifests.ManifestError as exc:
        error = str(exc)
    scan.status, scan.detail = _status(rows, error)
    if not error and not rows and not scan.files:
        scan.detail = "no package-lock.json or requirements*.txt in the bundle"
    # A bundle is everything the release ships: a complete bundle scan speaks for every
    # ecosystem we audit (no requirements file means no PyPI packages shipped).
    scan.ecosystems = sorted(osv.SUPPORTED)
    scan.packages_skipped = sum(1 for r in rows if r["skip_reason"])
    scan.packages_checked = len(rows) - scan.packages_skipped
    scan.vulnerable = sum(1 for r in rows if r["advisories"])
    return ScanResult(_save(scan, rows), observations if not error else [])


def _report_advisory(hit: reports.Hit, source: str) -> Advisory:
    """The canonical advisory for a report's ids: an imported one when any id is known."""
    alias = AdvisoryAlias.objects.filter(alias__in=hit.ids).select_related("advisory").first()
    if alias is not None:
        advisory, _ = osv.group_for(hit.ids, key=hit.ids[0])  # links new aliases, merges
        return advisory
    advisory, _ = osv.group_for(hit.ids, key=hit.ids[0], source=source)
    advisory.summary = hit.summary
    advisory.severity = hit.severity
    advisory.save(update_fields=["summary", "severity"])
    return advisory


PARSERS = {
    Scan.Source.PIP_AUDIT: reports.parse_pip_audit,
    Scan.Source.NPM_AUDIT: reports.parse_npm_audit,
}


def import_report(app, source: str, data: bytes, *, release=None, user=None) -> ScanResult:
    """Store an uploaded report as a scan (``error`` when it cannot be read)."""
    scan = Scan(app=app, release=release, source=source, requested_by=user)
    rows: list[dict] = []
    observations: list[Observation] = []
    try:
        report = PARSERS[source](data)
    except reports.ReportError as exc:
        scan.status, scan.detail = _status([], str(exc))
        scan.ecosystems = ["PyPI" if source == Scan.Source.PIP_AUDIT else "npm"]
        return ScanResult(_save(scan, []), [])
    with transaction.atomic():
        for pkg in report.packages:
            advisories = [_report_advisory(hit, source) for hit in pkg.hits]
            rows.append(
                {
                    "ecosystem": pkg.ecosystem,
                    "name": pkg.name,
                    "version": pkg.version,
                    "source_file": "",
                    "skip_reason": pkg.skip_reason,
                    "advisories": sorted(a.key for a in advisories),
                }
            )
            for hit, advisory in zip(pkg.hits, advisories, strict=True):
                observations.append(
                    Observation(pkg.ecosystem, pkg.name, pkg.version, advisory, hit.fixed)
                )
        scan.status, scan.detail = _status(rows, "", report.coverage_known)
        # npm lists only vulnerable packages; the rest of the audited ones were checked clean.
        if (
            report.checked + report.skipped > len(rows)
            and scan.status == Scan.Status.INCOMPLETE
            and scan.detail == "no packages found to check"
        ):
            scan.status, scan.detail = Scan.Status.COMPLETE, ""
        if report.notes:
            scan.detail = "; ".join(filter(None, [scan.detail, *report.notes]))
        scan.ecosystems = [report.ecosystem]
        scan.packages_checked = report.checked
        scan.packages_skipped = report.skipped
        scan.vulnerable = sum(1 for r in rows if r["advisories"])
        _save(scan, rows)
    return ScanResult(scan, observations)
