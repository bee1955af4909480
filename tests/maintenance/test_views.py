from datetime import timedelta

import pytest
from django.utils import timezone

from maintenance import runs
from maintenance.models import Checklist, ChecklistTemplate, Job, Run, RunState, Window
from tests.maintenance.conftest import make_job, make_window

pytestmark = pytest.mark.django_db


def _job_post(**overrides):
    data = {
        "name": "nightly",
        "job_type": "command",
        "params": '{"command": "verify_audit"}',
        "schedule": "30 2 * * *",
        "timezone": "Europe/Berlin",
        "priority": 5,
        "max_duration": "45m",
        "retry_attempts": 1,
        "retry_backoff": "1m",
        "missed_policy": "once",
        "slow_factor": 2,
        "enabled": "on",
    }
    data.update(overrides)
    return data


def test_the_jobs_list_shows_health_and_next_run_in_a_fixed_number_of_queries(
    login, carol, django_assert_max_num_queries
):
    client = login(carol)
    for i in range(5):
        make_job(f"job-{i}")
    with django_assert_max_num_queries(12):
        response = client.get("/maintenance/")
    assert response.status_code == 200
    assert b"never ran" in response.content


def test_creating_a_job_saves_it_with_its_next_due_time(login, carol):
    response = login(carol).post("/maintenance/jobs/new/", _job_post())
    job = Job.objects.get(name="nightly")
    assert response.status_code == 302 and job.owner == carol
    assert job.next_due_at is not None and job.max_duration == timedelta(minutes=45)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("schedule", "61 2 * * *", "not a valid cron expression"),
        ("timezone", "Europe/Atlantis", "unknown time zone"),
        ("job_type", "test_unrunnable", "has not registered a runner"),
        ("params", '{"command": "flush"}', "command must be one of"),
        ("max_duration", "soon", "is not a duration"),
    ],
)
def test_the_job_form_refuses_bad_input_with_a_clear_message(
    login, carol, unrunnable_type, field, value, message
):
    response = login(carol).post("/maintenance/jobs/new/", _job_post(**{field: value}))
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Job.objects.exists()


def test_the_job_form_refuses_a_dependency_cycle(login, carol):
    first = make_job("first")
    second = make_job("second")
    second.depends_on.add(first)
    response = login(carol).post(
        "/maintenance/jobs/first/edit/", _job_post(name="first", depends_on=[second.pk])
    )
    assert "dependency cycle: first → second → first" in response.content.decode()
    assert not first.depends_on.exists()


def test_the_job_form_refuses_a_max_duration_longer_than_every_window(login, carol):
    make_window(duration=timedelta(hours=1))
    response = login(carol).post("/maintenance/jobs/new/", _job_post(max_duration="2h"))
    assert "does not fit in any allowed window (the longest is 1h)" in response.content.decode()


def test_the_form_page_previews_the_next_five_runs_in_the_jobs_zone(login, carol):
    response = login(carol).get("/maintenance/jobs/new/")
    assert "Manual only" in response.content.decode()
    response = login(carol).get(
        "/maintenance/jobs/preview/",
        {"schedule": "30 2 * * *", "timezone": "Europe/Berlin"},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    assert "At 02:30 every day" in body and body.count("02:30 CE") == 5


def test_the_preview_explains_an_invalid_expression(login, dave):
    response = login(dave).get(
        "/maintenance/jobs/preview/",
        {"schedule": "* *", "timezone": "UTC"},
        headers={"HX-Request": "true"},
    )
    assert "needs 5 fields" in response.content.decode()


def test_run_now_queues_a_run_requested_by_the_person(login, carol):
    make_job("nightly")
    response = login(carol).post("/maintenance/jobs/nightly/run/")
    run = Run.objects.get()
    assert response["Location"] == f"/maintenance/runs/{run.pk}/"
    assert (run.state, run.requested_by) == (RunState.QUEUED, carol)


def test_run_now_refuses_a_job_whose_type_cannot_run(login, carol, unrunnable_type):
    Job.objects.create(name="legacy", job_type=unrunnable_type, params={})
    login(carol).post("/maintenance/jobs/legacy/run/")
    assert not Run.objects.exists()


def test_the_run_page_and_its_live_fragment(login, dave, alice):
    run = runs.run_now(make_job("nightly"), alice)
    client = login(dave)
    page = client.get(f"/maintenance/runs/{run.pk}/")
    fragment = client.get(f"/maintenance/runs/{run.pk}/", headers={"HX-Request": "true"})
    assert b"<html" in page.content and b'hx-trigger="every 2s"' in page.content
    assert b"<html" not in fragment.content and b'id="run-live"' in fragment.content


def test_cancel_stops_a_queued_run(login, carol, alice):
    run = runs.run_now(make_job("nightly"), alice)
    login(carol).post(f"/maintenance/runs/{run.pk}/cancel/")
    run.refresh_from_db()
    assert run.state == RunState.CANCELLED and "carol" in run.reason


def test_the_job_page_charts_durations_of_its_runs(login, dave, alice):
    job = make_job("nightly")
    run = runs.run_now(job, alice)
    now = timezone.now()
    Run.objects.filter(pk=run.pk)._audited_update(
        state=RunState.SUCCEEDED, started_at=now - timedelta(seconds=30), finished_at=now
    )
    body = login(dave).get("/maintenance/jobs/nightly/").content.decode()
    assert "<svg" in body and "succeeded 30.0s" in body


def test_the_calendar_shows_windows_and_runs_that_will_not_fit(login, dave):
    make_window(duration=timedelta(hours=1))
    make_job("too-early", schedule="30 1 * * *")
    Job.objects.filter(name="too-early").update(next_due_at=timezone.now())
    client = login(dave)
    week = client.get("/maintenance/calendar/").content.decode()
    month = client.get("/maintenance/calendar/?view=month").content.decode()
    assert "night" in week and "won't fit: outside every allowed window" in week
    assert month.count('role="gridcell"') >= 28


def test_creating_a_window_with_weekdays(login, carol):
    response = login(carol).post(
        "/maintenance/windows/new/",
        {
            "name": "weekend",
            "kind": "allow",
            "schedule": "",
            "weekdays": ["5", "6"],
            "start_time": "22:00",
            "duration": "3h",
            "timezone": "Europe/Berlin",
            "scope": "all",
            "enabled": "on",
        },
    )
    assert response.status_code == 302
    assert Window.objects.get().weekdays == [5, 6]


def test_a_window_needs_a_recurrence(login, carol):
    response = login(carol).post(
        "/maintenance/windows/new/",
        {"name": "never", "kind": "allow", "duration": "1h", "timezone": "UTC", "scope": "all"},
    )
    assert "Give a cron expression, or weekdays and a start time." in response.content.decode()


def test_adopting_a_cadence_creates_its_jobs_and_checklists(login, carol):
    login(carol).post("/maintenance/cadence/weekly/adopt/")
    assert set(Job.objects.values_list("name", flat=True)) == {
        "weekly-db-optimise",
        "weekly-reindex",
        "weekly-performance-analysis",
        "weekly-dependency-audit",
        "weekly-clear-sessions",
    }
    assert set(ChecklistTemplate.objects.values_list("name", flat=True)) == {
        "Weekly maintenance",
        "Maintenance checklist",
    }


def test_adopting_twice_changes_nothing(login, carol):
    client = login(carol)
    client.post("/maintenance/cadence/quarterly/adopt/")
    client.post("/maintenance/cadence/quarterly/adopt/")
    assert ChecklistTemplate.objects.count() == 3


def test_ticking_a_line_records_who_when_and_the_evidence(login, carol):
    template = ChecklistTemplate.objects.create(name="Daily", cadence="daily", items=["Logs"])
    client = login(carol)
    client.post(f"/maintenance/checklists/templates/{template.pk}/open/")
    line = Checklist.objects.get().lines.get()
    response = client.post(
        f"/maintenance/checklists/items/{line.pk}/tick/",
        {"done": "on", "evidence": "https://logs.example/123"},
        headers={"HX-Request": "true"},
    )
    line.refresh_from_db()
    assert (line.ticked_by, line.evidence) == (carol, "https://logs.example/123")
    assert b"<html" not in response.content and b"ticked by carol" in response.content


def test_the_checklist_page_lists_its_lines(login, dave):
    template = ChecklistTemplate.objects.create(
        name="Daily", cadence="daily", items=["Logs", "Alerts"]
    )
    from maintenance.dispatcher import recur_checklists

    recur_checklists(timezone.now())
    checklist = Checklist.objects.get()
    body = login(dave).get(f"/maintenance/checklists/{checklist.pk}/").content.decode()
    assert "Logs" in body and "Alerts" in body
    assert template.instances.count() == 1


def test_the_dashboard_card_counts_jobs(login, dave):
    make_job("nightly")
    body = login(dave).get("/").content.decode()
    assert "Maintenance" in body and "Running now" in body


def test_a_checklist_is_assigned_to_a_person(login, carol, dave):
    template = ChecklistTemplate.objects.create(name="Daily", cadence="daily", items=["Logs"])
    from maintenance.dispatcher import open_checklist

    checklist = open_checklist(template, timezone.localdate())
    login(carol).post(f"/maintenance/checklists/{checklist.pk}/assign/", {"assignee": dave.pk})
    checklist.refresh_from_db()
    assert checklist.assignee == dave


def test_the_windows_and_checklists_lists_use_a_fixed_number_of_queries(
    login, dave, django_assert_max_num_queries
):
    from maintenance.dispatcher import open_checklist

    client = login(dave)
    for i in range(4):
        make_window(f"w{i}")
        template = ChecklistTemplate.objects.create(name=f"T{i}", cadence="weekly", items=["a"])
        open_checklist(template, timezone.localdate())
    with django_assert_max_num_queries(10):
        assert client.get("/maintenance/windows/").status_code == 200
    with django_assert_max_num_queries(12):
        assert client.get("/maintenance/checklists/").status_code == 200


def test_the_job_page_offers_cancel_for_a_waiting_run(login, carol):
    run = runs.run_now(make_job("nightly"), carol)
    body = login(carol).get("/maintenance/jobs/nightly/").content.decode()
    assert f"/maintenance/runs/{run.pk}/cancel/" in body


def test_ticking_without_htmx_redirects_back_to_the_checklist(login, carol):
    template = ChecklistTemplate.objects.create(name="Daily", cadence="daily", items=["Logs"])
    from maintenance.dispatcher import open_checklist

    checklist = open_checklist(template, timezone.localdate())
    line = checklist.lines.get()
    response = login(carol).post(f"/maintenance/checklists/items/{line.pk}/tick/", {"done": "on"})
    assert response["Location"] == f"/maintenance/checklists/{checklist.pk}/"
    line.refresh_from_db()
    assert line.ticked_by == carol


def test_editing_a_jobs_schedule_moves_its_next_due_time(login, carol):
    client = login(carol)
    client.post("/maintenance/jobs/new/", _job_post())
    before = Job.objects.get().next_due_at
    client.post("/maintenance/jobs/nightly/edit/", _job_post(schedule="manual"))
    job = Job.objects.get()
    assert before is not None and job.next_due_at is None


def test_a_window_can_be_edited_and_deleted(login, carol):
    window = make_window()
    client = login(carol)
    client.post(
        f"/maintenance/windows/{window.pk}/edit/",
        {
            "name": "night",
            "kind": "blackout",
            "schedule": "0 3 * * *",
            "duration": "1h",
            "timezone": "UTC",
            "scope": "all",
            "enabled": "on",
        },
    )
    window.refresh_from_db()
    assert (window.kind, window.schedule) == ("blackout", "0 3 * * *")
    client.post(f"/maintenance/windows/{window.pk}/delete/")
    assert not Window.objects.exists()


def test_the_calendar_uses_a_fixed_number_of_queries(
    login, dave, alice, django_assert_max_num_queries
):
    client = login(dave)
    make_window()
    for i in range(4):
        job = make_job(f"job-{i}", schedule="0 * * * *")
        runs.run_now(job, alice)
    with django_assert_max_num_queries(10):
        assert client.get("/maintenance/calendar/?view=month").status_code == 200
