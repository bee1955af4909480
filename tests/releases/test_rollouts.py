"""Rollouts: the state machine, cohorts through the real update resolution, upload policies."""

import os
from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.models import AuditEvent
from releases import bucketing, publishing, rollouts
from releases.models import Channel, Rollout, RolloutEvent, RolloutState
from tests.releases.conftest import publish
from tests.releases.rollout_support import resolve, rolled_out

NOW = timezone.now().replace(microsecond=0)
PLAN = [
    {"percent": 5, "hold_seconds": 600},
    {"percent": 25, "hold_seconds": 1800},
    {"percent": 50, "hold_seconds": 3600},
]


@pytest.fixture
def stable(app, channel):
    """1.0.0, fully rolled out: what everyone on the (rollout-gated) channel runs."""
    return rolled_out(channel, publish(app, "1.0.0"), now=NOW - timedelta(days=1))


@pytest.fixture
def candidate(app, channel, stable):
    return publish(app, "1.1.0")


@pytest.fixture
def rollout(channel, candidate, bob):
    return rollouts.start(channel, candidate, user=bob, phases=PLAN, now=NOW)


def test_the_default_plan_is_the_seeds(channel, candidate):
    rollout = rollouts.start(channel, candidate, now=NOW)
    plan = [(p["percent"], p["hold_seconds"]) for p in rollout.phases]
    assert plan == [(5, 600), (25, 1800), (50, 3600), (100, 0)]


def test_a_rollout_starts_running_its_first_phase(rollout):
    assert (rollout.state, rollout.phase, rollout.percent) == ("running", 0, 5.0)
    assert rollout.stable_version == "1.0.0"


def test_each_rollout_gets_a_fresh_salt(app, channel, candidate):
    beta = publishing.create_channel(app, name="beta")
    first = rollouts.start(channel, candidate, now=NOW)
    second = rollouts.start(beta, candidate, now=NOW)
    assert first.salt != second.salt


def test_only_one_rollout_per_channel_is_active(channel, candidate, rollout):
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.start(channel, candidate, now=NOW)
    assert refused.value.status == 409


def test_the_database_refuses_a_second_active_rollout_too(channel, candidate, rollout):
    with pytest.raises(IntegrityError), transaction.atomic():
        Rollout.objects.create(
            app_id=channel.app_id,
            channel=channel,
            release=candidate,
            state="paused",
            phases=PLAN,
            metrics=[],
            salt="x",
            phase_started_at=NOW,
        )


def test_bad_phases_are_refused():
    for phases in (
        [],
        [{"percent": 50}, {"percent": 25}],
        [{"percent": 5, "hold_seconds": -1}],
        [{"percent": 5, "requires_approval": True}],
        "5%",
    ):
        with pytest.raises(rollouts.RolloutError) as refused:
            rollouts.parse_phases(phases)
        assert refused.value.status == 400


def test_unknown_metrics_are_refused():
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.parse_metrics([{"metric": "happiness", "threshold": 1}])
    assert refused.value.code == "invalid_metrics"


def test_every_transition_writes_an_event_and_an_audit_row(rollout):
    rollouts.pause(rollout, reason="looking at a dashboard", now=NOW + timedelta(seconds=60))
    event = RolloutEvent.objects.filter(rollout=rollout).first()
    assert (event.action, event.before["state"], event.after["state"]) == (
        "paused",
        "running",
        "paused",
    )
    assert AuditEvent.objects.filter(action="rollout.paused", object_id=str(rollout.pk)).exists()


def test_events_are_append_only(rollout):
    event = RolloutEvent.objects.filter(rollout=rollout).first()
    event.reason = "rewritten"
    with pytest.raises(ValueError):
        event.save()


def test_a_stale_writer_loses_the_compare_and_set(rollout):
    stale = Rollout.objects.get(pk=rollout.pk)
    rollouts.pause(rollout, reason="first", now=NOW)
    assert rollouts._move(stale, "resumed", {"state": "running"}) is False


def test_the_hold_clock_stops_while_paused(rollout):
    rollouts.pause(rollout, reason="wait", now=NOW + timedelta(seconds=100))
    rollouts.resume(rollout, now=NOW + timedelta(seconds=1000))
    rollout = Rollout.objects.get(pk=rollout.pk)  # a restarted controller reads the row
    assert rollout.held_seconds(NOW + timedelta(seconds=1050)) == pytest.approx(150)


def test_an_abort_withdraws_the_release_at_once(channel, rollout):
    member = next(
        i for i in (f"d{n}" for n in range(1000)) if bucketing.in_cohort(rollout.salt, i, 5)
    )
    assert resolve(channel, member)["reason"] == "ROLLOUT_MATCH"
    rollouts.abort(rollout, reason="bad numbers", now=NOW)
    answer = resolve(channel, member)
    assert (answer["version"], answer["reason"]) == (None, "ROLLOUT_EXCLUDED")


def test_clients_running_an_aborted_release_are_sent_back_to_stable(channel, rollout):
    rollouts.abort(rollout, reason="bad numbers", now=NOW)
    answer = resolve(channel, "anyone", current="1.1.0")
    assert (answer["version"], answer["reason"], answer["mandatory"]) == (
        "1.0.0",
        "ROLLED_BACK",
        True,
    )


def test_an_aborted_rollout_restarts_with_the_same_salt(rollout):
    salt = rollout.salt
    rollouts.abort(rollout, reason="flaky", now=NOW)
    rollouts.restart(rollout, now=NOW + timedelta(minutes=5))
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase, rollout.salt) == ("running", 0, salt)


def test_entering_the_last_phase_completes_and_serves_everyone(channel, rollout):
    for _ in range(3):
        rollouts.advance(rollout, now=NOW, reason="test")
    assert rollout.state == RolloutState.COMPLETED
    assert resolve(channel, "whoever")["reason"] == "UPDATE_AVAILABLE"


def test_cohorts_are_nested_sticky_and_sized_over_100000_installs(channel, rollout):
    ids = [f"install-{n}" for n in range(100_000)]
    previous: set[str] = set()
    for percent in (5, 25, 50):
        cohort = {i for i in ids if resolve(channel, i)["version"] == "1.1.0"}
        assert previous <= cohort  # nested, and nobody flaps back
        assert abs(100 * len(cohort) / len(ids) - percent) <= 0.5
        previous = cohort
        rollouts.advance(rollout, now=NOW, reason="next phase")


def test_the_http_endpoint_agrees_with_the_resolution_for_a_sample(client, channel, rollout):
    for n in range(200):
        install = f"sample-{n}"
        body = client.get(
            "/api/v1/update",
            {
                "key": channel.client_key,
                "current": "1.0.0",
                "runtime": "2.0.0",
                "install_id": install,
            },
        ).json()
        assert body["version"] == resolve(channel, install)["version"]
        assert body["bucket"] == bucketing.bucket(rollout.salt, install)


def test_two_rollouts_have_independent_cohorts(app, channel, candidate):
    beta = publishing.create_channel(app, name="beta")
    half = [{"percent": 50, "hold_seconds": 60}]
    rollouts.start(channel, candidate, phases=half, now=NOW)
    rollouts.start(beta, candidate, phases=half, now=NOW)
    ids = [f"device-{n}" for n in range(20_000)]
    both = sum(
        resolve(channel, i)["version"] == "1.1.0" and resolve(beta, i)["version"] == "1.1.0"
        for i in ids
    )
    assert abs(100 * both / len(ids) - 25) <= 1.5


def test_an_upload_during_a_rollout_is_refused_on_a_reject_channel(app, rollout):
    with pytest.raises(publishing.PublishError) as refused:
        publish(app, "1.2.0")
    assert refused.value.status == 409 and "rejects new uploads" in refused.value.detail


def test_an_upload_during_a_rollout_supersedes_it_on_a_supersede_channel(app, channel, rollout):
    Channel.objects.filter(pk=channel.pk).update(upload_policy="supersede")
    hotfix = publish(app, "1.1.1")
    rollout.refresh_from_db()
    successor = Rollout.objects.get(release=hotfix)
    assert rollout.state == "superseded"
    assert (successor.state, successor.phase, successor.phases) == ("running", 0, rollout.phases)


def test_after_a_supersede_the_old_cohort_goes_back_to_stable(app, channel, rollout):
    Channel.objects.filter(pk=channel.pk).update(upload_policy="supersede")
    publish(app, "1.1.1")
    outside = next(
        i
        for i in (f"o{n}" for n in range(1000))
        if not bucketing.in_cohort(Rollout.objects.first().salt, i, 5)
    )
    assert resolve(channel, outside, current="1.1.0")["version"] == "1.0.0"


def test_an_over_budget_release_cannot_start_without_its_override(app, channel, stable):
    app.main_budget_kib = 1
    app.save()
    big = publish(app, "1.1.0", files={"big.js": os.urandom(4096).hex()})
    with pytest.raises(rollouts.RolloutError) as refused:
        rollouts.start(channel, big, now=NOW)
    assert refused.value.code == "over_budget"


def test_break_glass_promotion_completes_and_stands_out(rollout):
    rollouts.promote_now(rollout, reason="customer escalation", now=NOW)
    assert rollout.state == "completed"
    assert AuditEvent.objects.filter(action="breakglass.promote").exists()


def test_break_glass_needs_a_reason(rollout):
    with pytest.raises(rollouts.RolloutError):
        rollouts.promote_now(rollout, reason=" ")
    with pytest.raises(rollouts.RolloutError):
        rollouts.skip_analysis(rollout, reason="")


def test_a_rollback_creates_a_release_serving_the_old_bundle(channel, stable, rollout):
    rollouts.promote_now(rollout, reason="ship it", now=NOW)
    back = rollouts.rollback(rollout, reason="login broken", now=NOW)
    assert (back.version, back.bundle_sha256, back.rollback_of.version) == (
        "1.1.1",
        stable.bundle_sha256,
        "1.1.0",
    )
    assert rollout.state == "rolled_back"


def test_clients_on_the_rolled_back_version_get_a_downgrade_answer(channel, stable, rollout):
    rollouts.promote_now(rollout, reason="ship it", now=NOW)
    rollouts.rollback(rollout, reason="login broken", now=NOW)
    answer = resolve(channel, "someone", current="1.1.0")
    assert (answer["sha256"], answer["reason"]) == (stable.bundle_sha256, "ROLLED_BACK")
