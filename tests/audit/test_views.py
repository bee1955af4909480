from django.db import transaction

from audit import approvals
from audit.models import ChangeRequest
from audit.trail import record


def _events():
    with transaction.atomic():
        record("release.published", object_type="releases.release", object_id=1)
        record("backup.started", object_type="backups.backup", object_id=7)


def _grant(alice, dave) -> ChangeRequest:
    return approvals.request_change(
        "accounts.grant_admin",
        requested_by=alice,
        target=dave,
        payload={"user_id": dave.pk, "username": "dave"},
        title="Make dave an Admin",
    )


def test_the_log_filters_by_action(login, dave):
    _events()
    response = login(dave).get("/audit/log/", {"action": "backup."})
    actions = [e.action for e in response.context["page"]]
    assert actions == ["backup.started"]


def test_the_log_filters_by_object(login, dave):
    _events()
    response = login(dave).get("/audit/log/", {"object_type": "releases.release", "object_id": "1"})
    assert [e.object_id for e in response.context["page"]] == ["1"]


def test_a_backwards_time_range_is_a_form_error(login, dave):
    response = login(dave).get(
        "/audit/log/", {"since": "2026-02-01T00:00", "until": "2026-01-01T00:00"}
    )
    assert response.status_code == 400
    assert "must be before" in response.content.decode()


def test_htmx_gets_only_the_results_fragment(login, dave):
    _events()
    response = login(dave).get("/audit/log/", {"action": "backup."}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert body.strip().startswith('<div id="results">')
    assert "backup.started" in body


def test_the_log_page_has_a_fixed_query_count(login, dave, django_assert_num_queries):
    client = login(dave)
    _events()
    client.get("/audit/log/")  # warm up the session and permission caches
    with django_assert_num_queries(9):
        client.get("/audit/log/")
    for _ in range(20):
        _events()
    with django_assert_num_queries(9):
        client.get("/audit/log/")


def test_the_history_panel_lists_an_objects_events(login, alice, dave):
    cr = _grant(alice, dave)
    body = login(dave).get(f"/audit/history/audit.changerequest/{cr.pk}/").content.decode()
    assert "change.requested" in body


def test_an_admin_approves_through_the_form(login, alice, alex, dave):
    cr = _grant(alice, dave)
    response = login(alex).post(f"/audit/approvals/{cr.pk}/approve/", {"version": 1})
    cr.refresh_from_db()
    assert response.status_code == 302
    assert cr.status == "approved"


def test_the_requester_sees_no_approve_button_and_is_refused(login, alice, dave):
    cr = _grant(alice, dave)
    client = login(alice)
    assert "Approve</button>" not in client.get(f"/audit/approvals/{cr.pk}/").content.decode()
    response = client.post(f"/audit/approvals/{cr.pk}/approve/", {"version": 1})
    assert response.status_code == 403


def test_a_stale_approval_form_gets_409_and_re_renders(login, alice, alex, dave, carol):
    cr = _grant(alice, dave)
    approvals.edit_payload(
        cr.pk, alice, version=1, payload={"user_id": carol.pk, "username": "carol"}
    )
    response = login(alex).post(f"/audit/approvals/{cr.pk}/approve/", {"version": 1})
    assert response.status_code == 409
    assert "payload changed" in response.content.decode()


def test_bad_json_in_the_payload_editor_re_renders_with_an_error(login, alice, dave):
    cr = _grant(alice, dave)
    response = login(alice).post(
        f"/audit/approvals/{cr.pk}/edit/", {"version": 1, "payload": "{not json"}
    )
    assert response.status_code == 400
    assert ChangeRequest.objects.get(pk=cr.pk).version == 1
