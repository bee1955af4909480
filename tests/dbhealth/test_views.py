"""The Database pages, their forms, the nav item and the dashboard card."""

from __future__ import annotations

import pytest
from django.db import connection

from audit.models import ChangeRequest
from dbhealth import analysis
from dbhealth.models import Action, Report
from dbhealth.targets import get_target
from dbhealth.tasks import run_action

pytestmark = pytest.mark.django_db


def test_the_nav_has_a_database_item(login, dave):
    page = login(dave).get("/").content.decode()
    assert '<a href="/dbhealth/">Database</a>' in page


def test_the_dashboard_card_says_what_to_do_before_any_report(login, dave):
    page = login(dave).get("/").content.decode()
    assert "No database report yet" in page


def test_the_dashboard_card_shows_real_numbers(login, dave, sqlite_source):
    analysis.analyse(get_target("shopdb"))
    page = login(dave).get("/").content.decode()
    assert "Databases analysed" in page and "No database report yet" not in page
    card = page[page.index("Databases analysed") :]
    assert "Index findings" in card and ">3<" in card[:400]


def test_the_index_lists_the_console_and_sqlite_sources(login, dave, sqlite_source):
    page = login(dave).get("/dbhealth/").content.decode()
    assert "Console database" in page and "Source shopdb" in page and "never analysed" in page


def test_analyse_queues_an_action_that_the_worker_runs_into_a_report(login, carol, sqlite_source):
    response = login(carol).post("/dbhealth/shopdb/analyse/")
    assert response.status_code == 302
    action = Action.objects.get(kind=Action.Kind.ANALYSE)
    assert action.status == Action.Status.QUEUED and action.requested_by == carol
    run_action(action.pk)
    action.refresh_from_db()
    assert action.status == Action.Status.SUCCEEDED and action.report_id


def test_the_target_page_shows_sqlite_findings(login, dave, sqlite_source):
    analysis.analyse(get_target("shopdb"), full_integrity=True)
    page = login(dave).get("/dbhealth/shopdb/").content.decode()
    assert "duplicate of item_bin" in page and "redundant: prefix of item_shelf_bin" in page
    assert "integrity_check" in page and "Reclaimable by VACUUM" in page


def test_a_partial_report_says_what_was_not_checked(login, dave, sqlite_source):
    report = analysis.analyse(get_target("shopdb"))
    Report.objects.filter(pk=report.pk)._audited_update(
        status="partial", skipped=[{"check": "space", "reason": "TimeoutError: took too long"}]
    )
    page = login(dave).get(f"/dbhealth/reports/{report.pk}/").content.decode()
    assert "Not checked in this report" in page and "TimeoutError: took too long" in page


def test_a_bad_reindex_form_re_renders_with_errors_and_changes_nothing(login, carol):
    response = login(carol).post("/dbhealth/console/reindex/", {"schema": "public"})
    assert response.status_code == 400 and b"index: This field is required." in response.content
    assert not Action.objects.exists()


def test_a_drop_without_a_reason_is_refused(login, carol):
    response = login(carol).post(
        "/dbhealth/console/drop/", {"schema": "public", "index": "x", "reason": " "}
    )
    assert response.status_code == 400 and not ChangeRequest.objects.exists()


def test_an_unknown_index_is_refused_with_the_reason(login, carol):
    response = login(carol).post(
        "/dbhealth/console/reindex/", {"schema": "public", "index": "no_such_index"}
    )
    expected = (
        b"no index public.no_such_index"
        if connection.vendor == "postgresql"
        else b"REINDEX CONCURRENTLY is not available on sqlite"
    )
    assert response.status_code == 400 and expected in response.content
    assert not Action.objects.exists()


@pytest.mark.postgresql
@pytest.mark.django_db(transaction=True)
def test_the_console_page_shows_postgresql_verdicts_and_drop_goes_to_approval(
    login, carol, pg_schema
):
    analysis.analyse(get_target("console"))
    client = login(carol)
    page = client.get("/dbhealth/console/").content.decode()
    assert "duplicate of dbh_child_a" in page and "Ask to drop (four-eyes)" in page
    response = client.post(
        "/dbhealth/console/drop/",
        {"schema": "public", "index": "dbh_child_a_again", "reason": "duplicate"},
    )
    cr = ChangeRequest.objects.get(kind="dbhealth.drop_index")
    assert response.status_code == 302 and response["Location"] == f"/audit/approvals/{cr.pk}/"
    assert cr.payload["definition"].startswith("CREATE INDEX dbh_child_a_again ON public.dbh_child")


def test_the_index_and_target_pages_pin_their_query_counts(
    login, dave, sqlite_source, django_assert_max_num_queries
):
    analysis.analyse(get_target("shopdb"))
    client = login(dave)
    client.get("/dbhealth/")  # warm the session and permission caches
    with django_assert_max_num_queries(9):
        assert client.get("/dbhealth/").status_code == 200
    with django_assert_max_num_queries(10):
        assert client.get("/dbhealth/shopdb/").status_code == 200


def test_the_actions_list_polls_while_an_action_is_queued(login, carol, sqlite_source):
    client = login(carol)
    client.post("/dbhealth/shopdb/analyse/")
    page = client.get("/dbhealth/shopdb/").content.decode()
    assert 'hx-trigger="every 2s"' in page and "1 action queued or running" in page
    fragment = client.get("/dbhealth/shopdb/", headers={"HX-Request": "true"})
    body = fragment.content.decode()
    assert body.strip().startswith('<div id="dbhealth-actions"') and "<html" not in body
    assert "HX-Refresh" not in fragment


def test_when_the_last_action_finishes_the_fragment_reloads_the_page(login, carol, sqlite_source):
    client = login(carol)
    client.post("/dbhealth/shopdb/analyse/")
    run_action(Action.objects.get().pk)
    fragment = client.get("/dbhealth/shopdb/", headers={"HX-Request": "true"})
    assert fragment["HX-Refresh"] == "true" and "every 2s" not in fragment.content.decode()
