"""Rollout pages: list with filters, the live page (full and HTMX fragment), forms."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from audit.models import AuditEvent
from releases import rollouts
from releases.models import Rollout
from tests.releases.conftest import publish

NOW = timezone.now()
APPROVAL_PLAN = [
    {"percent": 5, "hold_seconds": 0},
    {"percent": 25, "hold_seconds": 600, "requires_approval": True},
]


@pytest.fixture
def candidate(app, channel):
    publish(app, "1.0.0")
    return publish(app, "1.1.0")


@pytest.fixture
def rollout(channel, candidate, bob):
    return rollouts.start(channel, candidate, user=bob)


@pytest.fixture
def waiting(channel, candidate, bob):
    rollout = rollouts.start(channel, candidate, user=bob, phases=APPROVAL_PLAN)
    # The default (blocking) metrics have no telemetry here: break-glass lets phase 1 end.
    rollouts.skip_analysis(rollout, reason="page tests: no telemetry")
    rollouts.analyse(rollout.pk, now=timezone.now() + timedelta(seconds=1))
    rollout.refresh_from_db()
    return rollout


def test_the_list_shows_rollouts_across_apps(client, login, dave, rollout):
    login(dave)
    response = client.get("/releases/rollouts/")
    assert response.status_code == 200 and b"1.1.0" in response.content


def test_the_list_filters_by_state(client, login, dave, rollout):
    login(dave)
    assert b"1.1.0" not in client.get("/releases/rollouts/?state=aborted").content
    assert b"1.1.0" in client.get("/releases/rollouts/?state=active").content


def test_the_list_makes_a_fixed_number_of_queries(client, login, dave, app, candidate, bob):
    from releases import publishing

    login(dave)
    client.get("/releases/rollouts/")
    for n in range(4):
        channel = publishing.create_channel(app, name=f"c{n}")
        rollouts.start(channel, candidate, user=bob)
    with CaptureQueriesContext(connection) as queries:
        client.get("/releases/rollouts/")
    first = len(queries)
    rollouts.start(publishing.create_channel(app, name="c9"), candidate, user=bob)
    with CaptureQueriesContext(connection) as queries:
        client.get("/releases/rollouts/")
    assert len(queries) == first


def test_the_rollout_page_shows_phase_metrics_and_events(client, login, dave, rollout):
    login(dave)
    body = client.get(f"/releases/rollouts/{rollout.pk}/").content.decode()
    assert "Target" in body and "Crashes per launch" in body
    assert "started" in body and 'hx-trigger="every 3s"' in body


def test_the_htmx_refresh_returns_only_the_live_fragment(client, login, dave, rollout):
    login(dave)
    body = client.get(f"/releases/rollouts/{rollout.pk}/", HTTP_HX_REQUEST="true").content
    assert body.lstrip().startswith(b'<div id="live"') and b"<html" not in body


def test_the_approval_form_shows_what_is_approved(client, login, becky, waiting):
    login(becky)
    body = client.get(f"/releases/rollouts/{waiting.pk}/").content.decode()
    assert waiting.release.bundle_sha256 in body and 'name="row_version"' in body
    assert "Waiting for 1 more approver" in body


def _decide(client, rollout, decision="approve", **override):
    data = {**rollouts.approval_binding(rollout), "decision": decision, **override}
    return client.post(f"/releases/rollouts/{rollout.pk}/decide/", data)


def test_approving_through_the_form_advances_the_phase(client, login, becky, waiting):
    login(becky)
    assert _decide(client, waiting).status_code == 302
    waiting.refresh_from_db()
    assert (waiting.phase, waiting.percent) == (1, 25.0)


def test_a_stale_form_gets_409_and_a_fresh_form(client, login, becky, waiting):
    login(becky)
    response = _decide(client, waiting, row_version=waiting.row_version - 1)
    assert response.status_code == 409
    assert f'value="{waiting.row_version}"' in response.content.decode()


def test_the_starter_is_refused_with_403(client, login, bob, waiting):
    login(bob)
    assert _decide(client, waiting).status_code == 403


def test_a_viewer_cannot_approve(client, login, dave, waiting):
    login(dave)
    assert _decide(client, waiting).status_code == 403


def test_a_rejection_needs_a_reason_and_aborts(client, login, becky, waiting):
    login(becky)
    assert _decide(client, waiting, "reject").status_code == 400
    _decide(client, waiting, "reject", reason="numbers look wrong")
    waiting.refresh_from_db()
    assert waiting.state == "aborted"


def test_the_release_page_starts_a_rollout(client, login, bob, candidate):
    login(bob)
    response = client.post("/releases/shop/v/1.1.0/rollout/", {"channel": "production"})
    rollout = Rollout.objects.get()
    assert response["Location"] == f"/releases/rollouts/{rollout.pk}/"
    assert rollout.started_by == bob


def test_the_release_page_offers_the_start_form(client, login, bob, candidate):
    login(bob)
    assert b"Start rollout" in client.get("/releases/shop/v/1.1.0/").content


def test_pause_resume_abort_and_restart_through_the_page(client, login, becky, rollout):
    login(becky)
    base = f"/releases/rollouts/{rollout.pk}"
    client.post(f"{base}/pause/")
    client.post(f"{base}/resume/")
    client.post(f"{base}/abort/", {"reason": "spike in support tickets"})
    client.post(f"{base}/restart/")
    actions = list(rollout.events.order_by("pk").values_list("action", flat=True))
    assert actions == ["started", "paused", "resumed", "aborted", "restarted"]


def test_an_abort_without_a_reason_changes_nothing(client, login, becky, rollout):
    login(becky)
    client.post(f"/releases/rollouts/{rollout.pk}/abort/", {"reason": ""})
    rollout.refresh_from_db()
    assert rollout.state == "running"


def test_break_glass_promotion_is_audited_as_such(client, login, alice, rollout):
    login(alice)
    client.post(f"/releases/rollouts/{rollout.pk}/promote/", {"reason": "sev1 fix"})
    rollout.refresh_from_db()
    assert rollout.state == "completed"
    assert AuditEvent.objects.filter(action="breakglass.promote", reason="sev1 fix").exists()


def test_a_release_manager_has_no_break_glass(client, login, bob, rollout):
    login(bob)
    response = client.post(f"/releases/rollouts/{rollout.pk}/promote/", {"reason": "x"})
    assert response.status_code == 403


def test_rollback_through_the_page(client, login, alice, rollout):
    login(alice)
    client.post(f"/releases/rollouts/{rollout.pk}/promote/", {"reason": "ship"})
    client.post(f"/releases/rollouts/{rollout.pk}/rollback/", {"reason": "checkout broken"})
    rollout.refresh_from_db()
    assert rollout.state == "rolled_back" and rollout.release.is_disabled


def test_the_releases_page_links_to_the_rollouts(client, login, dave, db):
    login(dave)
    assert b'href="/releases/rollouts/"' in client.get("/releases/").content


def test_the_dashboard_card_counts_rollouts_waiting_for_people(client, login, dave, waiting):
    login(dave)
    body = client.get("/").content.decode()
    assert "Rollouts" in body and "1 awaiting approval, 0 paused" in body


def test_an_aborted_rollout_page_offers_a_restart_and_stops_polling(client, login, becky, rollout):
    rollouts.abort(rollout, reason="spike")
    login(becky)
    body = client.get(f"/releases/rollouts/{rollout.pk}/").content.decode()
    assert "Restart (same cohorts)" in body and "every 3s" not in body


def test_a_paused_rollout_page_says_the_clock_is_stopped(client, login, dave, rollout):
    rollouts.pause(rollout, reason="look")
    login(dave)
    assert "clock stopped" in client.get(f"/releases/rollouts/{rollout.pk}/").content.decode()


def test_a_paused_rollout_page_says_its_guardrails_are_still_watched(client, login, dave, rollout):
    rollouts.pause(rollout, reason="look")
    login(dave)
    page = client.get(f"/releases/rollouts/{rollout.pk}/").content.decode()
    assert 'data-testid="watched-while-paused"' in page and "a breach aborts" in page


def test_a_running_rollout_page_has_no_paused_note(client, login, dave, rollout):
    login(dave)
    page = client.get(f"/releases/rollouts/{rollout.pk}/").content.decode()
    assert "watched-while-paused" not in page


def test_update_answers_may_be_read_by_h5_builds_on_other_origins(client, channel, candidate):
    response = client.get(
        "/api/v1/update",
        {"key": channel.client_key, "current": "1.0.0", "runtime": "2.0.0"},
    )
    assert response["Access-Control-Allow-Origin"] == "*"


def test_whoever_restarts_through_the_page_starts_the_next_attempt(client, login, becky, rollout):
    login(becky)
    rollouts.abort(rollout, reason="spike", now=timezone.now())
    client.post(f"/releases/rollouts/{rollout.pk}/restart/")
    rollout.refresh_from_db()
    assert (rollout.state, rollout.attempt, rollout.started_by) == ("running", 2, becky)
