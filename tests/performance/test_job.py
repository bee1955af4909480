"""The performance_analysis job type, run through the real maintenance path."""

from __future__ import annotations

import pytest

from maintenance import jobtypes, runs
from maintenance.models import RunState
from maintenance.tasks import execute_run
from performance.models import Baseline, BundleReport
from tests.maintenance.conftest import make_job
from tests.performance.conftest import publish

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    settings.MAINTENANCE_HEARTBEAT_SECONDS = 60


def run_job(user, params):
    run = runs.run_now(make_job("perf", job_type="performance_analysis", params=params), user)
    execute_run(run.pk)
    run.refresh_from_db()
    return run


def test_the_job_type_is_registered_with_a_runner():
    assert jobtypes.runnable("performance_analysis").title == "Performance analysis"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"days": 0}, "days must be a whole number"),
        ({"app": "nope"}, "no app with slug"),
        ({"channel": "production"}, "channel needs app"),
        ({"level": 1}, "unknown params: level"),
    ],
)
def test_bad_params_are_refused(app, params, message):
    with pytest.raises(jobtypes.ParamsError, match=message):
        jobtypes.get("performance_analysis").clean_params(params)


def test_a_run_takes_baselines_of_releases_with_telemetry_and_measures_bundles(
    app, channel, release, vitals, bob
):
    publish(app, "1.1.0")  # no telemetry: no baseline
    vitals(channel, "1.0.0", "LCP", [1500] * 25)
    run = run_job(bob, {"app": "shop", "days": 7})
    assert run.state == RunState.SUCCEEDED, run.summary
    baseline = Baseline.objects.get()
    assert (baseline.version, baseline.source, baseline.run_id) == ("1.0.0", "job", run.pk)
    assert baseline.taken_by == bob
    assert BundleReport.objects.filter(bundle_sha256=release.bundle_sha256).exists()
    assert run.summary.startswith("1 baseline(s) on 1 channel(s)")
