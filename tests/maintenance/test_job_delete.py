"""Deleting a job from its page: typed confirmation, refused while anything still needs it,
and an audit row that can recreate it."""

import json

import pytest
from django.core.management import call_command

from audit.models import AuditEvent
from maintenance import runs
from maintenance.models import Job, MaintenancePlan, Run, RunState
from tests.maintenance.conftest import make_job

pytestmark = pytest.mark.django_db


def _delete(client, name, confirm):
    return client.post(f"/maintenance/jobs/{name}/delete/", {"confirm": confirm}, follow=True)


def test_deleting_needs_the_jobs_name_typed(login, carol):
    make_job("nightly")
    response = _delete(login(carol), "nightly", "nightl")
    assert "Type the job" in response.content.decode()
    assert Job.objects.filter(name="nightly").exists()


def test_a_job_with_a_queued_run_is_not_deleted(login, carol, alice):
    job = make_job("nightly")
    runs.run_now(job, alice)
    response = _delete(login(carol), "nightly", "nightly")
    assert "queued or running" in response.content.decode()
    assert Job.objects.filter(name="nightly").exists()


def test_a_job_others_depend_on_or_a_plan_includes_is_not_deleted(login, carol):
    parent = make_job("parent")
    child = make_job("child")
    child.depends_on.add(parent)
    MaintenancePlan.objects.create(name="weekly").jobs.add(parent)
    page = _delete(login(carol), "parent", "parent").content.decode()
    assert "jobs depend on it: child" in page and "plans include it: weekly" in page
    assert Job.objects.filter(name="parent").exists()


def test_a_deleted_job_can_be_recreated_from_its_audit_row(login, carol, alice, tmp_path):
    job = make_job("nightly", schedule="30 2 * * *", timezone="Europe/Berlin")
    run = runs.run_now(job, alice)
    assert runs.cancel(run)
    assert Run.objects.get(pk=run.pk).state == RunState.CANCELLED
    response = _delete(login(carol), "nightly", "nightly")
    assert response.redirect_chain[-1][0] == "/maintenance/"
    assert not Job.objects.filter(name="nightly").exists()
    assert not Run.objects.filter(pk=run.pk).exists()
    event = AuditEvent.objects.get(action="maintenance.job_deleted")
    assert event.actor_label == "carol" and event.before["runs"] == 1
    doc = tmp_path / "jobs.json"
    doc.write_text(json.dumps({"jobs": [event.before["spec"]], "windows": []}))
    call_command("jobs", "import", str(doc))
    again = Job.objects.get(name="nightly")
    assert (again.schedule, again.timezone) == ("30 2 * * *", "Europe/Berlin")
