"""Rollback targets, automatic aborts, restarts and other edges of the rollout machinery."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from releases import publishing, rollouts
from releases.models import Rollout, RolloutState
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out

NOW = timezone.now().replace(microsecond=0)
PLAN = [{"percent": 5, "hold_seconds": 600}, {"percent": 50, "hold_seconds": 600}]


@pytest.fixture
def stable(app, channel):
    return rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=1))


def test_the_rollback_target_passes_over_a_release_whose_rollout_was_aborted(app, channel, stable):
    aborted = rollouts.start(channel, publish(app, "1.1.0"), phases=PLAN, now=NOW)
    rollouts.abort(aborted, reason="crashes", now=NOW)
    assert publish(app, "1.2.0").rollback_target == stable


def test_the_rollback_target_passes_over_a_release_of_another_channel(app, channel, stable):
    beta = publishing.create_channel(app, name="beta")
    publish(app, "1.1.0", channel=beta)
    assert publish(app, "1.2.0", channel=channel).rollback_target == stable


def test_a_rollback_whose_target_was_disabled_since_goes_to_the_stable_release(
    app, channel, stable, bob
):
    middle = rolled_out(channel, publish(app, "1.1.0"), now=NOW - timedelta(hours=1))
    bad = publish(app, "1.2.0")
    assert bad.rollback_target == middle
    rollout = rollouts.start(channel, bad, phases=PLAN, now=NOW)
    rollouts.promote_now(rollout, reason="ship it", now=NOW)
    publishing.disable(middle, user=bob, reason="broken too")
    back = rollouts.rollback(rollout, reason="login broken", now=NOW)
    assert back.bundle_sha256 == stable.bundle_sha256


def test_a_breach_aborts_a_rollout_someone_paused_after_it_was_read(app, channel, stable):
    read_by_analysis = rollouts.start(channel, publish(app, "1.1.0"), phases=PLAN, now=NOW)
    by_a_person = Rollout.objects.get(pk=read_by_analysis.pk)
    rollouts.pause(by_a_person, reason="looking", now=NOW)
    assert rollouts.abort_on_breach(read_by_analysis, reason="crash rate over limit", now=NOW)
    assert Rollout.objects.get(pk=read_by_analysis.pk).state == RolloutState.ABORTED


def test_a_breach_on_a_rollout_already_ended_reports_no_abort(app, channel, stable):
    read_by_analysis = rollouts.start(channel, publish(app, "1.1.0"), phases=PLAN, now=NOW)
    rollouts.promote_now(Rollout.objects.get(pk=read_by_analysis.pk), reason="ship", now=NOW)
    assert not rollouts.abort_on_breach(read_by_analysis, reason="crash rate", now=NOW)
    assert Rollout.objects.get(pk=read_by_analysis.pk).state == RolloutState.COMPLETED


def test_a_rollout_without_a_blocking_metric_is_refused(app, channel, stable):
    candidate = publish(app, "1.1.0")
    dry = [{"metric": "crash_rate", "threshold": 1, "dry_run": True}]
    for metrics in ([], dry):
        with pytest.raises(rollouts.RolloutError) as refused:
            rollouts.start(channel, candidate, phases=PLAN, metrics=metrics, now=NOW)
        assert refused.value.code == "no_blocking_metric"


def test_clients_of_a_disabled_aborted_release_are_still_sent_back(app, channel, stable, bob):
    bad = publish(app, "1.1.0")
    rollouts.abort(rollouts.start(channel, bad, phases=PLAN, now=NOW), reason="crash", now=NOW)
    publishing.disable(bad, user=bob, reason="withdrawn for good")
    answer = resolve(channel, "someone", current="1.1.0")
    assert (answer["version"], answer["reason"]) == ("1.0.0", "ROLLED_BACK")


def test_clients_of_a_disabled_release_are_sent_back(app, channel, stable, bob):
    publishing.disable(rolled_out(channel, publish(app, "1.1.0"), now=NOW), user=bob, reason="x")
    answer = resolve(channel, "someone", current="1.1.0")
    assert (answer["version"], answer["reason"]) == ("1.0.0", "ROLLED_BACK")


def test_a_supersede_of_a_rollout_someone_paused_since_still_takes_over(app, channel, stable):
    old_release, new_release = publish(app, "1.1.0"), publish(app, "1.2.0")
    read_by_upload = rollouts.start(channel, old_release, phases=PLAN, now=NOW)
    rollouts.pause(Rollout.objects.get(pk=read_by_upload.pk), reason="look", now=NOW)
    [started] = rollouts.supersede_for([read_by_upload], new_release, now=NOW)
    assert Rollout.objects.get(pk=read_by_upload.pk).state == RolloutState.SUPERSEDED
    assert (started.release, started.state) == (new_release, RolloutState.RUNNING)
