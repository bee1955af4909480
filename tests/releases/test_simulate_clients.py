"""The client simulator drives the real HTTP endpoints, and its traffic drives a rollout."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from monitoring.models import Install
from releases import publishing, rollouts
from releases.models import App
from tests.releases.conftest import publish

pytestmark = pytest.mark.django_db(transaction=True)
METRICS = [{"metric": "crash_rate", "threshold": 1, "relative": True, "min_samples": 20}]


@pytest.fixture
def canary():
    app = App.objects.create(slug="sim", name="Sim")
    channel = publishing.create_channel(app, name="production")
    publish(app, "1.0.0")
    candidate = publish(app, "1.1.0")
    start = timezone.now() - timedelta(minutes=1)
    phases = [{"percent": 50, "hold_seconds": 3600}]
    return rollouts.start(channel, candidate, phases=phases, metrics=METRICS, now=start)


def simulate(live_server, rollout, *extra) -> str:
    out = StringIO()
    call_command(
        "simulate_clients",
        "--url",
        live_server.url,
        "--key",
        rollout.channel.client_key,
        "--installs",
        "60",
        "--seed",
        "7",
        "--sessions",
        "4",
        *extra,
        stdout=out,
    )
    return out.getvalue()


def test_a_fleet_updates_inside_the_cohort_and_reports_telemetry(live_server, canary):
    output = simulate(live_server, canary, "--rounds", "2")
    on_new = Install.objects.filter(version="1.1.0").count()
    assert 15 <= on_new <= 45  # about half of 60 installs
    assert "60 update checks" not in output and "120 update checks" in output


def test_a_crashing_version_in_the_simulation_aborts_the_rollout(live_server, canary):
    simulate(live_server, canary, "--rounds", "2", "--crash-rate", "0", "--crash-rate", "1.1.0=0.6")
    outcome = rollouts.analyse(canary.pk, now=timezone.now() + timedelta(minutes=1))
    assert outcome == "aborted"


def test_a_bad_url_is_refused(canary):
    with pytest.raises(CommandError):
        call_command("simulate_clients", "--url", "file:///etc", "--key", "k")
