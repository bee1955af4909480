"""pip-audit and npm audit JSON reports: their content, not their exit codes, decides."""

import json

import pytest

from security import reports, scanning
from security.findings import reconcile
from security.models import Advisory, Finding, Scan
from tests.security.conftest import advisory, load_osv

pytestmark = pytest.mark.django_db


def pip_report(*deps):
    return json.dumps({"dependencies": list(deps), "fixes": []}).encode()


def dep(name, version, *vulns, skip=None):
    entry = {"name": name, "version": version, "vulns": list(vulns)}
    if skip:
        entry = {"name": name, "skip_reason": skip}
    return entry


def vuln(vid, *aliases, fix=("2.0",)):
    return {"id": vid, "fix_versions": list(fix), "aliases": list(aliases), "description": "bad"}


def npm_report(vulnerabilities, total=10):
    return json.dumps(
        {
            "auditReportVersion": 2,
            "vulnerabilities": vulnerabilities,
            "metadata": {
                "vulnerabilities": {"critical": 0, "high": 1, "total": 1},
                "dependencies": {"prod": total, "total": total},
            },
        }
    ).encode()


NPM_LODASH = {
    "lodash": {
        "name": "lodash",
        "severity": "high",
        "isDirect": True,
        "via": [
            {
                "source": 1106914,
                "name": "lodash",
                "dependency": "lodash",
                "title": "Command Injection in lodash",
                "url": "https://example.test/advisories/GHSA-35jh-r3h4-6jhm",
                "severity": "high",
                "range": "<4.17.21",
            }
        ],
        "effects": ["other"],
        "range": "<4.17.21",
        "nodes": ["node_modules/lodash"],
        "fixAvailable": True,
    },
    "other": {"name": "other", "severity": "high", "via": ["lodash"], "range": "*"},
}


def test_a_pip_audit_report_with_findings_is_complete(app):
    result = scanning.import_report(
        app,
        "pip_audit",
        pip_report(dep("Django", "4.0", vuln("PYSEC-1", "CVE-1")), dep("six", "1.0")),
    )
    assert (result.scan.status, result.scan.packages_checked) == ("complete", 2)
    assert [(o.package, o.advisory.key) for o in result.observations] == [("django", "PYSEC-1")]


def test_pip_audit_with_every_package_skipped_is_incomplete_never_clean(app):
    data = pip_report(dep("a", "", skip="Dependency not found on PyPI"), dep("b", "", skip="x"))
    scan = scanning.import_report(app, "pip_audit", data).scan
    assert (scan.status, scan.packages_checked, scan.packages_skipped) == ("incomplete", 0, 2)
    assert scan.packages.filter(status="skipped").count() == 2


def test_an_empty_pip_audit_report_is_incomplete(app):
    assert scanning.import_report(app, "pip_audit", pip_report()).scan.status == "incomplete"


@pytest.mark.parametrize("data", [b"No known vulnerabilities found", b"{}", b'{"dependencies": 1}'])
def test_an_unreadable_pip_audit_report_is_an_error(app, data):
    assert scanning.import_report(app, "pip_audit", data).scan.status == "error"


def test_report_ids_join_imported_advisories_through_aliases(app):
    load_osv(advisory("GHSA-xxxx-yyyy-zzzz", "django", aliases=["CVE-1"], severity="CRITICAL"))
    result = scanning.import_report(
        app, "pip_audit", pip_report(dep("django", "4.0", vuln("PYSEC-9", "CVE-1")))
    )
    assert result.observations[0].advisory.key == "GHSA-xxxx-yyyy-zzzz"
    assert Advisory.objects.count() == 1


def test_an_npm_audit_v2_report_makes_findings_for_the_advisory_source_only(app):
    result = scanning.import_report(app, "npm_audit", npm_report(NPM_LODASH))
    reconcile([result], closes=True)
    finding = Finding.objects.get()
    assert (finding.package, finding.advisory.key, finding.severity) == (
        "lodash",
        "GHSA-35jh-r3h4-6jhm",
        "high",
    )
    assert (result.scan.status, result.scan.packages_checked) == ("complete", 10)


def test_an_npm_audit_error_body_is_an_error(app):
    data = json.dumps({"error": {"code": "ENOLOCK", "summary": "needs a lockfile"}}).encode()
    scan = scanning.import_report(app, "npm_audit", data).scan
    assert scan.status == "error"
    assert "ENOLOCK" in scan.detail


def test_an_old_npm_audit_report_is_refused_as_an_error(app):
    data = json.dumps({"actions": [], "advisories": {}, "metadata": {}}).encode()
    assert scanning.import_report(app, "npm_audit", data).scan.status == "error"


def test_an_npm_report_without_a_package_count_is_incomplete(app):
    data = json.dumps({"auditReportVersion": 2, "vulnerabilities": {}, "metadata": {}}).encode()
    assert scanning.import_report(app, "npm_audit", data).scan.status == "incomplete"


def test_a_clean_npm_report_with_audited_packages_is_complete(app):
    scan = scanning.import_report(app, "npm_audit", npm_report({}, total=42)).scan
    assert (scan.status, scan.packages_checked) == (Scan.Status.COMPLETE, 42)


def test_the_npm_parser_reads_ghsa_ids_from_the_url():
    report = reports.parse_npm_audit(npm_report(NPM_LODASH))
    assert [p.hits[0].ids for p in report.packages] == [["GHSA-35jh-r3h4-6jhm"]]
