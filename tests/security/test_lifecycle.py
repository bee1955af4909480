"""Findings: open → acknowledged / suppressed (four-eyes) → fixed → regressed, honestly."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from audit import approvals
from audit.models import AuditEvent
from security import findings, scanning
from security.findings import FindingError, reconcile
from security.models import Finding, FindingState, Scan
from tests.security.conftest import advisory, load_osv, lock_v3, publish

pytestmark = pytest.mark.django_db

LODASH = advisory(
    "GHSA-lodash",
    "lodash",
    ecosystem="npm",
    events=[{"introduced": "0"}, {"fixed": "4.17.21"}],
    severity="CRITICAL",
)


def _scan(release, closes=True):
    result = scanning.scan_release(release)
    return result, reconcile([result], closes=closes)


@pytest.fixture
def data(db):
    load_osv(LODASH, advisory("PYSEC-x", "unrelated"))


def test_a_vulnerable_lock_file_opens_a_finding_with_its_sla(app, data):
    release = publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})})
    result, counts = _scan(release)
    finding = Finding.objects.get()
    assert (result.scan.status, counts["opened"], finding.state) == ("complete", 1, "open")
    assert finding.due_at == finding.first_seen_at + timedelta(days=7)
    assert finding.fixed_versions == ["4.17.21"]


def test_a_complete_scan_without_it_marks_it_fixed_and_seeing_it_again_regresses_the_same_row(
    app, data
):
    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    _scan(publish(app, "1.1.0", {"package-lock.json": lock_v3({"lodash": "4.17.21"})}))
    finding = Finding.objects.get()
    assert (finding.state, finding.fixed_at is not None) == ("fixed", True)
    _scan(publish(app, "1.2.0", {"package-lock.json": lock_v3({"lodash": "4.17.19"})}))
    finding.refresh_from_db()
    assert (Finding.objects.count(), finding.state, finding.regressions) == (1, "regressed", 1)
    actions = list(
        AuditEvent.objects.filter(object_type="security.finding")
        .order_by("seq")
        .values_list("action", flat=True)
    )
    assert actions == [
        "security.finding_opened",
        "security.finding_fixed",
        "security.finding_regressed",
    ]


def test_an_incomplete_scan_never_fixes(app, data):
    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    files = {
        "package-lock.json": lock_v3({"lodash": "4.17.21"}),
        "requirements.txt": "django>=4",
    }
    result, counts = _scan(publish(app, "1.1.0", files))
    assert (result.scan.status, counts["fixed"]) == ("incomplete", 0)
    assert Finding.objects.get().state == "open"


def test_an_error_scan_never_fixes(app, data):
    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    result, counts = _scan(publish(app, "1.1.0", {"package-lock.json": "{broken"}))
    assert (result.scan.status, counts["fixed"]) == ("error", 0)
    assert Finding.objects.get().state == "open"


def test_a_bundle_without_manifests_is_incomplete_not_clean(app, data):
    result, _ = _scan(publish(app, "1.0.0"))
    assert result.scan.status == "incomplete"
    assert "no package-lock.json" in result.scan.detail


def test_packages_without_advisory_data_are_skipped(app):
    load_osv(advisory("PYSEC-1", "django"))
    result, _ = _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "1.0.0"})}))
    assert result.scan.status == "incomplete"
    assert result.scan.packages.get().skip_reason == "no npm advisory data imported"


def test_a_narrowed_scan_opens_but_never_closes(app, data):
    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    _, counts = _scan(
        publish(app, "1.1.0", {"package-lock.json": lock_v3({"lodash": "4.17.21"})}), closes=False
    )
    assert (counts["fixed"], Finding.objects.get().state) == (0, "open")


def test_the_same_vulnerability_under_two_ids_is_one_finding(app):
    load_osv(
        advisory("GHSA-1", "lodash", ecosystem="npm", aliases=["CVE-9"]),
        advisory("OTHER-1", "lodash", ecosystem="npm", aliases=["CVE-9"]),
    )
    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "1.0.0"})}))
    assert Finding.objects.count() == 1


# ---------------------------------------------------------------- people


@pytest.fixture
def finding(app, data):
    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    return Finding.objects.get()


def test_an_operator_acknowledges_with_a_note(finding, carol):
    findings.acknowledge(finding, carol, note="upgrade planned for Friday")
    finding.refresh_from_db()
    assert (finding.state, finding.note) == ("acknowledged", "upgrade planned for Friday")


def test_acknowledging_needs_a_note_and_a_role(finding, carol, dave):
    with pytest.raises(FindingError):
        findings.acknowledge(finding, carol, note="  ")
    with pytest.raises(FindingError):
        findings.acknowledge(finding, dave, note="x")
    assert Finding.objects.get().state == "open"


def _suppress(finding, user, days=30):
    return findings.request_suppression(
        finding,
        user,
        reason="not reachable in our build",
        until=timezone.now() + timedelta(days=days),
    )


def test_a_suppression_needs_a_second_person(finding, carol, alice):
    cr = _suppress(finding, carol)
    with pytest.raises(approvals.SelfApprovalError):
        approvals.approve(cr.pk, carol, version=cr.version)
    assert Finding.objects.get().state == "open"
    approvals.approve(cr.pk, alice, version=cr.version)
    approvals.apply(cr.pk, alice)
    finding.refresh_from_db()
    assert (finding.state, finding.suppressed_reason) == (
        "suppressed",
        "not reachable in our build",
    )


def test_a_suppression_needs_a_reason_and_a_bounded_future_expiry(finding, carol):
    with pytest.raises(FindingError, match="why"):
        findings.request_suppression(
            finding, carol, reason="", until=timezone.now() + timedelta(days=1)
        )
    with pytest.raises(FindingError, match="future"):
        findings.request_suppression(finding, carol, reason="r", until=timezone.now())
    with pytest.raises(FindingError, match="365"):
        _suppress(finding, carol, days=400)


def test_a_second_request_while_one_waits_is_refused(finding, carol):
    _suppress(finding, carol)
    with pytest.raises(FindingError, match="already waiting"):
        _suppress(finding, carol)


def test_a_release_manager_cannot_approve_a_suppression(finding, carol, bob):
    cr = _suppress(finding, carol)
    with pytest.raises(approvals.NotAllowedError):
        approvals.approve(cr.pk, bob, version=cr.version)


def test_an_expired_suppression_returns_to_open(finding, carol, alice):
    cr = _suppress(finding, carol, days=2)
    approvals.approve(cr.pk, alice, version=cr.version)
    approvals.apply(cr.pk, alice)
    assert findings.expire_suppressions(timezone.now() + timedelta(days=1)) == 0
    assert findings.expire_suppressions(timezone.now() + timedelta(days=3)) == 1
    assert Finding.objects.get().state == "open"


def test_a_suppressed_finding_is_still_fixed_by_a_complete_scan(app, finding, carol, alice):
    cr = _suppress(finding, carol)
    approvals.approve(cr.pk, alice, version=cr.version)
    approvals.apply(cr.pk, alice)
    _scan(publish(app, "2.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.21"})}))
    assert Finding.objects.get().state == "fixed"


def test_overdue_findings_come_first(app, alice):
    load_osv(
        advisory("A-crit", "a", ecosystem="npm", severity="CRITICAL"),
        advisory("B-low", "b", ecosystem="npm", severity="LOW"),
        advisory("C-high", "c", ecosystem="npm", severity="HIGH"),
    )
    lock = {"package-lock.json": lock_v3({"a": "1.0.0", "b": "1.0.0"})}
    with time_machine.travel(timezone.now() - timedelta(days=60)):
        _scan(publish(app, "1.0.0", lock))
    _scan(
        publish(
            app, "1.1.0", {"package-lock.json": lock_v3({"a": "1.0.0", "b": "1.0.0", "c": "1.0.0"})}
        )
    )
    order = [f.advisory.key for f in Finding.objects.by_urgency()]
    assert order == ["A-crit", "C-high", "B-low"]
    assert [f.advisory.key for f in Finding.objects.overdue()] == ["A-crit"]


def test_new_critical_findings_are_announced_once(app, data):
    from notifications.models import Notification

    _scan(publish(app, "1.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    _scan(publish(app, "1.0.1", {"package-lock.json": lock_v3({"lodash": "4.17.20"})}))
    assert Notification.objects.filter(event="security.finding_new").count() == 1


def test_a_report_scan_is_stored_with_an_audit_row(app):
    data = json.dumps({"dependencies": []}).encode()
    scan = scanning.import_report(app, "pip_audit", data).scan
    assert AuditEvent.objects.filter(
        action="security.scan_recorded", object_id=str(scan.pk)
    ).exists()
    assert Scan.objects.get().status == "incomplete"


def test_states_are_only_changed_through_the_lifecycle(finding):
    from audit.models import AuditBypassError

    with pytest.raises(AuditBypassError):
        Finding.objects.filter(pk=finding.pk).update(state=FindingState.FIXED)


def test_a_scan_looks_advisories_up_in_a_fixed_number_of_queries(
    app, data, django_assert_max_num_queries
):
    lock = {"package-lock.json": lock_v3({f"pkg{n}": "1.0.0" for n in range(200)})}
    release = publish(app, "1.0.0", lock)
    with django_assert_max_num_queries(10):
        result = scanning.scan_release(release)
    assert result.scan.packages_checked == 200


def test_a_denied_suppression_lets_the_finding_be_suppressed_again_later(finding, carol, alice):
    cr = _suppress(finding, carol)
    approvals.deny(cr.pk, alice, version=cr.version, comment="fix it instead")
    finding.refresh_from_db()
    assert (finding.state, finding.suppression_request) == ("open", None)
    assert _suppress(finding, carol).pk != cr.pk


def test_a_suppression_approved_after_the_finding_was_fixed_changes_nothing(
    app, finding, carol, alice
):
    cr = _suppress(finding, carol)
    approvals.approve(cr.pk, alice, version=cr.version)
    _scan(publish(app, "2.0.0", {"package-lock.json": lock_v3({"lodash": "4.17.21"})}))
    applied = approvals.apply(cr.pk, alice)
    assert applied.result == {"suppressed": False, "why": "the finding is fixed now"}
    assert Finding.objects.get().state == "fixed"
