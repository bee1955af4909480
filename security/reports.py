"""Audit reports made elsewhere: ``pip-audit -f json`` and ``npm audit --json`` (report v2).

Both tools' exit codes lie in opposite directions: pip-audit says "No known vulnerabilities
found" and exits 0 when it skipped every package; npm audit exits 1 for findings and for errors
alike. So only the JSON is read, and it decides: a skipped package makes the scan incomplete, an
error body or an unknown shape makes it an error, nothing listed is never "clean".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from security import matching, severity


class ReportError(ValueError):
    """The report is not one we can read: the scan is an error."""


@dataclass
class Hit:
    ids: list[str]  # the report's id first, then its aliases
    fixed: list[str] = field(default_factory=list)
    severity: str = "unknown"
    summary: str = ""


@dataclass
class ReportPackage:
    ecosystem: str
    name: str
    version: str
    skip_reason: str = ""
    hits: list[Hit] = field(default_factory=list)


@dataclass
class Report:
    ecosystem: str
    packages: list[ReportPackage]
    # How many packages the tool says it audited (npm lists only the vulnerable ones).
    checked: int
    skipped: int
    notes: list[str] = field(default_factory=list)
    coverage_known: bool = True  # False: we cannot tell that every package was audited


def _load(data: bytes) -> object:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ReportError(f"the report is not JSON ({exc})") from None


def parse_pip_audit(data: bytes) -> Report:
    doc = _load(data)
    if not isinstance(doc, dict) or not isinstance(doc.get("dependencies"), list):
        raise ReportError("not a pip-audit JSON report (no 'dependencies' list)")
    packages = []
    for dep in doc["dependencies"]:
        if not isinstance(dep, dict) or not dep.get("name"):
            raise ReportError("a pip-audit dependency has no name")
        name = matching.normalise_name("PyPI", str(dep["name"]))
        version = str(dep.get("version") or "")
        if dep.get("skip_reason"):
            packages.append(ReportPackage("PyPI", name, version, str(dep["skip_reason"])[:300]))
            continue
        hits = []
        for vuln in dep.get("vulns") or []:
            if not isinstance(vuln, dict) or not vuln.get("id"):
                raise ReportError(f"a vulnerability of {name} has no id")
            hits.append(
                Hit(
                    ids=[str(vuln["id"]), *[str(a) for a in vuln.get("aliases") or []]],
                    fixed=[str(v) for v in vuln.get("fix_versions") or []],
                    summary=str(vuln.get("description") or "")[:2000],
                )
            )
        packages.append(ReportPackage("PyPI", name, version, hits=hits))
    skipped = sum(1 for p in packages if p.skip_reason)
    return Report("PyPI", packages, checked=len(packages) - skipped, skipped=skipped)


_GHSA = re.compile(r"(GHSA(?:-[0-9a-z]{4}){3})", re.IGNORECASE)


def _npm_id(via: dict) -> str:
    match = _GHSA.search(str(via.get("url") or ""))
    if match:
        return match.group(1)
    if via.get("source") is not None:
        return f"NPM-ADVISORY-{via['source']}"
    raise ReportError(f"an advisory of {via.get('name')} has neither url nor source id")


def parse_npm_audit(data: bytes) -> Report:
    doc = _load(data)
    if not isinstance(doc, dict):
        raise ReportError("not an npm audit JSON report")
    if isinstance(doc.get("error"), dict):
        error = doc["error"]
        raise ReportError(
            f"npm audit failed: {error.get('code', '')} {error.get('summary', '')}".strip()
        )
    if doc.get("auditReportVersion") != 2:
        raise ReportError("only npm audit reports with auditReportVersion 2 are supported")
    vulnerabilities = doc.get("vulnerabilities")
    if not isinstance(vulnerabilities, dict):
        raise ReportError("the report has no 'vulnerabilities' object")
    packages = []
    for key, entry in vulnerabilities.items():
        if not isinstance(entry, dict):
            raise ReportError(f"vulnerability entry {key!r} is not an object")
        name = str(entry.get("name") or key)
        hits = []
        for via in entry.get("via") or []:
            # A string names another package this one is vulnerable through: that package has
            # its own entry with the advisory.
            if not isinstance(via, dict):
                continue
            if via.get("name") and via["name"] != name:
                continue
            level = severity.LABELS.get(str(via.get("severity", "")).lower(), "unknown")
            hits.append(
                Hit(
                    ids=[_npm_id(via)],
                    severity=level,
                    summary=str(via.get("title") or "")[:2000],
                )
            )
        if hits:
            version = f"range {entry.get('range', '')}".strip()
            packages.append(ReportPackage("npm", name, version, hits=hits))
    notes = []
    total = ((doc.get("metadata") or {}).get("dependencies") or {}).get("total")
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        # Without the count we cannot say every package was audited.
        notes.append("metadata.dependencies.total is missing: the audited package count is unknown")
        return Report(
            "npm", packages, checked=len(packages), skipped=0, notes=notes, coverage_known=False
        )
    notes.append("npm audit reports affected ranges, not installed versions")
    return Report("npm", packages, checked=max(total, len(packages)), skipped=0, notes=notes)
