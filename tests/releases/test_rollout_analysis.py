"""The controller and the analysis task: real telemetry through the endpoint, injected clock."""

from datetime import timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone

from notifications.models import Notification
from releases import bucketing, rollouts
from releases.models import Rollout, RolloutMeasurement
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out, sessions

# Telemetry timestamps must be recent: the clock starts half an hour ago.
T0 = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=30)
CRASH = [
    {
        "metric": "crash_rate",
        "threshold": 1,
        "relative": True,
        "min_samples": 100,
        "interval_seconds": 60,
        "window_seconds": 120,
    }
]
PLAN = [
    {"percent": 5, "hold_seconds": 300},
    {"percent": 25, "hold_seconds": 600},
    {"percent": 50, "hold_seconds": 600},
]


def at(minutes: float):
    return T0 + timedelta(minutes=minutes)


@pytest.fixture
def rollout(app, channel, bob):
    rolled_out(channel, publish(app, "1.0.0"), now=T0 - timedelta(days=1))
    candidate = publish(app, "1.1.0")
    return rollouts.start(channel, candidate, user=bob, phases=PLAN, metrics=CRASH, now=T0)


def test_the_controller_queues_due_analysis_once_with_two_controllers(rollout):
    assert rollouts.tick(at(1)) == [rollout.pk]
    assert rollouts.tick(at(1)) == []  # the second controller finds it claimed


def test_a_finished_analysis_releases_the_claim(rollout):
    rollouts.tick(at(1))
    claim = Rollout.objects.get(pk=rollout.pk).claimed_until
    rollouts.analyse(rollout.pk, now=at(1), claim=claim)
    assert rollouts.tick(at(2.5)) == [rollout.pk]


def test_a_late_analysis_keeps_the_claim_of_the_one_queued_after_it(rollout):
    rollouts.tick(at(1))
    late = Rollout.objects.get(pk=rollout.pk).claimed_until
    after_expiry = late + timedelta(seconds=1)
    assert rollouts.tick(after_expiry) == [rollout.pk]  # the claim ran out: queued again
    current = Rollout.objects.get(pk=rollout.pk).claimed_until
    rollouts.analyse(rollout.pk, now=after_expiry, claim=late)  # the first task, finally
    assert Rollout.objects.get(pk=rollout.pk).claimed_until == current


def test_healthy_numbers_promote_at_the_end_of_the_hold(client, channel, rollout):
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    assert rollouts.analyse(rollout.pk, now=at(2)) == "measured"
    assert rollouts.analyse(rollout.pk, now=at(5)) == "advanced"
    rollout.refresh_from_db()
    assert (rollout.phase, rollout.percent) == (1, 25.0)


def test_a_crash_breach_in_phase_2_aborts_within_one_interval(client, channel, rollout):
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    rollouts.analyse(rollout.pk, now=at(5))  # phase 1 → phase 2
    sessions(
        client, channel, "1.1.0", at=at(6), installs=20, launches=10, crashes_every=3, prefix="bad"
    )
    sessions(client, channel, "1.0.0", at=at(6), installs=20, launches=10, prefix="good")
    assert rollouts.analyse(rollout.pk, now=at(7)) == "aborted"
    rollout.refresh_from_db()
    assert rollout.state == "aborted" and "crash_rate failed" in rollout.reason


def test_after_the_abort_every_cohort_client_gets_the_stable_release(client, channel, rollout):
    sessions(client, channel, "1.1.0", at=at(6), installs=20, launches=10, crashes_every=2)
    sessions(client, channel, "1.0.0", at=at(6), installs=20, launches=10)
    rollouts.analyse(rollout.pk, now=at(7))
    cohort = [i for i in (f"c{n}" for n in range(2000)) if bucketing.in_cohort(rollout.salt, i, 5)]
    on_new = {resolve(channel, i, current="1.1.0")["version"] for i in cohort}
    on_old = {resolve(channel, i, current="1.0.0")["version"] for i in cohort}
    assert on_new == {"1.0.0"} and on_old == {None}


def test_an_automatic_abort_notifies(client, channel, rollout):
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=2)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    rollouts.analyse(rollout.pk, now=at(2))
    assert Notification.objects.filter(event="rollouts.aborted").count() == 1


def test_no_data_extends_the_hold_and_never_promotes(rollout):
    assert rollouts.analyse(rollout.pk, now=at(5)) == "extended"
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase) == ("running", 0)


def test_no_data_until_max_hold_pauses_as_inconclusive(rollout):
    minute = 5
    while rollouts.analyse(rollout.pk, now=at(minute)) != "paused":
        minute += 1
        assert minute < 60
    rollout.refresh_from_db()
    assert rollout.state == "paused" and "no data" in rollout.reason


def test_no_data_never_aborts(rollout):
    outcomes = {rollouts.analyse(rollout.pk, now=at(m)) for m in range(1, 30)}
    assert "aborted" not in outcomes and "advanced" not in outcomes


def _rollups_unreadable(execute, sql, params, many, context):
    """A database failure injected at the driver boundary (Django's execute_wrapper)."""
    if "monitoring_rollup" in sql:
        raise OperationalError("rollup table unavailable")
    return execute(sql, params, many, context)


def test_provider_errors_never_count_as_success(client, channel, rollout):
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10)
    with connection.execute_wrapper(_rollups_unreadable):
        outcomes = [rollouts.analyse(rollout.pk, now=at(m)) for m in (5, 6, 7, 8)]
    assert "advanced" not in outcomes
    assert RolloutMeasurement.objects.filter(outcome="error").exists()


def test_five_consecutive_provider_errors_abort(rollout):
    with connection.execute_wrapper(_rollups_unreadable):
        outcomes = [rollouts.analyse(rollout.pk, now=at(m)) for m in range(1, 6)]
    assert outcomes[-1] == "aborted"


def test_dry_run_metrics_never_change_state(client, channel, app, bob):
    publish(app, "1.0.0")
    candidate = publish(app, "1.1.0")
    # A blocking metric that stays healthy: the failing dry-run one alone must not abort.
    calm = {"metric": "error_rate", "threshold": 50, "relative": False, "min_samples": 1}
    dry = [{**CRASH[0], "dry_run": True}, calm]
    rollout = rollouts.start(channel, candidate, user=bob, phases=PLAN, metrics=dry, now=T0)
    sessions(client, channel, "1.1.0", at=at(1), installs=20, launches=10, crashes_every=2)
    sessions(client, channel, "1.0.0", at=at(1), installs=20, launches=10)
    assert rollouts.analyse(rollout.pk, now=at(2)) == "measured"
    assert RolloutMeasurement.objects.filter(outcome="failed", dry_run=True).exists()


def test_the_hold_survives_a_controller_restart(rollout):
    rollouts.analyse(rollout.pk, now=at(2))
    fresh = Rollout.objects.get(pk=rollout.pk)  # a new process knows only the row
    assert fresh.held_seconds(at(4)) == pytest.approx(240)


def test_a_paused_rollout_is_still_queued_for_analysis(rollout):
    rollouts.pause(rollout, reason="look", now=at(1))
    assert rollouts.tick(at(20)) == [rollout.pk]


def test_a_guardrail_breach_aborts_a_paused_rollout(client, channel, rollout):
    rollouts.pause(rollout, reason="a person looks at the logs", now=at(1))
    sessions(client, channel, "1.1.0", at=at(2), installs=20, launches=10, crashes_every=2)
    sessions(client, channel, "1.0.0", at=at(2), installs=20, launches=10)
    assert rollouts.analyse(rollout.pk, now=at(3)) == "aborted"
    rollout.refresh_from_db()
    assert rollout.state == "aborted" and "crash_rate failed" in rollout.reason


def test_the_abort_of_a_paused_rollout_notifies(client, channel, rollout):
    rollouts.pause(rollout, reason="look", now=at(1))
    sessions(client, channel, "1.1.0", at=at(2), installs=20, launches=10, crashes_every=2)
    sessions(client, channel, "1.0.0", at=at(2), installs=20, launches=10)
    rollouts.analyse(rollout.pk, now=at(3))
    assert Notification.objects.filter(event="rollouts.aborted").count() == 1


def test_healthy_numbers_never_resume_or_advance_a_paused_rollout(client, channel, rollout):
    rollouts.pause(rollout, reason="look", now=at(1))
    sessions(client, channel, "1.0.0", at=at(2), installs=20, launches=10)
    sessions(client, channel, "1.1.0", at=at(2), installs=20, launches=10)
    assert rollouts.analyse(rollout.pk, now=at(20)) == "measured"
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase, rollout.held_seconds(at(20))) == ("paused", 0, 60.0)


def test_a_paused_rollout_is_measured_once_per_interval(rollout):
    rollouts.pause(rollout, reason="look", now=at(1))
    rollouts.analyse(rollout.pk, now=at(2))
    assert rollouts.analyse(rollout.pk, now=at(2.5)) == "waiting"
    assert RolloutMeasurement.objects.filter(rollout=rollout, kind="guardrail").count() == 1


def test_a_paused_rollout_whose_analysis_was_skipped_just_waits(rollout):
    rollouts.skip_analysis(rollout, reason="known noisy metric")
    rollouts.pause(Rollout.objects.get(pk=rollout.pk), reason="look", now=at(1))
    assert rollouts.analyse(rollout.pk, now=at(20)) == "waiting"
    rollout.refresh_from_db()
    assert rollout.state == "paused" and rollout.analysis_due_at == at(21)


def test_skipping_analysis_advances_at_the_end_of_the_hold(rollout):
    rollouts.skip_analysis(rollout, reason="known noisy metric")
    assert rollouts.analyse(rollout.pk, now=at(5)) == "advanced"
    assert not RolloutMeasurement.objects.filter(rollout=rollout).exists()


def test_a_phase_without_analysis_is_not_queued_again_before_its_hold_ends(rollout):
    rollouts.skip_analysis(rollout, reason="known noisy metric")
    rollouts.tick(at(1))
    rollouts.analyse(rollout.pk, now=at(1))
    assert rollouts.tick(at(2)) == [] and rollouts.tick(at(5)) == [rollout.pk]
