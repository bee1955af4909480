"""The dependency_audit job type through the maintenance run path (run_now → execute_run)."""

import pytest

from maintenance import jobtypes, runs
from maintenance.jobtypes import ParamsError
from maintenance.models import RunState
from maintenance.tasks import execute_run
from releases import publishing
from security.jobs import validate
from security.models import Finding, Scan
from tests.maintenance.conftest import make_job
from tests.security.conftest import advisory, load_osv, lock_v3, publish

pytestmark = pytest.mark.django_db

LOCK_BAD = {"package-lock.json": lock_v3({"lodash": "4.17.20"})}
LOCK_GOOD = {"package-lock.json": lock_v3({"lodash": "4.17.21"})}


def _run(user, **params):
    job = make_job(f"audit-{len(params)}-{id(params)}", job_type="dependency_audit", params=params)
    run = runs.run_now(job, user)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def data(db):
    load_osv(
        advisory(
            "GHSA-lodash",
            "lodash",
            ecosystem="npm",
            events=[{"introduced": "0"}, {"fixed": "4.17.21"}],
        )
    )


def test_the_type_is_registered_with_a_runner():
    assert jobtypes.get("dependency_audit").runnable


def test_params_are_validated():
    assert validate({"app": "shop", "channel": ""}) == {"app": "shop"}
    assert validate({}) == {"app": ""}
    with pytest.raises(ParamsError):
        validate({"channel": "production"})
    with pytest.raises(ParamsError):
        validate({"app": "shop", "colour": "red"})


def test_it_audits_the_latest_release_of_every_channel(app, alice, data):
    production = publishing.create_channel(app, name="production")
    beta = publishing.create_channel(app, name="beta")
    publish(app, "1.0.0", LOCK_GOOD, channel=production)
    publish(app, "1.1.0", LOCK_BAD, channel=production)
    publish(app, "2.0.0-beta.1", LOCK_GOOD, channel=beta)
    run = _run(alice, app="shop")
    assert run.state == RunState.SUCCEEDED
    assert run.summary.startswith("complete: 2 release(s)")
    scanned = sorted(Scan.objects.values_list("release__version", "channel__name", "run_id"))
    assert scanned == [("1.1.0", "production", run.pk), ("2.0.0-beta.1", "beta", run.pk)]
    assert Finding.objects.get().state == "open"


def test_a_later_run_closes_what_no_channel_ships_any_more(app, alice, data):
    production = publishing.create_channel(app, name="production")
    publish(app, "1.0.0", LOCK_BAD, channel=production)
    _run(alice, app="shop")
    publish(app, "1.0.1", LOCK_GOOD, channel=production)
    run = _run(alice, app="shop")
    assert "1 fixed" in run.summary
    assert Finding.objects.get().state == "fixed"


def test_a_run_narrowed_to_one_release_closes_nothing(app, alice, data):
    publishing.create_channel(app, name="production")
    publish(app, "1.0.0", LOCK_BAD)
    _run(alice, app="shop")
    publish(app, "1.0.1", LOCK_GOOD)
    run = _run(alice, app="shop", release="1.0.1")
    assert "nothing closed" in run.summary
    assert Finding.objects.get().state == "open"


def test_an_incomplete_scan_makes_an_incomplete_summary(app, alice, data):
    publishing.create_channel(app, name="production")
    publish(app, "1.0.0", {**LOCK_BAD, "requirements.txt": "django"})
    run = _run(alice, app="shop")
    assert run.state == RunState.SUCCEEDED
    assert run.summary.startswith("incomplete:")


def test_an_error_scan_fails_the_run(app, alice, data):
    publishing.create_channel(app, name="production")
    publish(app, "1.0.0", {"package-lock.json": "{"})
    run = _run(alice, app="shop")
    assert run.state == RunState.FAILED
    assert "1 error" in run.summary


def test_an_app_without_releases_fails_the_run(app, alice, data):
    run = _run(alice, app="shop")
    assert run.state == RunState.FAILED
    assert "nothing to audit" in run.summary


def test_an_unknown_app_fails_the_run(alice, data):
    run = _run(alice, app="nope")
    assert run.state == RunState.FAILED
    assert "no app with the slug" in run.summary


def test_changes_made_by_a_run_name_the_person_who_started_it(app, alice, data):
    from audit.models import AuditEvent

    publishing.create_channel(app, name="production")
    publish(app, "1.0.0", LOCK_BAD)
    run = _run(alice, app="shop")
    event = AuditEvent.objects.get(action="security.finding_opened")
    assert (event.actor_id, event.run_ref) == (alice.pk, f"maintenance.run:{run.pk}")


def test_without_an_app_it_audits_every_app_and_reconciles_each_alone(app, alice, data):
    from releases.models import App

    other = App.objects.create(slug="blog", name="Blog")
    publish(app, "1.0.0", LOCK_BAD, channel=publishing.create_channel(app, name="production"))
    publish(other, "1.0.0", LOCK_GOOD, channel=publishing.create_channel(other, name="beta"))
    run = _run(alice)
    assert run.state == RunState.SUCCEEDED
    assert run.summary.startswith("complete: 2 release(s)")
    assert sorted(Scan.objects.values_list("app__slug", flat=True)) == ["blog", "shop"]
    assert list(Finding.objects.values_list("app__slug", "state")) == [("shop", "open")]
