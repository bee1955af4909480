import json
from datetime import timedelta

import pytest
import yaml
from django.core.management import CommandError, call_command

from maintenance.models import Job, Window
from tests.maintenance.conftest import make_job, make_window

pytestmark = pytest.mark.django_db

DOC = """
jobs:
  - name: nightly-audit
    type: command
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    max_duration: 45m
    priority: 5
    depends_on: []
    params: {command: verify_audit}
  - name: after-audit
    type: command
    schedule: manual
    depends_on: [nightly-audit]
    params: {command: clearsessions}
windows:
  - name: night
    kind: allow
    schedule: "0 2 * * *"
    timezone: Europe/Berlin
    duration: 2h
"""


def _import(tmp_path, text, *extra):
    path = tmp_path / "jobs.yaml"
    path.write_text(text)
    call_command("jobs", "import", str(path), *extra)


def test_import_creates_jobs_windows_and_dependencies(tmp_path):
    _import(tmp_path, DOC)
    child = Job.objects.get(name="after-audit")
    assert [p.name for p in child.depends_on.all()] == ["nightly-audit"]
    assert Window.objects.get().duration == timedelta(hours=2)


def test_export_then_import_round_trips(tmp_path, capsys):
    _import(tmp_path, DOC)
    capsys.readouterr()
    call_command("jobs", "export", "--format", "json")
    exported = capsys.readouterr().out
    Job.objects.all().delete()
    Window.objects.all().delete()
    _import(tmp_path, exported)
    capsys.readouterr()
    call_command("jobs", "export", "--format", "json")
    assert json.loads(capsys.readouterr().out) == json.loads(exported)


def test_an_import_with_any_error_changes_nothing_and_lists_every_problem(tmp_path):
    bad = yaml.safe_load(DOC)
    bad["jobs"][0]["schedule"] = "99 * * * *"
    bad["jobs"][1]["timezone"] = "Mars/Base"
    with pytest.raises(CommandError) as err:
        _import(tmp_path, yaml.safe_dump(bad))
    assert "nightly-audit" in str(err.value) and "Mars/Base" in str(err.value)
    assert not Job.objects.exists() and not Window.objects.exists()


def test_an_import_that_closes_a_cycle_is_refused(tmp_path):
    doc = yaml.safe_load(DOC)
    doc["jobs"][0]["depends_on"] = ["after-audit"]
    with pytest.raises(CommandError, match="dependency cycle"):
        _import(tmp_path, yaml.safe_dump(doc))


def test_an_import_of_a_type_without_a_runner_is_refused(tmp_path, unrunnable_type):
    doc = yaml.safe_load(DOC)
    doc["jobs"][0]["type"] = unrunnable_type
    doc["jobs"][0]["params"] = {}
    with pytest.raises(CommandError, match="has not registered a runner"):
        _import(tmp_path, yaml.safe_dump(doc))


def test_a_job_that_cannot_fit_any_window_is_refused(tmp_path):
    doc = yaml.safe_load(DOC)
    doc["jobs"][0]["max_duration"] = "3h"
    with pytest.raises(CommandError, match="does not fit in any allowed window"):
        _import(tmp_path, yaml.safe_dump(doc))


def test_preview_lists_starts_in_utc_and_the_jobs_zone(capsys):
    make_job("nightly", schedule="30 2 * * *", timezone="Europe/Berlin")
    call_command(
        "jobs", "preview", "nightly", "--count", "2", "--json", "--now", "2026-06-01T12:00:00+00:00"
    )
    entries = json.loads(capsys.readouterr().out)
    assert entries == [
        {"start": "2026-06-02T00:30:00+00:00", "local": "2026-06-02T02:30:00+02:00"},
        {"start": "2026-06-03T00:30:00+00:00", "local": "2026-06-03T02:30:00+02:00"},
    ]


def test_preview_shows_deferrals_with_their_reason(capsys):
    make_window(schedule="0 3 * * *", duration=timedelta(hours=1))
    make_job("early", schedule="30 2 * * *", max_duration=timedelta(minutes=20))
    call_command(
        "jobs", "preview", "early", "--count", "1", "--json", "--now", "2026-06-01T12:00:00+00:00"
    )
    entries = json.loads(capsys.readouterr().out)
    assert entries[0] == {
        "deferred": "2026-06-02T02:30:00+00:00",
        "reason": "outside every allowed window",
        "next_start": "2026-06-02T03:00:00+00:00",
    }
    assert entries[1]["start"] == "2026-06-02T03:00:00+00:00"
