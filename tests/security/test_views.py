"""The security pages: lists with filters and counts, actions by role, uploads, the card."""

import json
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from audit.models import ChangeRequest
from security import scanning
from security.findings import reconcile
from security.models import AdvisoryRecord, Finding, Scan
from tests.security.conftest import advisory, load_osv, lock_v3, osv_zip, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_findings(app):
    load_osv(
        advisory("GHSA-crit", "lodash", ecosystem="npm", severity="CRITICAL"),
        advisory("GHSA-low", "left-pad", ecosystem="npm", severity="LOW"),
    )
    lock = {"package-lock.json": lock_v3({"lodash": "1.0.0", "left-pad": "1.0.0"})}
    result = scanning.scan_release(publish(app, "1.0.0", lock))
    reconcile([result], closes=True)
    return {f.advisory.key: f for f in Finding.objects.all()}


def test_the_list_shows_active_findings_with_counts(login, dave, two_findings):
    response = login(dave).get("/security/")
    body = response.content.decode()
    assert "GHSA-crit" in body and "GHSA-low" in body
    assert [(s, n) for s, n in response.context["severity_counts"] if n] == [
        ("critical", 1),
        ("low", 1),
    ]


def test_the_list_filters_by_severity_state_and_app(login, dave, two_findings):
    client = login(dave)
    rows = client.get("/security/?severity=critical").context["rows"]
    assert [f.advisory.key for f in rows] == ["GHSA-crit"]
    assert client.get("/security/?state=fixed").context["rows"] == []
    assert client.get("/security/?app=other").context["rows"] == []


def test_the_overdue_filter_keeps_only_overdue_findings(login, dave, two_findings):
    crit = two_findings["GHSA-crit"]
    Finding.objects.filter(pk=crit.pk)._audited_update(due_at=timezone.now() - timedelta(days=1))
    response = login(dave).get("/security/?overdue=on")
    assert [f.advisory.key for f in response.context["rows"]] == ["GHSA-crit"]
    assert response.context["overdue_count"] == 1


def test_the_list_query_count_does_not_grow_with_rows(
    login, dave, two_findings, django_assert_max_num_queries
):
    client = login(dave)
    with django_assert_max_num_queries(12):
        client.get("/security/")


def test_an_empty_list_says_what_to_do(login, dave):
    assert "imports an OSV all.zip" in login(dave).get("/security/").content.decode()


def test_a_viewer_sees_no_action_forms(login, dave, two_findings):
    body = login(dave).get(f"/security/findings/{two_findings['GHSA-crit'].pk}/").content.decode()
    assert "Request suppression" not in body and "Acknowledge</button>" not in body


def test_an_operator_acknowledges_through_the_form(login, carol, two_findings):
    finding = two_findings["GHSA-crit"]
    response = login(carol).post(f"/security/findings/{finding.pk}/acknowledge/", {"note": "on it"})
    assert response.status_code == 302
    finding.refresh_from_db()
    assert finding.state == "acknowledged"


def test_an_empty_note_re_renders_the_form_and_changes_nothing(login, carol, two_findings):
    finding = two_findings["GHSA-crit"]
    response = login(carol).post(f"/security/findings/{finding.pk}/acknowledge/", {"note": ""})
    assert response.status_code == 400
    assert response.context["ack_form"].errors["note"]
    assert Finding.objects.get(pk=finding.pk).state == "open"


def test_a_suppression_request_goes_to_the_approval_page(login, carol, two_findings):
    finding = two_findings["GHSA-crit"]
    until = (timezone.now() + timedelta(days=10)).date().isoformat()
    response = login(carol).post(
        f"/security/findings/{finding.pk}/suppress/", {"reason": "dev only", "until": until}
    )
    cr = ChangeRequest.objects.get(kind="security.suppress_finding")
    assert response["Location"] == f"/audit/approvals/{cr.pk}/"
    assert Finding.objects.get(pk=finding.pk).state == "open"  # until someone else approves


def test_a_past_expiry_re_renders_with_a_field_error(login, carol, two_findings):
    finding = two_findings["GHSA-crit"]
    response = login(carol).post(
        f"/security/findings/{finding.pk}/suppress/", {"reason": "x", "until": "2020-01-01"}
    )
    assert response.status_code == 400
    assert response.context["suppress_form"].errors["until"]
    assert not ChangeRequest.objects.exists()


def test_the_second_operator_approves_through_the_approvals_page(
    login, client, carol, alice, two_findings
):
    finding = two_findings["GHSA-crit"]
    until = (timezone.now() + timedelta(days=10)).date().isoformat()
    login(carol).post(f"/security/findings/{finding.pk}/suppress/", {"reason": "r", "until": until})
    cr = ChangeRequest.objects.get()
    refused = login(carol).post(f"/audit/approvals/{cr.pk}/approve/", {"version": 1})
    assert refused.status_code == 403
    assert ChangeRequest.objects.get().status == "pending"
    client.force_login(alice)
    client.post(f"/audit/approvals/{cr.pk}/approve/", {"version": 1})
    client.post(f"/audit/approvals/{cr.pk}/apply/")
    assert Finding.objects.get(pk=finding.pk).state == "suppressed"


def test_scan_pages_show_status_and_skip_reasons(login, dave, app):
    load_osv(advisory("PYSEC-1", "django"))
    result = scanning.scan_release(
        publish(app, "1.0.0", {"requirements.txt": "django==4.0\nflask"})
    )
    client = login(dave)
    assert "incomplete" in client.get("/security/scans/").content.decode()
    body = client.get(f"/security/scans/{result.scan.pk}/").content.decode()
    assert "not pinned with == (no version)" in body
    assert "closes no finding" in body


def _report(data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile("report.json", data, content_type="application/json")


def test_an_operator_uploads_a_pip_audit_report(login, carol, app):
    data = json.dumps(
        {"dependencies": [{"name": "django", "version": "4.0", "vulns": [{"id": "PYSEC-7"}]}]}
    ).encode()
    response = login(carol).post(
        "/security/scans/upload/", {"app": "shop", "kind": "pip_audit", "report": _report(data)}
    )
    scan = Scan.objects.get()
    assert response["Location"] == f"/security/scans/{scan.pk}/"
    assert (scan.status, Finding.objects.get().advisory.key) == ("complete", "PYSEC-7")


def test_an_upload_naming_an_unknown_release_re_renders(login, carol, app):
    response = login(carol).post(
        "/security/scans/upload/",
        {"app": "shop", "release": "9.9.9", "kind": "pip_audit", "report": _report(b"{}")},
    )
    assert response.status_code == 400
    assert response.context["form"].errors["release"]
    assert not Scan.objects.exists()


def test_an_admin_imports_an_osv_export(login, alice):
    upload = SimpleUploadedFile("all.zip", osv_zip(advisory("A-1", "pkg")))
    response = login(alice).post("/security/advisories/", {"export": upload})
    assert response.status_code == 302
    assert AdvisoryRecord.objects.count() == 1


def test_a_bad_export_re_renders_with_the_reason_and_stores_nothing(login, alice):
    upload = SimpleUploadedFile("all.zip", b"not a zip")
    response = login(alice).post("/security/advisories/", {"export": upload})
    assert response.status_code == 400
    assert "nothing was stored" in str(response.context["form"].errors["export"])
    assert not AdvisoryRecord.objects.exists()


def test_the_dashboard_card_says_what_to_do_first(login, dave):
    body = login(dave).get("/").content.decode()
    assert "No vulnerability data yet" in body


def test_the_dashboard_card_counts_open_findings(login, dave, two_findings):
    cards = {c.title: c for c in login(dave).get("/").context["cards"]}
    stats = dict(cards["Security"].stats)
    assert (stats["Open critical"], stats["Open low"], stats["Overdue"]) == (1, 1, 0)
    assert stats["Last complete scan"] != "never"


def test_the_navigation_has_a_security_item(login, dave):
    assert 'href="/security/"' in login(dave).get("/security/").content.decode()


def test_filtering_over_htmx_renders_only_the_results(login, dave, two_findings):
    response = login(dave).get("/security/?severity=low", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="results"')
    assert "GHSA-low" in body and "GHSA-crit" not in body


def test_the_scan_pages_query_counts_do_not_grow_with_rows(
    login, dave, app, django_assert_max_num_queries
):
    load_osv(advisory("PYSEC-1", "django"))
    pins = "\n".join(f"pkg{n}==1.0" for n in range(30))
    scans = [
        scanning.scan_release(publish(app, f"1.0.{n}", {"requirements.txt": pins})).scan
        for n in range(3)
    ]
    client = login(dave)
    with django_assert_max_num_queries(10):
        client.get("/security/scans/")
    with django_assert_max_num_queries(12):
        client.get(f"/security/scans/{scans[0].pk}/")


def test_seeing_a_finding_again_is_in_its_history(app, two_findings):
    from audit.models import AuditEvent

    lock = {"package-lock.json": lock_v3({"lodash": "1.0.0", "left-pad": "1.0.0"})}
    reconcile([scanning.scan_release(publish(app, "1.0.1", lock))], closes=True)
    crit = two_findings["GHSA-crit"]
    assert AuditEvent.objects.for_object("security.finding", crit.pk).first().action == (
        "security.finding_seen"
    )


def test_the_dashboard_card_costs_two_queries(rf, dave, two_findings, django_assert_num_queries):
    from security.views import dashboard_card

    request = rf.get("/")
    request.user = dave
    with django_assert_num_queries(2):
        card = dashboard_card(request)
    assert card.status == "warn"
