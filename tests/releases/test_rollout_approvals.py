"""Approvals: bound to what the form showed, one phase per quorum, never by the starter."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from accounts.roles import RELEASE_MANAGER
from releases import rollouts
from releases.models import Channel, Rollout, RolloutApproval
from tests.conftest import make_user
from tests.releases.conftest import publish
from tests.releases.rollout_support import sessions

NOW = timezone.now().replace(microsecond=0)
PLAN = [
    {"percent": 5, "hold_seconds": 0},
    {"percent": 25, "hold_seconds": 600, "requires_approval": True},
]


def waiting(channel, app, starter) -> Rollout:
    publish(app, "1.0.0")
    candidate = publish(app, "1.1.0")
    rollout = rollouts.start(channel, candidate, user=starter, phases=PLAN, now=NOW)
    # The default (blocking) metrics have no telemetry here: break-glass lets phase 1 end.
    rollouts.skip_analysis(rollout, reason="approval tests: no telemetry")
    rollouts.analyse(rollout.pk, now=NOW + timedelta(seconds=1))
    rollout.refresh_from_db()
    assert rollout.state == "awaiting_approval"
    return rollout


def approve(rollout, user, **override):
    binding = rollouts.approval_binding(rollout) | override
    return rollouts.decide(rollout.pk, user, decision="approve", now=NOW, **binding)


@pytest.fixture
def rollout(app, channel, bob):
    return waiting(channel, app, bob)


def test_an_approval_advances_one_phase(rollout, becky):
    approve(rollout, becky)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase, rollout.percent) == ("running", 1, 25.0)


def test_waiting_for_approval_keeps_the_current_percent(rollout):
    assert rollout.percent == 5.0


def test_the_starter_cannot_approve(rollout, bob):
    with pytest.raises(rollouts.RolloutError) as refused:
        approve(rollout, bob)
    assert refused.value.code == "self_approval"


def test_a_stale_form_is_refused(rollout, becky):
    with pytest.raises(rollouts.RolloutError) as refused:
        approve(rollout, becky, row_version=rollout.row_version - 1)
    assert refused.value.status == 409


def test_a_form_for_another_bundle_is_refused(rollout, becky):
    with pytest.raises(rollouts.RolloutError) as refused:
        approve(rollout, becky, sha256="0" * 64)
    assert refused.value.code == "stale"


def test_a_double_click_advances_one_phase(rollout, becky):
    binding = rollouts.approval_binding(rollout)
    approve(rollout, becky, **binding)
    with pytest.raises(rollouts.RolloutError):
        approve(rollout, becky, **binding)
    rollout.refresh_from_db()
    assert rollout.phase == 1


def test_a_quorum_needs_distinct_approvers(app, channel, bob, becky, alice):
    Channel.objects.filter(pk=channel.pk).update(approvals_required=2)
    rollout = waiting(channel, app, bob)
    approve(rollout, becky)
    rollout.refresh_from_db()
    assert rollout.state == "awaiting_approval"
    approve(rollout, alice)
    rollout.refresh_from_db()
    assert rollout.phase == 1


def test_the_same_person_twice_is_not_a_quorum(app, channel, bob, becky):
    Channel.objects.filter(pk=channel.pk).update(approvals_required=2)
    rollout = waiting(channel, app, bob)
    approve(rollout, becky)
    with pytest.raises(rollouts.RolloutError) as refused:
        approve(rollout, becky)
    assert refused.value.code == "already_decided"


def test_a_rejection_aborts_with_the_reason(rollout, becky):
    rollouts.decide(
        rollout.pk,
        becky,
        decision="reject",
        reason="LCP looks off",
        now=NOW,
        **rollouts.approval_binding(rollout),
    )
    rollout.refresh_from_db()
    assert rollout.state == "aborted" and "LCP looks off" in rollout.reason


def test_a_breach_while_waiting_still_aborts(client, app, channel, bob):
    publish(app, "1.0.0")
    candidate = publish(app, "1.1.0")
    metrics = [{"metric": "crash_rate", "threshold": 1, "relative": False, "min_samples": 1}]
    rollout = rollouts.start(channel, candidate, user=bob, phases=PLAN, metrics=metrics, now=NOW)
    sessions(client, channel, "1.1.0", at=NOW, installs=3, launches=2)
    assert rollouts.analyse(rollout.pk, now=NOW + timedelta(seconds=1)) == "advanced"
    sessions(client, channel, "1.1.0", at=NOW, installs=20, launches=2, crashes_every=1, prefix="x")
    assert rollouts.analyse(rollout.pk, now=NOW + timedelta(seconds=120)) == "aborted"


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_advance_exactly_one_phase(settings, tmp_path):
    from releases import publishing
    from releases.models import App

    app = App.objects.create(slug="race", name="Race")
    channel = publishing.create_channel(app, name="production")
    starter = make_user("starter-race", RELEASE_MANAGER)
    rollout = waiting(channel, app, starter)
    approvers = [make_user(f"approver-{n}", RELEASE_MANAGER) for n in range(12)]
    binding = rollouts.approval_binding(rollout)
    results = []
    barrier = threading.Barrier(len(approvers))

    def click(user):
        try:
            barrier.wait()
            rollouts.decide(rollout.pk, user, decision="approve", now=NOW, **binding)
            results.append("ok")
        except rollouts.RolloutError as exc:
            results.append(exc.code)
        except Exception as exc:  # e.g. SQLite "database is locked": a refused click
            results.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=click, args=(u,)) for u in approvers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rollout.refresh_from_db()
    assert (rollout.phase, results.count("ok")) == (1, 1)
    assert RolloutApproval.objects.filter(rollout=rollout).count() == 1


def test_an_approved_phase_is_live_for_clients_at_once(rollout, becky):
    from releases import bucketing
    from tests.releases.rollout_support import resolve

    newcomer = next(
        i for i in (f"n{n}" for n in range(5000)) if 500 <= bucketing.bucket(rollout.salt, i) < 2500
    )
    assert resolve(rollout.channel, newcomer)["version"] is None
    approve(rollout, becky)
    assert resolve(rollout.channel, newcomer)["reason"] == "ROLLOUT_MATCH"


def restarted(rollout, by) -> Rollout:
    """``rollout`` aborted, restarted by ``by`` and waiting for approval again."""
    rollout.refresh_from_db()
    if rollout.state != "aborted":
        rollouts.abort(rollout, reason="look again", now=NOW)
    rollouts.restart(rollout, user=by, now=NOW + timedelta(seconds=10))
    rollout.refresh_from_db()
    rollouts.skip_analysis(rollout, reason="approval tests: no telemetry")
    rollouts.analyse(rollout.pk, now=NOW + timedelta(seconds=11))
    rollout.refresh_from_db()
    assert rollout.state == "awaiting_approval"
    return rollout


def test_after_a_restart_earlier_approvals_no_longer_count(app, channel, bob, becky, alice, alex):
    channel.approvals_required = 2
    channel.save()
    rollout = waiting(channel, app, bob)
    approve(rollout, becky)
    rollout = restarted(rollout, by=alice)
    approve(rollout, alex)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.attempt) == ("awaiting_approval", 2)


def test_after_a_restart_an_earlier_rejecter_decides_again(rollout, becky, bob):
    binding = rollouts.approval_binding(rollout)
    rollouts.decide(rollout.pk, becky, decision="reject", reason="no", now=NOW, **binding)
    approve(restarted(rollout, by=bob), becky)
    rollout.refresh_from_db()
    assert (rollout.state, rollout.phase) == ("running", 1)


def test_the_person_who_restarts_cannot_approve_the_restarted_run(rollout, becky):
    rollout = restarted(rollout, by=becky)
    with pytest.raises(rollouts.RolloutError) as refused:
        approve(rollout, becky)
    assert refused.value.code == "self_approval"
